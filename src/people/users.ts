// Users of Kasa's pages: who they are, where they belong, their password and second factor.
// Created by an operator (or the CLI, or the demo) without a password: the answer carries a
// one-time link with which the person sets it, enrolling TOTP on the same page where their role
// requires it.
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { Clock } from '../clock.ts';
import { createdKeys, afterCursor, keyOf, page, type Page, type PageRequest } from '../db/cursor.ts';
import { mapConstraints } from '../db/constraints.ts';
import { inTransaction } from '../db/retry.ts';
import type { DB, MerchantRole, UserRole } from '../db/schema.ts';
import { errors } from '../errors.ts';
import { isUuid } from '../ids.ts';
import type { Audit, AuditActor } from './audit.ts';
import {
  hashPassword,
  newRecoveryCode,
  newToken,
  newTotpSecret,
  passwordProblem,
  RECOVERY_CODE_COUNT,
  recoveryCodeHash,
  tokenHash,
  totpStep,
  type SecretBox,
} from './secrets.ts';

/** How long a set-password link works. */
export const PASSWORD_LINK_TTL_MS = 24 * 60 * 60 * 1000;
export const EMAIL_LENGTH_MAX = 254;

export interface User {
  id: string;
  email: string;
  name: string;
  role: UserRole;
  merchant_id: string | null;
  merchant_role: MerchantRole | null;
  trader_id: string | null;
  status: 'active' | 'disabled';
  /** The user has set a password (their link was used). */
  has_password: boolean;
  totp_enabled: boolean;
  /** Whether sign-in asks for the 6-digit code. */
  totp_required: boolean;
  created_at: Date;
}

export interface NewUser {
  email: string;
  name?: string | undefined;
  role: UserRole;
  merchant_id?: string | undefined;
  trader_id?: string | undefined;
  merchant_role?: MerchantRole | undefined;
}

/** Operators and traders move money: TOTP is required of them, optional for merchants' staff. */
export function totpRequiredFor(role: UserRole): boolean {
  return role !== 'merchant';
}

export const USER_COLUMNS = [
  'id',
  'email',
  'name',
  'role',
  'merchant_id',
  'merchant_role',
  'trader_id',
  'status',
  'created_at',
  'password_hash',
  'totp_secret',
  'totp_exempt',
] as const;

/** A users row as USER_COLUMNS selects it. */
export type UserRecord = Pick<Selectable<DB['users']>, (typeof USER_COLUMNS)[number]>;

export function userOf(row: UserRecord): User {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    role: row.role,
    merchant_id: row.merchant_id,
    merchant_role: row.merchant_role,
    trader_id: row.trader_id,
    status: row.status,
    has_password: row.password_hash !== null,
    totp_enabled: row.totp_secret !== null,
    totp_required: row.totp_secret !== null || (totpRequiredFor(row.role) && !row.totp_exempt),
    created_at: row.created_at,
  };
}

/** A trimmed email with one @ and no spaces; its lowercase form is the identity. */
export function normalEmail(email: string): string | null {
  const trimmed = email.trim();
  if (trimmed.length < 3 || trimmed.length > EMAIL_LENGTH_MAX) return null;
  if (!/^[^\s@]+@[^\s@]+$/.test(trimmed)) return null;
  return trimmed;
}

export interface PasswordLink {
  user: User;
  expires_at: Date;
}

export type SetPasswordResult =
  | { ok: true; user: User; recoveryCodes: string[] }
  | { ok: false; problem: 'link_invalid' | 'too_short' | 'too_long' | 'common' | 'mismatch' | 'totp_invalid' };

export class Users {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly clock: Clock,
    private readonly box: SecretBox,
    private readonly audit: Audit,
  ) {}

  /**
   * Creates a user without a password and a link to set it; the audit row names who asked. A
   * merchant user needs merchant_id and merchant_role, a trader user trader_id, an operator neither.
   */
  async create(
    input: NewUser,
    by: { actor: AuditActor; ip: string | null },
    outer?: Transaction<DB>,
  ): Promise<{ user: User; linkToken: string; linkExpiresAt: Date }> {
    const email = normalEmail(input.email);
    if (!email) throw errors.userOwnerInvalid('email must be an address like name@example.com');
    const owner = ownerOf(input);
    const id = randomUUID();
    const now = this.clock.now();
    const linkToken = newToken();
    const linkExpiresAt = new Date(now.getTime() + PASSWORD_LINK_TTL_MS);
    return inTransaction(
      this.db,
      async (trx) => {
        if (owner.merchant_id) {
          const merchant = await trx.selectFrom('merchants').select('id').where('id', '=', owner.merchant_id).executeTakeFirst();
          if (!merchant) throw errors.merchantNotFound();
        }
        if (owner.trader_id) {
          const trader = await trx.selectFrom('traders').select('id').where('id', '=', owner.trader_id).executeTakeFirst();
          if (!trader) throw errors.traderNotFound();
        }
        // The unique index settles concurrent creates of one email; the lookup only gives the
        // clear error without aborting the transaction (PostgreSQL would, on the violation).
        const taken = await trx
          .selectFrom('users')
          .select('id')
          .where(sql`lower(email)`, '=', email.toLowerCase())
          .executeTakeFirst();
        if (taken) throw errors.userEmailTaken();
        const row = await trx
          .insertInto('users')
          .values({ id, email, name: input.name?.trim() || email.split('@')[0]!, role: input.role, ...owner, created_at: now, updated_at: now })
          .returning(USER_COLUMNS)
          .executeTakeFirstOrThrow()
          .catch(mapConstraints({ users_email_unique: errors.userEmailTaken }));
        await trx
          .insertInto('password_links')
          .values({ token_hash: tokenHash(linkToken), user_id: id, created_at: now, expires_at: linkExpiresAt })
          .execute();
        const user = userOf(row);
        await this.audit.record(trx, {
          ...by,
          action: 'user.create',
          target: `user:${id}`,
          merchantId: user.merchant_id,
          after: { email, role: user.role, merchant_id: user.merchant_id, merchant_role: user.merchant_role, trader_id: user.trader_id },
        });
        return { user, linkToken, linkExpiresAt };
      },
      outer,
    );
  }

  /**
   * The demo's users: created with a known password and, for the demo only, no TOTP. Returns
   * null when the email is taken (the demo ran before).
   */
  async createForDemo(input: NewUser & { password: string }): Promise<User | null> {
    const now = this.clock.now();
    const email = normalEmail(input.email)!;
    const passwordHash = await hashPassword(input.password);
    return inTransaction(this.db, async (trx) => {
      const taken = await trx
        .selectFrom('users')
        .select('id')
        .where(sql`lower(email)`, '=', email.toLowerCase())
        .executeTakeFirst();
      if (taken) return null;
      const row = await trx
        .insertInto('users')
        .values({
          id: randomUUID(),
          email,
          name: input.name ?? email,
          role: input.role,
          ...ownerOf(input),
          password_hash: passwordHash,
          totp_exempt: true,
          created_at: now,
          updated_at: now,
        })
        .returning(USER_COLUMNS)
        .executeTakeFirstOrThrow();
      await this.audit.record(trx, {
        actor: { kind: 'system' },
        ip: null,
        action: 'user.create',
        target: `user:${row.id}`,
        merchantId: row.merchant_id,
        after: { email, role: row.role, demo: true },
      });
      return userOf(row);
    });
  }

  async get(id: string): Promise<User> {
    if (!isUuid(id)) throw errors.userNotFound();
    const row = await this.db.selectFrom('users').select(USER_COLUMNS).where('id', '=', id).executeTakeFirst();
    if (!row) throw errors.userNotFound();
    return userOf(row);
  }

  /** In creation order; `merchantId` lists one merchant's users. */
  async list(scope: { merchantId?: string | undefined; traderId?: string | undefined }, request: PageRequest): Promise<Page<User>> {
    const keys = createdKeys('users');
    let query = this.db
      .selectFrom('users')
      .select(USER_COLUMNS)
      .orderBy(keyOf(keys), 'asc')
      .orderBy('id', 'asc')
      .limit(request.limit + 1);
    if (scope.merchantId !== undefined) query = query.where('merchant_id', '=', scope.merchantId);
    if (scope.traderId !== undefined) query = query.where('trader_id', '=', scope.traderId);
    if (request.cursor) query = query.where(afterCursor(keys, request.cursor));
    const rows = await query.execute();
    return page(rows.map(userOf), request.limit, (u) => ({ at: u.created_at, id: u.id }));
  }

  /** The user a still-valid, unused set-password link is for; null for any other token. */
  async passwordLink(token: string): Promise<PasswordLink | null> {
    const row = await this.db
      .selectFrom('password_links as l')
      .innerJoin('users as u', 'u.id', 'l.user_id')
      .select(USER_COLUMNS.map((c) => `u.${c}` as const))
      .select('l.expires_at')
      .where('l.token_hash', '=', tokenHash(token))
      .where('l.used_at', 'is', null)
      .where('l.expires_at', '>', this.clock.now())
      .where('u.status', '=', 'active')
      .executeTakeFirst();
    return row ? { user: userOf(row), expires_at: row.expires_at } : null;
  }

  /** A fresh TOTP secret for the set-password page to show; nothing is stored until its code is given. */
  newTotpSecret(): string {
    return newTotpSecret();
  }

  /**
   * Uses a set-password link once: sets the password and, when the role requires it (or the
   * person chose it), enrolls the TOTP secret the page showed, proven by a current code. Every
   * session of the user ends: whoever held the old password is signed out.
   */
  async setPassword(input: {
    token: string;
    password: string;
    confirmation: string;
    totpSecret?: string | undefined;
    totpCode?: string | undefined;
    ip: string;
  }): Promise<SetPasswordResult> {
    const link = await this.passwordLink(input.token);
    if (!link) return { ok: false, problem: 'link_invalid' };
    if (input.password !== input.confirmation) return { ok: false, problem: 'mismatch' };
    const problem = passwordProblem(input.password, link.user.email);
    if (problem) return { ok: false, problem: problem as 'too_short' | 'too_long' | 'common' };
    const now = this.clock.now();
    const enrolling = totpRequiredFor(link.user.role) || Boolean(input.totpCode);
    let step: number | null = null;
    if (enrolling) {
      step = input.totpSecret && input.totpCode ? totpStep(input.totpSecret, input.totpCode.trim(), now) : null;
      if (step === null) return { ok: false, problem: 'totp_invalid' };
    }
    const passwordHash = await hashPassword(input.password);
    const codes = enrolling ? Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode) : [];
    const done = await inTransaction(this.db, async (trx) => {
      // The link is taken in the same statement that checks it is still unused: two submits of
      // one link set the password once.
      const used = await trx
        .updateTable('password_links')
        .set({ used_at: now })
        .where('token_hash', '=', tokenHash(input.token))
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .returning('user_id')
        .executeTakeFirst();
      if (!used) return false;
      await trx
        .updateTable('users')
        .set({
          password_hash: passwordHash,
          updated_at: now,
          ...(enrolling ? { totp_secret: this.box.seal(input.totpSecret!), totp_last_step: BigInt(step!) } : {}),
        })
        .where('id', '=', used.user_id)
        .execute();
      if (enrolling) {
        await trx.deleteFrom('user_recovery_codes').where('user_id', '=', used.user_id).execute();
        await trx
          .insertInto('user_recovery_codes')
          .values(codes.map((c) => ({ user_id: used.user_id, code_hash: recoveryCodeHash(c) })))
          .execute();
      }
      await trx.deleteFrom('sessions').where('user_id', '=', used.user_id).execute();
      await this.audit.record(trx, {
        actor: { kind: 'user', id: link.user.id, email: link.user.email },
        ip: input.ip,
        action: 'user.set_password',
        target: `user:${link.user.id}`,
        merchantId: link.user.merchant_id,
        after: { totp_enabled: enrolling || link.user.totp_enabled },
      });
      return true;
    });
    if (!done) return { ok: false, problem: 'link_invalid' };
    return {
      ok: true,
      user: { ...link.user, has_password: true, totp_enabled: enrolling || link.user.totp_enabled, totp_required: enrolling || link.user.totp_required },
      recoveryCodes: codes,
    };
  }

  /** A new set-password link for a user (an operator's reset); earlier unused links stop working. */
  async newPasswordLink(userId: string, by: { actor: AuditActor; ip: string | null }): Promise<{ linkToken: string; linkExpiresAt: Date }> {
    const user = await this.get(userId);
    const now = this.clock.now();
    const linkToken = newToken();
    const linkExpiresAt = new Date(now.getTime() + PASSWORD_LINK_TTL_MS);
    await inTransaction(this.db, async (trx) => {
      await trx.updateTable('password_links').set({ used_at: now }).where('user_id', '=', userId).where('used_at', 'is', null).execute();
      await trx
        .insertInto('password_links')
        .values({ token_hash: tokenHash(linkToken), user_id: userId, created_at: now, expires_at: linkExpiresAt })
        .execute();
      await this.audit.record(trx, { ...by, action: 'user.password_link', target: `user:${userId}`, merchantId: user.merchant_id });
    });
    return { linkToken, linkExpiresAt };
  }

  /**
   * A merchant owner changes the role of one of their merchant's users. Another merchant's user
   * is not found; a removed one cannot be changed; the last active owner cannot be demoted, so a
   * merchant always keeps someone who manages its people. The merchant's owners are locked
   * first, so two owners demoting each other at once leave one of them an owner.
   */
  async changeMerchantRole(
    merchantId: string,
    userId: string,
    role: MerchantRole,
    by: { actor: AuditActor; ip: string | null },
  ): Promise<{ user: User; changed: boolean }> {
    if (!isUuid(userId) || !isUuid(merchantId)) throw errors.userNotFound();
    return inTransaction(this.db, async (trx) => {
      const { target, activeOwners } = await this.lockMerchantUser(trx, merchantId, userId);
      if (target.status !== 'active') throw errors.userDisabled();
      if (target.merchant_role === role) return { user: userOf(target), changed: false };
      if (target.merchant_role === 'owner' && activeOwners <= 1) throw errors.lastOwner();
      const row = await trx
        .updateTable('users')
        .set({ merchant_role: role, updated_at: this.clock.now() })
        .where('id', '=', userId)
        .returning(USER_COLUMNS)
        .executeTakeFirstOrThrow();
      await this.audit.record(trx, {
        ...by,
        action: 'user.role',
        target: `user:${userId}`,
        merchantId,
        before: { merchant_role: target.merchant_role },
        after: { merchant_role: role },
      });
      return { user: userOf(row), changed: true };
    });
  }

  /**
   * A merchant owner removes one of their merchant's users: the account is disabled (its audit
   * rows keep naming it) and every session of it ends at once. Refused for the last active
   * owner, for another merchant's user (not found) and for a user removed already.
   */
  async removeMerchantUser(merchantId: string, userId: string, by: { actor: AuditActor; ip: string | null }): Promise<User> {
    if (!isUuid(userId) || !isUuid(merchantId)) throw errors.userNotFound();
    return inTransaction(this.db, async (trx) => {
      const { target, activeOwners } = await this.lockMerchantUser(trx, merchantId, userId);
      if (target.status !== 'active') throw errors.userDisabled();
      if (target.merchant_role === 'owner' && activeOwners <= 1) throw errors.lastOwner();
      const row = await trx
        .updateTable('users')
        .set({ status: 'disabled', updated_at: this.clock.now() })
        .where('id', '=', userId)
        .returning(USER_COLUMNS)
        .executeTakeFirstOrThrow();
      await trx.deleteFrom('sessions').where('user_id', '=', userId).execute();
      await trx.updateTable('password_links').set({ used_at: this.clock.now() }).where('user_id', '=', userId).where('used_at', 'is', null).execute();
      await this.audit.record(trx, {
        ...by,
        action: 'user.remove',
        target: `user:${userId}`,
        merchantId,
        before: { status: target.status, merchant_role: target.merchant_role },
        after: { status: 'disabled' },
      });
      return userOf(row);
    });
  }

  /**
   * A signed-in user without TOTP turns it on (merchants' staff, for whom it is optional): the
   * secret the page showed, proven by a current code, is stored sealed with fresh recovery codes.
   * The user's row is locked, so two submits enroll once; a user who has TOTP already is refused.
   */
  async enableTotp(
    userId: string,
    input: { totpSecret: string; totpCode: string },
    by: { actor: AuditActor; ip: string | null },
  ): Promise<{ ok: true; recoveryCodes: string[] } | { ok: false; problem: 'totp_invalid' | 'totp_enabled' }> {
    if (!isUuid(userId)) throw errors.userNotFound();
    const now = this.clock.now();
    const step = /^[A-Z2-7]{16,64}$/.test(input.totpSecret) ? totpStep(input.totpSecret, input.totpCode.trim(), now) : null;
    if (step === null) return { ok: false, problem: 'totp_invalid' };
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    return inTransaction(this.db, async (trx) => {
      const user = await trx.selectFrom('users').select(USER_COLUMNS).where('id', '=', userId).forUpdate().executeTakeFirst();
      if (!user || user.status !== 'active') throw errors.userNotFound();
      if (user.totp_secret !== null) return { ok: false, problem: 'totp_enabled' } as const;
      await trx
        .updateTable('users')
        .set({ totp_secret: this.box.seal(input.totpSecret), totp_last_step: BigInt(step), updated_at: now })
        .where('id', '=', userId)
        .execute();
      await trx.deleteFrom('user_recovery_codes').where('user_id', '=', userId).execute();
      await trx
        .insertInto('user_recovery_codes')
        .values(codes.map((c) => ({ user_id: userId, code_hash: recoveryCodeHash(c) })))
        .execute();
      await this.audit.record(trx, {
        ...by,
        action: 'user.two_factor',
        target: `user:${userId}`,
        merchantId: user.merchant_id,
        before: { two_factor: 'off' },
        after: { two_factor: 'on' },
      });
      return { ok: true, recoveryCodes: codes } as const;
    });
  }

  /**
   * Locks the merchant's active owners and the target user, in id order so that two changes take
   * them in one order and never deadlock, and counts the owners. A change that waited re-reads
   * the rows it waited for: an owner demoted meanwhile is no longer counted.
   */
  private async lockMerchantUser(trx: Transaction<DB>, merchantId: string, userId: string): Promise<{ target: UserRecord; activeOwners: number }> {
    const rows = await trx
      .selectFrom('users')
      .select(USER_COLUMNS)
      .where('merchant_id', '=', merchantId)
      .where('role', '=', 'merchant')
      .where((eb) => eb.or([eb('id', '=', userId), eb.and([eb('merchant_role', '=', 'owner'), eb('status', '=', 'active')])]))
      .orderBy('id')
      .forUpdate()
      .execute();
    const target = rows.find((r) => r.id === userId);
    if (!target) throw errors.userNotFound();
    return { target, activeOwners: rows.filter((r) => r.merchant_role === 'owner' && r.status === 'active').length };
  }
}

function ownerOf(input: NewUser): { merchant_id: string | null; merchant_role: MerchantRole | null; trader_id: string | null } {
  switch (input.role) {
    case 'operator':
      if (input.merchant_id || input.trader_id || input.merchant_role) throw errors.userOwnerInvalid('An operator belongs to no merchant or trader');
      return { merchant_id: null, merchant_role: null, trader_id: null };
    case 'merchant':
      if (!input.merchant_id || !input.merchant_role)
        throw errors.userOwnerInvalid('A merchant user needs merchant_id and merchant_role (owner, developer or viewer)');
      if (input.trader_id) throw errors.userOwnerInvalid('A merchant user belongs to no trader');
      if (!isUuid(input.merchant_id)) throw errors.merchantNotFound();
      return { merchant_id: input.merchant_id, merchant_role: input.merchant_role, trader_id: null };
    case 'trader':
      if (!input.trader_id) throw errors.userOwnerInvalid('A trader user needs trader_id');
      if (input.merchant_id || input.merchant_role) throw errors.userOwnerInvalid('A trader user belongs to no merchant');
      if (!isUuid(input.trader_id)) throw errors.traderNotFound();
      return { merchant_id: null, merchant_role: null, trader_id: input.trader_id };
  }
}
