// Sessions of Kasa's pages, kept in the database so any instance serves any browser and a
// sign-out ends a session everywhere at once. The cookie holds a random token; the table holds
// its SHA-256. A session ends after its role's idle time without a request that counts as use,
// and after its absolute lifetime whatever the use.
import type { Kysely, Transaction } from 'kysely';
import type { Clock } from '../clock.ts';
import type { DB, UserRole } from '../db/schema.ts';
import { newToken, tokenHash } from './secrets.ts';
import { USER_COLUMNS, userOf, type User } from './users.ts';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
/** Operators and traders move money: a phone left on a table signs out soon. */
export const SESSION_IDLE_MS: Record<UserRole, number> = { operator: 30 * MINUTE_MS, trader: 30 * MINUTE_MS, merchant: 12 * HOUR_MS };
const SESSION_LIFETIME_MS: Record<UserRole, number> = { operator: 12 * HOUR_MS, trader: 12 * HOUR_MS, merchant: 7 * 24 * HOUR_MS };
/** Between the password and the code: long enough to open the authenticator app. */
export const TOTP_STAGE_MS = 5 * MINUTE_MS;
/** last_seen_at is written at most this often: a page's every asset need not write a row. */
const TOUCH_INTERVAL_MS = MINUTE_MS;

export type SessionStage = 'totp' | 'full';

export interface Session {
  tokenHash: Buffer;
  stage: SessionStage;
  user: User;
}

export class Sessions {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly clock: Clock,
  ) {}

  /** A new session with a new token: signing in never reuses the token a browser brought. */
  async start(trx: Transaction<DB> | Kysely<DB>, user: Pick<User, 'id' | 'role'>, stage: SessionStage, ip: string): Promise<string> {
    const token = newToken();
    const now = this.clock.now();
    const lifetime = stage === 'totp' ? TOTP_STAGE_MS : SESSION_LIFETIME_MS[user.role];
    await trx
      .insertInto('sessions')
      .values({ token_hash: tokenHash(token), user_id: user.id, stage, ip, created_at: now, last_seen_at: now, expires_at: new Date(now.getTime() + lifetime) })
      .execute();
    return token;
  }

  /**
   * The live session of a token, or null. `touch`: the request counts as use and extends the
   * idle time; a page's background polling does not, so an unattended screen still signs out.
   */
  async authenticate(token: string, { touch }: { touch: boolean }): Promise<Session | null> {
    const now = this.clock.now();
    const row = await this.db
      .selectFrom('sessions as s')
      .innerJoin('users as u', 'u.id', 's.user_id')
      .select(['s.token_hash', 's.stage', 's.last_seen_at', 's.expires_at'])
      .select(USER_COLUMNS.map((c) => `u.${c}` as const))
      .where('s.token_hash', '=', tokenHash(token))
      .where('s.expires_at', '>', now)
      .executeTakeFirst();
    if (!row || row.status !== 'active') return null;
    const idle = row.stage === 'totp' ? TOTP_STAGE_MS : SESSION_IDLE_MS[row.role];
    if (now.getTime() - row.last_seen_at.getTime() >= idle) {
      await this.db.deleteFrom('sessions').where('token_hash', '=', row.token_hash).execute();
      return null;
    }
    if (touch && now.getTime() - row.last_seen_at.getTime() >= TOUCH_INTERVAL_MS) {
      await this.db.updateTable('sessions').set({ last_seen_at: now }).where('token_hash', '=', row.token_hash).execute();
    }
    return { tokenHash: row.token_hash, stage: row.stage, user: userOf(row) };
  }

  async end(token: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('token_hash', '=', tokenHash(token)).execute();
  }

  /** Signs a user out of every browser; returns how many sessions ended. */
  async endAll(userId: string, trx?: Transaction<DB>): Promise<number> {
    const result = await (trx ?? this.db).deleteFrom('sessions').where('user_id', '=', userId).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** Drops sessions past their lifetime (they are refused anyway; this keeps the table small). */
  async purgeExpired(): Promise<number> {
    const result = await this.db.deleteFrom('sessions').where('expires_at', '<=', this.clock.now()).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
