// What every page of the merchant cabinet shares: the services it reads, who may do what, the
// navigation, reading query strings and forms, dates, paging links, and the route schemas.
import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { isoSeconds } from '../../clock.ts';
import type { DB, MerchantRole } from '../../db/schema.ts';
import type { Deals } from '../../deals/service.ts';
import { errors } from '../../errors.ts';
import { textResponse } from '../../http/schemas.ts';
import type { Invoices } from '../../invoices/service.ts';
import type { Statements } from '../../ledger/statements.ts';
import type { Merchants } from '../../merchants/service.ts';
import type { User, Users } from '../../people/users.ts';
import type { Webhooks } from '../../webhooks/service.ts';
import { html, type Html, type NavLink } from '../layout.ts';
import type { CabinetKit } from '../plugin.ts';
import { MERCHANT_STRINGS, type MerchantStrings } from './strings.ts';

export interface MerchantCabinetOptions {
  /** Opens the transaction a change and its audit row share. */
  db: Kysely<DB>;
  invoices: Invoices;
  deals: Deals;
  statements: Statements;
  webhooks: Webhooks;
  merchants: Merchants;
  users: Users;
  webhookAllowPrivate: boolean;
}

/** Who may do what: everyone of the merchant sees; developers manage keys and webhooks; owners everything. */
export const EVERYONE: readonly MerchantRole[] = ['owner', 'developer', 'viewer'];
export const DEVELOPERS: readonly MerchantRole[] = ['owner', 'developer'];
export const OWNERS: readonly MerchantRole[] = ['owner'];

/** Rows of one table page. */
export const TABLE_PAGE_ROWS = 50;
/** The longest text a filter field takes (external_id and customer_id are at most 255 by the API). */
export const FILTER_CHARS_MAX = 255;
const CURSOR_CHARS_MAX = 200;

export const TAGS = ['cabinets'];
export const SECURITY: [] = [];
export const htmlPage = (description: string) => textResponse('text/html', description);

export function stringsOf(kit: CabinetKit, request: FastifyRequest): MerchantStrings {
  return MERCHANT_STRINGS[kit.lang(request)];
}

export function merchantIdOf(user: User): string {
  if (!user.merchant_id) throw new Error('a merchant user without merchant_id');
  return user.merchant_id;
}

export function can(user: User, roles: readonly MerchantRole[]): boolean {
  return user.merchant_role !== null && roles.includes(user.merchant_role);
}

/** The cabinet's sections; users and the audit log are an owner's only. */
export function merchantNav(s: MerchantStrings, user: User): NavLink[] {
  return [
    { href: '/merchant', label: s.navInvoices },
    { href: '/merchant/balance', label: s.navBalance },
    { href: '/merchant/keys', label: s.navKeys },
    { href: '/merchant/webhooks', label: s.navWebhooks },
    ...(can(user, OWNERS)
      ? [
          { href: '/merchant/users', label: s.navUsers },
          { href: '/merchant/audit', label: s.navAudit },
        ]
      : []),
    { href: '/merchant/two-factor', label: s.navTwoFactor },
  ];
}

/** A query string's field: trimmed text of at most `maxChars`, undefined when empty or absent. */
export function queryText(request: FastifyRequest, name: string, maxChars: number): string | undefined {
  const value = (request.query as Record<string, unknown> | undefined)?.[name];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || value.length > maxChars) throw errors.formInvalid(`${name} is not valid`);
  return value.trim() || undefined;
}

export function cursorOf(request: FastifyRequest): string | undefined {
  return queryText(request, 'cursor', CURSOR_CHARS_MAX);
}

/** A calendar day (YYYY-MM-DD) as the UTC midnight it starts with; `dayAfter` the one it ends with. */
export function dayOf(request: FastifyRequest, name: string, dayAfter = false): Date | undefined {
  const text = queryText(request, name, 10);
  if (text === undefined) return undefined;
  const at = /^\d{4}-\d{2}-\d{2}$/.test(text) ? Date.parse(`${text}T00:00:00Z`) : NaN;
  if (Number.isNaN(at) || new Date(at).toISOString().slice(0, 10) !== text) throw errors.formInvalid(`${name} must be a date like 2026-02-25`);
  return new Date(at + (dayAfter ? 86_400_000 : 0));
}

/** A moment as people read it: 2026-02-25 12:00:05 UTC. */
export function when(at: Date | string | null): string {
  if (at === null) return '—';
  return `${(typeof at === 'string' ? at : isoSeconds(at)).replace('T', ' ').replace('Z', '')} UTC`;
}

/** The "Next page" link of a table (keeping its filters), and the way back to the first page. */
export function pager(s: MerchantStrings, path: string, params: Record<string, string | undefined>, nextCursor: string | null, paged: boolean): Html | null {
  const kept = Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '');
  const link = (cursor: string | null) => {
    const query = new URLSearchParams([...kept, ...(cursor ? [['cursor', cursor] as [string, string]] : [])]).toString();
    return query ? `${path}?${query}` : path;
  };
  if (!nextCursor && !paged) return null;
  return html`<p class="pager">${paged ? html`<a href="${link(null)}">${s.first}</a> ` : null}${nextCursor ? html`<a href="${link(nextCursor)}" rel="next">${s.next}</a>` : null}</p>`;
}

/** The schema of a page (GET) of the cabinet. */
export function pageSchema<Extra extends object = object>(operationId: string, summary: string, extra?: Extra) {
  return {
    summary,
    operationId,
    tags: TAGS,
    security: SECURITY,
    response: {
      200: htmlPage('The page'),
      303: { description: 'Not signed in: to /login' },
      403: htmlPage('Not a user of this merchant with a role that may open it'),
    },
    ...(extra as Extra),
  };
}

/** The schema of a form the browser posts back: not an API operation, so hidden from the reference. */
export function formSchema<Extra extends object = object>(operationId: string, summary: string, extra?: Extra) {
  return {
    hide: true,
    summary,
    operationId,
    tags: TAGS,
    security: SECURITY,
    response: { 303: { description: 'Back to the page' }, 403: htmlPage('The role may not change this'), 404: htmlPage('Not found for this merchant') },
    ...(extra as Extra),
  };
}
