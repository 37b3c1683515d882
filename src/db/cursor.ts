// Keyset cursors for lists ordered newest first by (a timestamp, id): a page starts after the
// last row of the previous one, so rows inserted meanwhile never shift or repeat a page. The
// cursor is opaque to clients. Timestamps compare at millisecond precision (what a JS Date
// holds), so a column PostgreSQL filled with microseconds is ordered by its truncation too.
import { sql, type RawBuilder } from 'kysely';
import { errors } from '../errors.ts';
import { isUuid } from '../ids.ts';

export interface Keyset {
  createdAt: Date;
  id: string;
}

export function encodeCursor(last: Keyset): string {
  return Buffer.from(`k${last.createdAt.getTime()}.${last.id}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): Keyset {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const match = /^k(\d{1,15})\.(.+)$/.exec(text);
  if (!match || !isUuid(match[2]!)) throw errors.invalidCursor();
  return { createdAt: new Date(Number(match[1])), id: match[2]! };
}

/** The order key of `alias.column`: the timestamp at millisecond precision. */
export function keyOf(alias: string, column = 'created_at'): RawBuilder<Date> {
  return sql<Date>`date_trunc('milliseconds', ${sql.ref(`${alias}.${column}`)})`;
}

/** Rows strictly after the cursor in (key DESC, id DESC) order. */
export function afterCursor(alias: string, cursor: Keyset, column = 'created_at'): RawBuilder<boolean> {
  return sql<boolean>`((${keyOf(alias, column)}, ${sql.ref(`${alias}.id`)}) < (${cursor.createdAt}::timestamptz, ${cursor.id}::uuid))`;
}

/** One row more than the page tells whether another page exists, without a count. */
export function page<T extends { id: string }>(rows: T[], limit: number, keyOfRow: (row: T) => Date): { items: T[]; next_cursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, next_cursor: rows.length > limit && last ? encodeCursor({ createdAt: keyOfRow(last), id: last.id }) : null };
}

export interface PageRequest {
  limit: number;
  cursor?: string | undefined;
}
