// What every page of the operator console shares: its navigation, the guard, tables with a
// cursor pager, reading form fields into checked values (bad input is a clear 400 page), and
// the transaction a change and its audit row share.
import type { FastifyRequest } from 'fastify';
import { KasaError } from '../../errors.ts';
import { textResponse } from '../../http/schemas.ts';
import { isUuid } from '../../ids.ts';
import { parseDecimal, placesOf, wholeDigitsOf } from '../../money.ts';
import { formText } from '../forms.ts';
import { html, type Html, type NavLink } from '../layout.ts';
import type { CabinetKit } from '../plugin.ts';
import { OPERATOR_STRINGS, type OperatorStrings } from './strings.ts';

/** Rows of one page of a console table. */
export const CONSOLE_PAGE_ROWS = 25;
export const CURSOR_CHARS_MAX = 200;
export const NAME_CHARS_MAX = 200;

export function consoleNav(s: OperatorStrings): NavLink[] {
  return [
    { href: '/admin', label: s.navHome },
    { href: '/admin/merchants', label: s.navMerchants },
    { href: '/admin/traders', label: s.navTraders },
    { href: '/admin/deals', label: s.navDeals },
    { href: '/admin/rates', label: s.navRates },
    { href: '/admin/settings', label: s.navSettings },
    { href: '/admin/webhooks', label: s.navWebhooks },
    { href: '/admin/audit', label: s.navAudit },
  ];
}

export function operatorStrings(kit: CabinetKit, request: FastifyRequest): OperatorStrings {
  return OPERATOR_STRINGS[kit.lang(request)];
}

/** The documentation of a console page (GET): its pages are in the API reference, under cabinets. */
export function pageSchema<P extends object>(operationId: string, summary: string, params?: P) {
  return {
    summary,
    operationId,
    tags: ['cabinets'],
    security: [] as [],
    ...withParams(params),
    response: {
      200: textResponse('text/html', 'The page'),
      303: { description: 'Not signed in: to /login' },
      403: textResponse('text/html', 'Not an operator'),
    },
  };
}

/** A console form (POST): not an API operation, so hidden from the reference. */
export function formSchema<P extends object>(operationId: string, summary: string, params?: P) {
  return { hide: true, summary, operationId, tags: ['cabinets'], security: [] as [], ...withParams(params) };
}

/** The params schema of a route that has path parameters; none at all otherwise (Fastify warns of an empty one). */
function withParams<P extends object>(params: P | undefined): { params: P } {
  return (params ? { params } : {}) as { params: P };
}

/** A 400 page with the reason, for a form that cannot be what it claims. */
export function formInvalid(text: string): KasaError {
  return new KasaError(400, 'FORM_INVALID', text);
}

/** The query's cursor of a paged table (undefined for the first page); `name` tells two tables of one page apart. */
export function cursorOf(request: FastifyRequest, name = 'cursor'): string | undefined {
  return formText(request.query, name, CURSOR_CHARS_MAX) || undefined;
}

/** An optional id filter of the query: absent, or a uuid (anything else is a 400). */
export function idFilter(request: FastifyRequest, name: string, s: OperatorStrings): string | undefined {
  const value = formText(request.query, name, 64).trim();
  if (!value) return undefined;
  if (!isUuid(value)) throw formInvalid(s.badFilter);
  return value.toLowerCase();
}

/** The links to the first and the next page of the table at `path`: its filters with the cursor replaced. */
export function pager(
  path: string,
  s: OperatorStrings,
  query: Record<string, string | undefined>,
  next: string | null,
  isFirst: boolean,
  name = 'cursor',
): Html {
  const link = (cursor: string | null) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v) params.set(k, v);
    if (cursor) params.set(name, cursor);
    const text = params.toString();
    return path + (text ? `?${text}` : '');
  };
  if (!next && isFirst) return html``;
  return html`<p class="pager">${isFirst ? null : html`<a href="${link(null)}">${s.first}</a> `}${next ? html`<a href="${link(next)}" rel="next">${s.next}</a>` : null}</p>`;
}

/** A table that scrolls sideways on a phone rather than overflow the page. */
export function table(s: OperatorStrings, head: string[], rows: Html[], numeric: ReadonlySet<number> = new Set()): Html {
  if (!rows.length) return html`<p class="lead">${s.empty}</p>`;
  return html`<div class="table-wrap"><table><thead><tr>${head.map((h, i) => html`<th scope="col"${numeric.has(i) ? html` class="num"` : null}>${h}</th>`)}</tr></thead><tbody>${rows}</tbody></table></div>`;
}

/** A label-value grid of figures. */
export function figures(items: [string, string | Html][]): Html {
  return html`<dl class="balances">${items.map(([k, v]) => html`<div><dt>${k}</dt><dd>${v}</dd></div>`)}</dl>`;
}

export function shortTime(at: Date | null | undefined): string {
  return at ? at.toISOString().slice(0, 16).replace('T', ' ') : '—';
}

/** A decimal text with at most `places` decimals and `wholeDigits` digits before the point, within (min, max); null otherwise. */
export function decimalField(
  body: unknown,
  name: string,
  o: { places: number; wholeDigits: number; positive?: boolean; belowHundred?: boolean },
): string | null {
  const text = formText(body, name, 40).trim().replace(',', '.');
  if (!/^\d+(\.\d+)?$/.test(text)) return null;
  const d = parseDecimal(text);
  if (!d || placesOf(d) > o.places || wholeDigitsOf(d) > o.wholeDigits) return null;
  if (o.positive && d.digits === '') return null;
  if (o.belowHundred && wholeDigitsOf(d) > 2) return null;
  return text;
}

/** A whole number within [min, max]; null otherwise. */
export function integerField(body: unknown, name: string, min: number, max: number): number | null {
  const text = formText(body, name, 12).trim();
  if (!/^\d{1,9}$/.test(text)) return null;
  const n = Number(text);
  return n >= min && n <= max ? n : null;
}

export { changeWithAudit, type Recorder } from '../audited.ts';
