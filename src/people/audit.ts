// The audit log: who changed what, when, from where, with the changed fields before and after.
// Written in the transaction of the change it records, so a rolled-back change leaves no row and
// a committed one always has its row. Secrets never enter it: fields whose names say they hold
// one are replaced by a marker before the row is written.
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Clock } from '../clock.ts';
import { beforeSeq, seqPage, type Page, type PageRequest } from '../db/cursor.ts';
import type { DB } from '../db/schema.ts';

export type AuditActor =
  | { kind: 'user'; id: string; email: string }
  /** The admin API's bearer token (the CLI, scripts). */
  | { kind: 'admin_token' }
  | { kind: 'system' };

export interface AuditEntry {
  actor: AuditActor;
  ip: string | null;
  /** What was done, as `<thing>.<verb>`: `user.create`, `merchant.update`, `api_key.revoke`. */
  action: string;
  /** What it was done to, as `<thing>:<id>`. */
  target: string;
  /** The merchant the change concerns: its owners read the row. */
  merchantId?: string | null;
  before?: Record<string, unknown> | null;
  after?: Record<string, unknown> | null;
}

export interface AuditRow {
  id: bigint;
  at: Date;
  actor_kind: 'user' | 'admin_token' | 'system';
  actor_id: string | null;
  actor_email: string | null;
  ip: string | null;
  action: string;
  target: string;
  merchant_id: string | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

/** A field whose name matches holds a secret: its value is never written. */
const SECRET_FIELD = /password|secret|token|hash|totp|recovery|api_key|private|csrf|cookie/i;
export const REDACTED = '[redacted]';
/** Values longer than this are cut: the log records changes, not documents. */
const AUDIT_VALUE_CHARS_MAX = 2000;
const AUDIT_NESTING_MAX = 4;

function redact(value: unknown, depth = 0): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string') return value.length > AUDIT_VALUE_CHARS_MAX ? value.slice(0, AUDIT_VALUE_CHARS_MAX) + '…' : value;
  if (typeof value !== 'object') return value;
  if (depth >= AUDIT_NESTING_MAX || Buffer.isBuffer(value)) return REDACTED;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_FIELD.test(k) ? REDACTED : redact(v, depth + 1)]));
}

function fields(value: Record<string, unknown> | null | undefined): string | null {
  return value ? JSON.stringify(redact(value)) : null;
}

export class Audit {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly clock: Clock,
  ) {}

  /** Records one change in the caller's transaction (the one making the change). */
  async record(trx: Transaction<DB>, entry: AuditEntry): Promise<void> {
    const actor = entry.actor;
    await trx
      .insertInto('audit_log')
      .values({
        at: this.clock.now(),
        actor_kind: actor.kind,
        actor_id: actor.kind === 'user' ? actor.id : null,
        actor_email: actor.kind === 'user' ? actor.email : null,
        ip: entry.ip,
        action: entry.action,
        target: entry.target,
        merchant_id: entry.merchantId ?? null,
        before: fields(entry.before),
        after: fields(entry.after),
      })
      .execute();
  }

  /**
   * Newest first; `merchantId` limits the list to one merchant's rows (a merchant owner's view),
   * `actorEmail` to one person's changes (the operator console's filter).
   */
  async list(
    scope: { merchantId?: string | undefined; action?: string | undefined; actorEmail?: string | undefined },
    request: PageRequest,
  ): Promise<Page<AuditRow>> {
    let query = this.db
      .selectFrom('audit_log')
      .selectAll()
      .orderBy('id', 'desc')
      .limit(request.limit + 1);
    if (scope.merchantId !== undefined) query = query.where('merchant_id', '=', scope.merchantId);
    if (scope.action !== undefined) query = query.where('action', '=', scope.action);
    if (scope.actorEmail !== undefined) query = query.where(sql`lower(actor_email)`, '=', scope.actorEmail.toLowerCase());
    if (request.cursor) query = query.where(beforeSeq('id', request.cursor));
    const rows = (await query.execute()) as AuditRow[];
    return seqPage(
      rows.map((r) => ({ ...r, before: parsed(r.before), after: parsed(r.after) })),
      request.limit,
      (r) => r.id,
    );
  }
}

// PGlite hands jsonb back parsed, pg too; a string would be a driver without the json parser.
function parsed(value: unknown): Record<string, unknown> | null {
  if (value === null || value === undefined) return null;
  return (typeof value === 'string' ? JSON.parse(value) : value) as Record<string, unknown>;
}
