// Signing in: the password, then the 6-digit code (or a recovery code) where TOTP is on, each
// step counted against the account and the client address before it is checked. The count is
// one upsert that returns the new totals, so 50 parallel wrong passwords on any number of
// instances are counted exactly and only the first ACCOUNT_FAILURES_MAX are even checked. An
// unknown email is counted, hashed against a decoy and refused like a known one: no answer, and
// no timing, tells which emails have an account.
import { sql, type Kysely } from 'kysely';
import type { Clock } from '../clock.ts';
import { inTransaction } from '../db/retry.ts';
import type { DB } from '../db/schema.ts';
import type { Audit } from './audit.ts';
import { decoyPasswordHash, PASSWORD_LENGTH_MAX, recoveryCodeHash, totpStep, verifyPassword, type SecretBox } from './secrets.ts';
import type { Sessions } from './sessions.ts';
import { EMAIL_LENGTH_MAX, USER_COLUMNS, userOf, type User } from './users.ts';

/** Failed steps per account within the window before it waits. */
export const ACCOUNT_FAILURES_MAX = 5;
/** Failed steps per client address within the window (a shared office NAT signs in often). */
export const IP_FAILURES_MAX = 30;
export const SIGN_IN_WINDOW_MS = 15 * 60_000;
const IP_TEXT_LENGTH_MAX = 64;

export type SignInResult =
  | { kind: 'signed_in'; token: string; user: User }
  | { kind: 'code_required'; token: string }
  | { kind: 'refused' }
  | { kind: 'locked'; retryAfterSeconds: number };

export type CodeResult = SignInResult | { kind: 'expired' };

export class SignIn {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly clock: Clock,
    private readonly sessions: Sessions,
    private readonly box: SecretBox,
    private readonly audit: Audit,
  ) {}

  async withPassword(input: { email: string; password: string; ip: string }): Promise<SignInResult> {
    const account = input.email.trim().toLowerCase().slice(0, EMAIL_LENGTH_MAX);
    const ip = input.ip.slice(0, IP_TEXT_LENGTH_MAX);
    const locked = await this.take(account, ip);
    if (locked) return locked;
    const row = await this.db
      .selectFrom('users')
      .select(USER_COLUMNS)
      .where(sql`lower(email)`, '=', account)
      .executeTakeFirst();
    const usable = row && row.status === 'active' && row.password_hash !== null;
    const password = input.password.slice(0, PASSWORD_LENGTH_MAX + 1);
    const matches = await verifyPassword(usable ? row.password_hash! : await decoyPasswordHash(), password);
    if (!usable || !matches) return { kind: 'refused' };
    const user = userOf(row);
    await this.forgiveIp(ip);
    if (user.totp_enabled) return { kind: 'code_required', token: await this.sessions.start(this.db, user, 'totp', ip) };
    return { kind: 'signed_in', token: await this.finish(user, null, ip), user };
  }

  /** The second step: `pendingToken` is the session the password step started. */
  async withCode(input: { pendingToken: string; code: string; ip: string }): Promise<CodeResult> {
    const pending = await this.sessions.authenticate(input.pendingToken, { touch: false });
    if (!pending || pending.stage !== 'totp') return { kind: 'expired' };
    const user = pending.user;
    const ip = input.ip.slice(0, IP_TEXT_LENGTH_MAX);
    const locked = await this.take(user.email.toLowerCase(), ip);
    if (locked) {
      await this.sessions.end(input.pendingToken);
      return locked;
    }
    const code = input.code.trim().slice(0, 32);
    if (!(await this.acceptCode(user, code))) return { kind: 'refused' };
    await this.forgiveIp(ip);
    return { kind: 'signed_in', token: await this.finish(user, pending.tokenHash, ip), user };
  }

  /** A TOTP code of a step later than the last one accepted, or an unused recovery code; each works once. */
  private async acceptCode(user: User, code: string): Promise<boolean> {
    const now = this.clock.now();
    if (/^\d{6}$/.test(code)) {
      const row = await this.db.selectFrom('users').select('totp_secret').where('id', '=', user.id).executeTakeFirst();
      if (!row?.totp_secret) return false;
      const step = totpStep(this.box.open(row.totp_secret), code, now);
      if (step === null) return false;
      // Taken in one statement: two requests with one code accept it once.
      const taken = await this.db
        .updateTable('users')
        .set({ totp_last_step: BigInt(step) })
        .where('id', '=', user.id)
        .where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', BigInt(step))]))
        .executeTakeFirst();
      return taken.numUpdatedRows === 1n;
    }
    const used = await this.db
      .updateTable('user_recovery_codes')
      .set({ used_at: now })
      .where('user_id', '=', user.id)
      .where('code_hash', '=', recoveryCodeHash(code))
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return used.numUpdatedRows === 1n;
  }

  /** The full session, in a transaction that also ends the pending one and clears the account's count. */
  private finish(user: User, pendingHash: Buffer | null, ip: string): Promise<string> {
    return inTransaction(this.db, async (trx) => {
      if (pendingHash) await trx.deleteFrom('sessions').where('token_hash', '=', pendingHash).execute();
      await trx.deleteFrom('sign_in_attempts').where('scope', '=', 'account').where('subject', '=', user.email.toLowerCase()).execute();
      const token = await this.sessions.start(trx, user, 'full', ip);
      await this.audit.record(trx, {
        actor: { kind: 'user', id: user.id, email: user.email },
        ip,
        action: 'session.sign_in',
        target: `user:${user.id}`,
        merchantId: user.merchant_id,
      });
      return token;
    });
  }

  /**
   * Counts one step against the account and the address, starting a new window when the old
   * one has passed, and answers `locked` when either is over its limit.
   */
  private async take(account: string, ip: string): Promise<SignInResult | null> {
    const now = this.clock.now();
    const windowStartMin = new Date(now.getTime() - SIGN_IN_WINDOW_MS);
    const rows = await sql<{ scope: 'account' | 'ip'; failures: number; window_start: Date }>`
      INSERT INTO sign_in_attempts AS a (scope, subject, window_start, failures)
      VALUES ('account', ${account}, ${now}, 1), ('ip', ${ip}, ${now}, 1)
      ON CONFLICT (scope, subject) DO UPDATE SET
        failures = CASE WHEN a.window_start <= ${windowStartMin} THEN 1 ELSE a.failures + 1 END,
        window_start = CASE WHEN a.window_start <= ${windowStartMin} THEN ${now} ELSE a.window_start END
      RETURNING scope, failures, window_start`.execute(this.db);
    let waitMs = 0;
    for (const row of rows.rows) {
      const max = row.scope === 'account' ? ACCOUNT_FAILURES_MAX : IP_FAILURES_MAX;
      if (row.failures > max) waitMs = Math.max(waitMs, new Date(row.window_start).getTime() + SIGN_IN_WINDOW_MS - now.getTime());
    }
    return waitMs > 0 ? { kind: 'locked', retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) } : null;
  }

  /** A step that succeeded was no failure of the address (people behind one NAT sign in all day). */
  private async forgiveIp(ip: string): Promise<void> {
    await this.db
      .updateTable('sign_in_attempts')
      .set((eb) => ({ failures: sql<number>`greatest(${eb.ref('failures')} - 1, 0)` }))
      .where('scope', '=', 'ip')
      .where('subject', '=', ip)
      .execute();
  }

  /** Drops counters whose window has passed. */
  async purgeStale(): Promise<number> {
    const result = await this.db
      .deleteFrom('sign_in_attempts')
      .where('window_start', '<=', new Date(this.clock.now().getTime() - SIGN_IN_WINDOW_MS))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
