// The platform's pages of the console: currencies and their rates (a manual rate or an HTTP
// JSON feed, the invoice range, accept or not), the settings (the deals switch, which asks for a
// confirmation before it stops every new deal, and the limits), the webhook deliveries' numbers.
// Each change is recorded in the audit log in the transaction that makes it.
import type { FastifyRequest } from 'fastify';
import parseJsonPath from 'jsonpath-rfc9535/parser';
import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { KasaApp } from '../../http/validation.ts';
import { compareDecimal, microUsdt, parseDecimal } from '../../money.ts';
import { currencyView, settingsView, type Catalog, type CurrencyInput, type RateSourceInput, type SettingsPatch } from '../../rates/catalog.ts';
import type { Webhooks } from '../../webhooks/service.ts';
import { formFlag, formText } from '../forms.ts';
import { fill } from '../i18n.ts';
import { csrfField, html, notice, type Frame, type Html } from '../layout.ts';
import type { CabinetKit } from '../plugin.ts';
import {
  changeWithAudit,
  consoleNav,
  CONSOLE_PAGE_ROWS,
  cursorOf,
  decimalField,
  figures,
  formInvalid,
  formSchema,
  integerField,
  operatorStrings,
  pager,
  pageSchema,
  shortTime,
  table,
} from './common.ts';
import type { OperatorStrings } from './strings.ts';

const RATE_WHOLE_DIGITS_MAX = 12;
const FIAT_WHOLE_DIGITS_MAX = 12;
/** The bounds of the admin API's http_json rate source (src/rates/schema.ts). */
const SOURCE_URL_LENGTH_MAX = 2048;
const JSON_PATH_LENGTH_MAX = 256;
const SOURCE_SECONDS_MIN = 5;
const REFRESH_SECONDS_MAX = 86_400;
const MAX_AGE_SECONDS_MAX = 604_800;

type SettingName = keyof SettingsPatch & keyof ReturnType<typeof settingsView>;
type EditableSetting =
  | { name: SettingName; label: keyof OperatorStrings; kind: 'integer'; min: number; max: number }
  | { name: SettingName; label: keyof OperatorStrings; kind: 'decimal'; wholeDigits: number; max?: string };

/** The settings the console edits, with the admin API's bounds (src/rates/admin-routes.ts). */
const EDITABLE_SETTINGS: readonly EditableSetting[] = [
  { name: 'invoice_ttl_minutes', label: 'invoiceTtl', kind: 'integer', min: 1, max: 1440 },
  { name: 'customer_invoices_per_minute', label: 'customerPerMinute', kind: 'integer', min: 1, max: 100_000 },
  { name: 'customer_max_pending', label: 'customerPending', kind: 'integer', min: 1, max: 100_000 },
  { name: 'customer_unpaid_max', label: 'customerUnpaid', kind: 'integer', min: 1, max: 100_000 },
  { name: 'trader_min_insurance_usdt', label: 'minInsurance', kind: 'decimal', wholeDigits: 12 },
  { name: 'withdrawal_min_usdt', label: 'withdrawalMin', kind: 'decimal', wholeDigits: 12 },
  { name: 'withdrawal_fee_usdt', label: 'withdrawalFee', kind: 'decimal', wholeDigits: 12 },
  { name: 'withdrawal_auto_approve_below_usdt', label: 'withdrawalAutoApprove', kind: 'decimal', wholeDigits: 12 },
  { name: 'amount_tolerance', label: 'amountTolerance', kind: 'decimal', wholeDigits: 16 },
  { name: 'overpayment_max_percent', label: 'overpaymentMax', kind: 'decimal', wholeDigits: 3, max: '100' },
  { name: 'late_confirm_minutes', label: 'lateConfirm', kind: 'integer', min: 0, max: 100_000 },
  { name: 'late_unpaid_confirm_minutes', label: 'lateUnpaidConfirm', kind: 'integer', min: 0, max: 100_000 },
  { name: 'trader_unconfirmed_max', label: 'traderUnconfirmedMax', kind: 'integer', min: 0, max: 100_000 },
  { name: 'dispute_window_hours', label: 'disputeWindow', kind: 'integer', min: 1, max: 10_000 },
  { name: 'dispute_trader_hours', label: 'disputeTrader', kind: 'integer', min: 1, max: 10_000 },
];

/** The form's value of one setting as the catalog takes it; null when out of its range. */
function settingValue(body: unknown, setting: EditableSetting): number | string | bigint | null {
  if (setting.kind === 'integer') return integerField(body, setting.name, setting.min, setting.max);
  const value = decimalField(body, setting.name, { places: 2, wholeDigits: setting.wholeDigits });
  if (value === null) return null;
  if (setting.max !== undefined && compareDecimal(parseDecimal(value)!, parseDecimal(setting.max)!) > 0) return null;
  // The catalog keeps the trader's minimum insurance in micro-USDT; the others as decimal text.
  return setting.name === 'trader_min_insurance_usdt' ? microUsdt(value) : value;
}

export function platformPages({ db, catalog, webhooks }: { db: Kysely<DB>; catalog: Catalog; webhooks: Webhooks }) {
  return async function platformSection(app: KasaApp, kit: CabinetKit) {
    const onlyOperators = kit.requireUser(['operator']);
    const change = changeWithAudit(db, kit);
    const post = (operationId: string, summary: string) => ({ schema: formSchema(operationId, summary), onRequest: onlyOperators, preHandler: kit.csrf });

    // ---------------------------------------------------------------------------------------
    // Currencies and rates

    function currencyForm(frame: Frame, s: OperatorStrings): Html {
      return html`<h2>${s.setCurrency}</h2><form method="post" action="/admin/rates" class="stack">${csrfField(frame)}
<label for="c-code">${s.code}</label><input id="c-code" name="code" required maxlength="3" pattern="[A-Za-z]{3}" autocapitalize="characters">
<label for="c-rate">${s.rate}</label><input id="c-rate" name="rate" inputmode="decimal" maxlength="20" aria-describedby="c-rate-hint">
<p class="hint" id="c-rate-hint">${s.rateHint}</p>
<label for="c-min">${s.minAmount}</label><input id="c-min" name="min_amount" inputmode="decimal" maxlength="20">
<label for="c-max">${s.maxAmount}</label><input id="c-max" name="max_amount" inputmode="decimal" maxlength="20">
<label><input type="checkbox" name="enabled" checked> ${s.enabled}</label>
<label><input type="checkbox" name="manual"> ${s.byHand}</label>
<button type="submit" class="primary">${s.saveCurrency}</button></form>`;
    }

    function feedForm(frame: Frame, s: OperatorStrings): Html {
      return html`<h2>${s.setFeed}</h2><form method="post" action="/admin/rates/feed" class="stack">${csrfField(frame)}
<label for="f-code">${s.code}</label><input id="f-code" name="code" required maxlength="3" pattern="[A-Za-z]{3}" autocapitalize="characters">
<label for="f-url">${s.feedUrl}</label><input id="f-url" name="url" type="url" required maxlength="${SOURCE_URL_LENGTH_MAX}">
<label for="f-path">${s.feedPath}</label><input id="f-path" name="json_path" required maxlength="${JSON_PATH_LENGTH_MAX}" value="$.price">
<label for="f-refresh">${s.refreshSeconds}</label><input id="f-refresh" name="refresh_seconds" inputmode="numeric" required value="60" maxlength="6">
<label for="f-age">${s.maxAgeSeconds}</label><input id="f-age" name="max_age_seconds" inputmode="numeric" required value="300" maxlength="6">
<label for="f-markup">${s.markupPercent}</label><input id="f-markup" name="markup_percent" inputmode="decimal" value="0.00" maxlength="6">
<label for="f-change">${s.maxChangePercent}</label><input id="f-change" name="max_change_percent" inputmode="decimal" required value="5.00" maxlength="7">
<label><input type="checkbox" name="enabled" checked> ${s.enabled}</label>
<button type="submit" class="primary">${s.saveFeed}</button></form>`;
    }

    /** The feed form as a rate source the catalog takes; null when a field is out of its bounds. */
    function feedOf(body: unknown): RateSourceInput | null {
      const url = formText(body, 'url', SOURCE_URL_LENGTH_MAX + 1).trim();
      const jsonPath = formText(body, 'json_path', JSON_PATH_LENGTH_MAX + 1).trim();
      const refresh = integerField(body, 'refresh_seconds', SOURCE_SECONDS_MIN, REFRESH_SECONDS_MAX);
      const maxAge = integerField(body, 'max_age_seconds', SOURCE_SECONDS_MIN, MAX_AGE_SECONDS_MAX);
      const markup = decimalField(body, 'markup_percent', { places: 2, wholeDigits: 2 });
      const maxChange = decimalField(body, 'max_change_percent', { places: 2, wholeDigits: 3, positive: true });
      if (!url || url.length > SOURCE_URL_LENGTH_MAX || !URL.canParse(url) || !['http:', 'https:'].includes(new URL(url).protocol)) return null;
      if (!jsonPath || jsonPath.length > JSON_PATH_LENGTH_MAX || !parses(jsonPath)) return null;
      if (refresh === null || maxAge === null || maxAge < refresh || markup === null || maxChange === null) return null;
      return {
        kind: 'http_json',
        url,
        json_path: jsonPath,
        refresh_seconds: refresh,
        max_age_seconds: maxAge,
        markup_percent: markup,
        max_change_percent: maxChange,
      };
    }

    function parses(jsonPath: string): boolean {
      try {
        parseJsonPath(jsonPath);
        return true;
      } catch {
        return false;
      }
    }

    app.get(
      '/admin/rates',
      { schema: pageSchema('getConsoleRates', 'The operator console: currencies and their rates (HTML)'), onRequest: onlyOperators },
      async (request, reply) => {
        const frame = kit.frame(request, reply);
        const s = operatorStrings(kit, request);
        const cursor = cursorOf(request);
        const listed = await catalog.listCurrencies({ limit: CONSOLE_PAGE_ROWS, cursor });
        const rows = listed.items.map((c) => {
          const v = currencyView(c);
          const source = v.rate_source.kind === 'manual' ? s.sourceManual : fill(s.sourceFeed, { url: c.source?.url ?? '' });
          return html`<tr><td><strong>${v.code}</strong></td><td>${v.enabled ? s.yes : s.no}</td><td class="num">${v.rate ?? '—'}</td><td class="hint">${source}</td><td class="num">${v.min_amount ?? '—'}</td><td class="num">${v.max_amount ?? '—'}</td><td>${shortTime(c.updatedAt)}</td></tr>`;
        });
        const done = formText(request.query, 'done', 16);
        return kit.sendPage(request, reply, {
          title: s.ratesTitle,
          nav: consoleNav(s),
          content: html`<h1>${s.ratesTitle}</h1>${notice('good', done === 'saved' ? s.currencySaved : null)}
${table(s, [s.currency, s.enabled, s.rate, s.source, s.minAmount, s.maxAmount, s.updated], rows, new Set([2, 4, 5]))}
${pager(frame.path, s, {}, listed.next_cursor, !cursor)}${currencyForm(frame, s)}${feedForm(frame, s)}`,
        });
      },
    );

    /** An optional decimal field: absent is undefined, present and malformed a 400 page. */
    function optionalDecimal(request: FastifyRequest, name: string, places: number, wholeDigits: number, problem: string): string | undefined {
      if (!formText(request.body, name, 40).trim()) return undefined;
      const value = decimalField(request.body, name, { places, wholeDigits, positive: true });
      if (value === null) throw formInvalid(problem);
      return value;
    }

    app.post(
      '/admin/rates',
      post('postConsoleCurrency', 'Create or change a currency (form: code, rate, min_amount, max_amount, enabled, manual)'),
      async (request, reply) => {
        const s = operatorStrings(kit, request);
        const input: CurrencyInput = {
          enabled: formFlag(request.body, 'enabled'),
          rate: optionalDecimal(request, 'rate', 6, RATE_WHOLE_DIGITS_MAX, s.badRate),
          min_amount: optionalDecimal(request, 'min_amount', 2, FIAT_WHOLE_DIGITS_MAX, s.badAmount),
          max_amount: optionalDecimal(request, 'max_amount', 2, FIAT_WHOLE_DIGITS_MAX, s.badAmount),
          rate_source: formFlag(request.body, 'manual') ? { kind: 'manual' } : undefined,
        };
        await saveCurrency(request, codeOf(request, s), input);
        return reply.redirect('/admin/rates?done=saved', 303);
      },
    );

    app.post(
      '/admin/rates/feed',
      post('postConsoleCurrencyFeed', "Take a currency's rate from an HTTP JSON feed (form: code, url, json_path, refresh_seconds, …)"),
      async (request, reply) => {
        const s = operatorStrings(kit, request);
        const code = codeOf(request, s);
        const source = feedOf(request.body);
        if (!source) throw formInvalid(s.badFeed);
        await saveCurrency(request, code, { enabled: formFlag(request.body, 'enabled'), rate_source: source });
        return reply.redirect('/admin/rates?done=saved', 303);
      },
    );

    function codeOf(request: FastifyRequest, s: OperatorStrings): string {
      const code = formText(request.body, 'code', 8).trim().toUpperCase();
      if (!/^[A-Z]{3}$/.test(code)) throw formInvalid(s.badCode);
      return code;
    }

    async function saveCurrency(request: FastifyRequest, code: string, input: CurrencyInput): Promise<void> {
      await change(request, async (trx, record) => {
        // The catalog's snapshot (at most a few seconds old; every put refreshes it) says what changed.
        const current = (await catalog.snapshot(trx)).currencies.get(code);
        const before = current ? fieldsOf(currencyView(current)) : null;
        const after = currencyView(await catalog.putCurrency(code, input, trx));
        await record(trx, { action: 'currency.put', target: `currency:${code}`, before, after: fieldsOf(after) });
      });
    }

    /** What the currency form changes, for the audit row. */
    function fieldsOf(v: ReturnType<typeof currencyView>) {
      return { enabled: v.enabled, rate: v.rate, min_amount: v.min_amount, max_amount: v.max_amount, rate_source: v.rate_source };
    }

    // ---------------------------------------------------------------------------------------
    // Settings

    function dealsSwitch(frame: Frame, s: OperatorStrings, on: boolean): Html {
      if (on) return html`${notice('good', s.dealsOn)}<p><a class="button danger" href="/admin/settings/stop-deals">${s.stopDeals}</a></p>`;
      return html`${notice('bad', s.dealsOff)}<form method="post" action="/admin/settings/deals" class="inline">${csrfField(frame)}<input type="hidden" name="deals_enabled" value="on"><button type="submit" class="primary">${s.startDeals}</button></form>`;
    }

    app.get(
      '/admin/settings',
      { schema: pageSchema('getConsoleSettings', 'The operator console: the platform settings and the deals switch (HTML)'), onRequest: onlyOperators },
      async (request, reply) => {
        const frame = kit.frame(request, reply);
        const s = operatorStrings(kit, request);
        const settings = await catalog.getSettings();
        const view = settingsView(settings);
        const done = formText(request.query, 'done', 16);
        const message = { stopped: s.dealsStopped, started: s.dealsStarted, saved: s.settingsSaved }[done] ?? null;
        return kit.sendPage(request, reply, {
          title: s.settingsTitle,
          nav: consoleNav(s),
          content: html`<h1>${s.settingsTitle}</h1>${notice('good', message)}
<h2>${s.dealsSwitch}</h2>${dealsSwitch(frame, s, settings.dealsEnabled)}
<h2>${s.limits}</h2>
<form method="post" action="/admin/settings" class="stack">${csrfField(frame)}
${EDITABLE_SETTINGS.map(
  (setting) =>
    html`<label for="${setting.name}">${s[setting.label]}</label><input id="${setting.name}" name="${setting.name}" inputmode="${setting.kind === 'integer' ? 'numeric' : 'decimal'}" value="${String(view[setting.name])}" required maxlength="20">`,
)}
<button type="submit" class="primary">${s.saveSettings}</button></form>
<h2>${s.allSettings}</h2>${table(
            s,
            ['', ''],
            Object.entries(view).map(([k, v]) => html`<tr><th scope="row"><code>${k}</code></th><td>${String(v)}</td></tr>`),
          )}`,
        });
      },
    );

    app.get(
      '/admin/settings/stop-deals',
      { schema: pageSchema('getConsoleStopDeals', 'The operator console: the confirmation before every new deal stops (HTML)'), onRequest: onlyOperators },
      async (request, reply) => {
        const frame = kit.frame(request, reply);
        const s = operatorStrings(kit, request);
        return kit.sendPage(request, reply, { title: s.stopDealsTitle, nav: consoleNav(s), content: stopDealsForm(frame, s, null) });
      },
    );

    function stopDealsForm(frame: Frame, s: OperatorStrings, problem: string | null): Html {
      return html`<h1>${s.stopDealsTitle}</h1>${notice('bad', problem)}<p class="lead">${s.stopDealsText}</p>
<form method="post" action="/admin/settings/deals" class="stack">${csrfField(frame)}<input type="hidden" name="deals_enabled" value="off">
<label><input type="checkbox" name="yes" required> ${s.stopDealsYes}</label>
<button type="submit" class="danger">${s.stopDeals}</button></form>
<p><a href="/admin/settings">${s.navSettings}</a></p>`;
    }

    app.post(
      '/admin/settings/deals',
      post('postConsoleDealsSwitch', 'Start or stop new deals (form: deals_enabled on|off; stopping needs yes)'),
      async (request, reply) => {
        const s = operatorStrings(kit, request);
        const wanted = formText(request.body, 'deals_enabled', 4);
        if (wanted !== 'on' && wanted !== 'off') throw formInvalid(s.badFilter);
        const enabled = wanted === 'on';
        // Stopping every merchant's new deals is never one stray click: it needs the ticked box.
        if (!enabled && !formFlag(request.body, 'yes')) {
          return kit.sendPage(
            request,
            reply,
            { title: s.stopDealsTitle, nav: consoleNav(s), content: stopDealsForm(kit.frame(request, reply), s, s.stopDealsNeedsYes) },
            400,
          );
        }
        await change(request, async (trx, record) => {
          const before = await catalog.getSettings(trx);
          if (before.dealsEnabled === enabled) return;
          await catalog.patchSettings({ deals_enabled: enabled }, trx);
          await record(trx, {
            action: 'settings.update',
            target: 'settings',
            before: { deals_enabled: before.dealsEnabled },
            after: { deals_enabled: enabled },
          });
        });
        return reply.redirect(`/admin/settings?done=${enabled ? 'started' : 'stopped'}`, 303);
      },
    );

    app.post(
      '/admin/settings',
      post('postConsoleSettings', 'Change the limits of invoices, customers, traders, withdrawals and payments that go wrong (form: the settings fields)'),
      async (request, reply) => {
        const s = operatorStrings(kit, request);
        const changes: Record<string, number | string | bigint> = {};
        for (const setting of EDITABLE_SETTINGS) {
          const value = settingValue(request.body, setting);
          if (value === null) throw formInvalid(fill(s.badSetting, { name: s[setting.label] }));
          changes[setting.name] = value;
        }
        await change(request, async (trx, record) => {
          const before = settingsView(await catalog.getSettings(trx));
          const after = settingsView(await catalog.patchSettings(changes as SettingsPatch, trx));
          const changed = EDITABLE_SETTINGS.map((setting) => setting.name).filter((k) => before[k] !== after[k]);
          if (!changed.length) return;
          await record(trx, {
            action: 'settings.update',
            target: 'settings',
            before: Object.fromEntries(changed.map((k) => [k, before[k]])),
            after: Object.fromEntries(changed.map((k) => [k, after[k]])),
          });
        });
        return reply.redirect('/admin/settings?done=saved', 303);
      },
    );

    // ---------------------------------------------------------------------------------------
    // Webhooks

    app.get(
      '/admin/webhooks',
      { schema: pageSchema('getConsoleWebhooks', 'The operator console: webhook deliveries by state (HTML)'), onRequest: onlyOperators },
      async (request, reply) => {
        const s = operatorStrings(kit, request);
        const stats = await webhooks.stats();
        const age = stats.oldest_pending_age_seconds;
        return kit.sendPage(request, reply, {
          title: s.webhooksTitle,
          nav: consoleNav(s),
          content: html`<h1>${s.webhooksTitle}</h1>${figures([
            [s.pending, String(stats.counts.pending ?? 0)],
            [s.delivered, String(stats.counts.delivered ?? 0)],
            [s.failed, String(stats.counts.failed ?? 0)],
            [s.oldestPending, age === null ? '—' : `${age} s`],
          ])}`,
        });
      },
    );
  };
}
