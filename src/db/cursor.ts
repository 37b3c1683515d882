// Keyset cursors for lists: a page starts after the last row of the previous one, so rows
// inserted meanwhile never shift or repeat a page, and a deep page costs what the first does.
// The cursor is opaque to clients.
//
// Most lists are ordered by (a timestamp, a uuid): newest first (deals, deliveries), or oldest
// first where the list is a register kept in creation order (merchants, traders, cards, keys). A timestamp Kasa wrote from its clock
// has millisecond precision (a JS Date), so it compares as it is and its index serves the order;
// one PostgreSQL filled with now() has microseconds, so it is ordered and compared by its
// truncation to milliseconds (those lists are small: merchants, traders, cards, keys). Lists
// ordered by a text key (accounts, currencies) page by that key alone.
import { sql, type RawBuilder } from 'kysely';
import { errors } from '../errors.ts';
import { isUuid } from '../ids.ts';

export interface PageRequest {
  limit: number;
  cursor?: string | undefined;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** Which columns order a list: the timestamp, the uuid that breaks ties, and the direction. */
export interface KeyColumns {
  alias: string;
  at: string;
  id: string;
  /** The timestamp has microseconds (a database default): compare its millisecond truncation. */
  truncate: boolean;
  order: 'asc' | 'desc';
}

/** A register in the order its rows were created (created_at from now()). */
export const createdKeys = (alias: string): KeyColumns => ({ alias, at: 'created_at', id: 'id', truncate: true, order: 'asc' });

interface Keyset {
  at: Date;
  id: string;
}

function encode(last: Keyset): string {
  return Buffer.from(`k${last.at.getTime()}.${last.id}`, 'utf8').toString('base64url');
}

function decode(cursor: string): Keyset {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const match = /^k(\d{1,15})\.(.+)$/.exec(text);
  if (!match || !isUuid(match[2]!)) throw errors.invalidCursor();
  return { at: new Date(Number(match[1])), id: match[2]! };
}

/** The order key's timestamp: the list is ordered by it, then by the id, in keys.order. */
export function keyOf(keys: KeyColumns): RawBuilder<Date> {
  const column = sql.ref(`${keys.alias}.${keys.at}`);
  return keys.truncate ? sql<Date>`date_trunc('milliseconds', ${column})` : sql<Date>`${column}`;
}

/** Rows strictly after the cursor in the list's order. */
export function afterCursor(keys: KeyColumns, cursor: string): RawBuilder<boolean> {
  const last = decode(cursor);
  const after = sql.raw(keys.order === 'asc' ? '>' : '<');
  return sql<boolean>`((${keyOf(keys)}, ${sql.ref(`${keys.alias}.${keys.id}`)}) ${after} (${last.at}::timestamptz, ${last.id}::uuid))`;
}

/** The same page with each row mapped (to a domain object, or to its API view). */
export function mapPage<T, V>(listed: Page<T>, view: (row: T) => V): Page<V> {
  return { items: listed.items.map(view), next_cursor: listed.next_cursor };
}

/** Rows were read limit + 1: the extra one tells whether another page exists, without a count. */
export function page<T>(rows: T[], limit: number, keyOfRow: (row: T) => Keyset): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, next_cursor: rows.length > limit && last !== undefined ? encode(keyOfRow(last)) : null };
}

// Lists ordered by a text key, ascending.

export function afterTextKey(column: string, cursor: string): RawBuilder<boolean> {
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!key.startsWith('t') || key.length > 300) throw errors.invalidCursor();
  return sql<boolean>`(${sql.ref(column)} > ${key.slice(1)})`;
}

export function textKeyPage<T>(rows: T[], limit: number, keyOfRow: (row: T) => string): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, next_cursor: rows.length > limit && last !== undefined ? Buffer.from(`t${keyOfRow(last)}`, 'utf8').toString('base64url') : null };
}

// Lists ordered by a bigint sequence (the ledger's transfers, by id), newest first.

/** Rows before the cursor's id: the next page of a list ordered by `column` descending. */
export function beforeSeq(column: string, cursor: string): RawBuilder<boolean> {
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  const match = /^s(\d{1,19})$/.exec(key);
  if (!match) throw errors.invalidCursor();
  return sql<boolean>`(${sql.ref(column)} < ${match[1]}::bigint)`;
}

/** The cursor of a page read limit + 1 rows deep, keyed by each row's sequence number. */
export function seqPage<T>(rows: T[], limit: number, seqOf: (row: T) => bigint): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, next_cursor: rows.length > limit && last !== undefined ? Buffer.from(`s${seqOf(last)}`, 'utf8').toString('base64url') : null };
}
