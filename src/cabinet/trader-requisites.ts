// The trader's cards ("requisites"): the list with each card's turnover today against its daily
// limit, a form to add one, a form to change one, and a button to switch one off or on. The
// trader sees their own card numbers in full; another trader's card is not found. Input is
// checked by the very models of the trader API (src/traders/schema.ts), so the cabinet takes
// exactly what POST/PATCH /api/v1/trader/requisites take; a refused form comes back with its
// values and what to fix, and nothing is written.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { KasaError } from '../errors.ts';
import { textResponse } from '../http/schemas.ts';
import { model, optional, string, type KasaApp, type Model } from '../http/validation.ts';
import { formatFiat } from '../money.ts';
import { groupCard } from '../traders/card.ts';
import type { NewRequisite, RequisitePatch, RequisiteRow, Traders } from '../traders/service.ts';
import { formFlag, formText, LANG_QUERY } from './forms.ts';
import { fill } from './i18n.ts';
import { csrfField, html, notice, type Frame, type Html } from './layout.ts';
import type { CabinetKit } from './plugin.ts';
import { traderNav } from './trader-nav.ts';

/** Cards on one page of the list; a trader has a handful. */
const REQUISITES_PAGE_SIZE = 20;
const CURSOR_CHARS_MAX = 200;
/**
 * Longer than any valid value of a field (names have at most 100 characters), so a too-long
 * value is refused by the model rather than cut to a valid one.
 */
const FIELD_CHARS_MAX = 101;

const FIELDS = ['currency', 'bank_name', 'card_number', 'holder_name', 'min_amount', 'max_amount', 'daily_limit', 'max_open_deals'] as const;
type FieldName = (typeof FIELDS)[number];
type FormValues = Partial<Record<FieldName, string>> & { active: boolean };

const en = {
  title: 'Cards',
  intro: 'The cards customers pay to. A card that is switched off gets no new deals; its open deals stay.',
  empty: 'No cards yet.',
  add: 'Add a card',
  addTitle: 'New card',
  editTitle: 'Change the card',
  edit: 'Change',
  save: 'Save the card',
  create: 'Add the card',
  cancel: 'Back to the cards',
  switchOff: 'Switch off',
  switchOn: 'Switch on',
  on: 'On',
  off: 'Off',
  today: 'Today: {turnover} of {limit} {currency}',
  todayNoLimit: 'Today: {turnover} {currency}, no daily limit',
  limits: 'Per payment: {min} – {max} {currency}',
  limitsFrom: 'Per payment: from {min} {currency}',
  limitsUpTo: 'Per payment: up to {max} {currency}',
  limitsAny: 'Any amount per payment',
  openDeals: 'Up to {n} open deals at a time',
  next: 'Next page',
  created: 'The card is added.',
  saved: 'The card is saved.',
  switchedOn: 'The card is switched on.',
  switchedOff: 'The card is switched off.',
  fix: 'The card is not saved. Check the fields marked below.',
  rangeInvalid: 'The smallest payment must not be greater than the largest.',
  currencyInvalid: 'Kasa does not take this currency. Use one the operator has enabled, e.g. UAH.',
  activeLabel: 'Switched on: gets new deals',
  activeInvalid: 'Say whether to switch the card on or off.',
  optionalHint: 'Leave empty for no limit.',
  label: {
    currency: 'Currency',
    bank_name: 'Bank',
    card_number: 'Card number',
    holder_name: 'Holder’s name',
    min_amount: 'Smallest payment',
    max_amount: 'Largest payment',
    daily_limit: 'Daily limit',
    max_open_deals: 'Open deals at a time',
  },
  problem: {
    currency: 'Three capital letters, e.g. UAH.',
    bank_name: 'From 1 to 100 characters.',
    card_number: 'From 12 to 19 digits that pass the card check (Luhn); spaces are fine.',
    holder_name: 'From 1 to 100 characters.',
    min_amount: 'An amount above zero with at most 2 decimals, e.g. 100.00.',
    max_amount: 'An amount above zero with at most 2 decimals, e.g. 20000.00.',
    daily_limit: 'An amount above zero with at most 2 decimals, e.g. 150000.00.',
    max_open_deals: 'A whole number from 1 to 1000.',
  },
} as const;

type Strings = {
  readonly [K in keyof typeof en]: (typeof en)[K] extends string ? string : { readonly [F in FieldName]: string };
};

const uk: Strings = {
  title: 'Картки',
  intro: 'Картки, на які платять клієнти. Вимкнена картка не отримує нових угод; її відкриті угоди лишаються.',
  empty: 'Карток ще немає.',
  add: 'Додати картку',
  addTitle: 'Нова картка',
  editTitle: 'Змінити картку',
  edit: 'Змінити',
  save: 'Зберегти картку',
  create: 'Додати картку',
  cancel: 'До карток',
  switchOff: 'Вимкнути',
  switchOn: 'Увімкнути',
  on: 'Увімкнена',
  off: 'Вимкнена',
  today: 'Сьогодні: {turnover} з {limit} {currency}',
  todayNoLimit: 'Сьогодні: {turnover} {currency}, без денного ліміту',
  limits: 'За платіж: {min} – {max} {currency}',
  limitsFrom: 'За платіж: від {min} {currency}',
  limitsUpTo: 'За платіж: до {max} {currency}',
  limitsAny: 'Будь-яка сума за платіж',
  openDeals: 'До {n} відкритих угод одночасно',
  next: 'Наступна сторінка',
  created: 'Картку додано.',
  saved: 'Картку збережено.',
  switchedOn: 'Картку увімкнено.',
  switchedOff: 'Картку вимкнено.',
  fix: 'Картку не збережено. Перевірте позначені нижче поля.',
  rangeInvalid: 'Найменший платіж не може бути більшим за найбільший.',
  currencyInvalid: 'Kasa не приймає цю валюту. Вкажіть увімкнену оператором, напр. UAH.',
  activeLabel: 'Увімкнена: отримує нові угоди',
  activeInvalid: 'Вкажіть, увімкнути картку чи вимкнути.',
  optionalHint: 'Залиште порожнім, щоб не обмежувати.',
  label: {
    currency: 'Валюта',
    bank_name: 'Банк',
    card_number: 'Номер картки',
    holder_name: 'Ім’я власника',
    min_amount: 'Найменший платіж',
    max_amount: 'Найбільший платіж',
    daily_limit: 'Денний ліміт',
    max_open_deals: 'Відкритих угод одночасно',
  },
  problem: {
    currency: 'Три великі літери, напр. UAH.',
    bank_name: 'Від 1 до 100 символів.',
    card_number: 'Від 12 до 19 цифр, що проходять перевірку картки (Luhn); пробіли можна.',
    holder_name: 'Від 1 до 100 символів.',
    min_amount: 'Сума більша за нуль, не більше 2 знаків після крапки, напр. 100.00.',
    max_amount: 'Сума більша за нуль, не більше 2 знаків після крапки, напр. 20000.00.',
    daily_limit: 'Сума більша за нуль, не більше 2 знаків після крапки, напр. 150000.00.',
    max_open_deals: 'Ціле число від 1 до 1000.',
  },
};

const STRINGS: Record<Frame['lang'], Strings> = { en, uk };

const DONE = { created: 'created', saved: 'saved', on: 'switchedOn', off: 'switchedOff' } as const;

/** What a refused form shows: the fields to fix, or one message for the whole card. */
interface Refusal {
  fields: ReadonlySet<string>;
  message: string | null;
}

function valuesOf(body: unknown): FormValues {
  const values: FormValues = { active: formFlag(body, 'active') };
  for (const name of FIELDS) values[name] = formText(body, name, FIELD_CHARS_MAX).trim();
  return values;
}

function valuesOfRow(r: RequisiteRow): FormValues {
  return {
    currency: r.currency,
    bank_name: r.bank_name,
    card_number: groupCard(r.card_number),
    holder_name: r.holder_name,
    min_amount: r.min_amount === null ? '' : formatFiat(r.min_amount),
    max_amount: r.max_amount === null ? '' : formatFiat(r.max_amount),
    daily_limit: r.daily_limit === null ? '' : formatFiat(r.daily_limit),
    max_open_deals: String(r.max_open_deals),
    active: r.active,
  };
}

/** A form's values as the API's JSON body: an empty optional field is absent (new) or cleared (change). */
function asNewRequisite(v: FormValues): Record<string, unknown> {
  const body: Record<string, unknown> = { active: v.active };
  for (const name of FIELDS) if (v[name]) body[name] = v[name];
  return body;
}

function asPatch(v: FormValues): Record<string, unknown> {
  return {
    bank_name: v.bank_name,
    card_number: v.card_number,
    holder_name: v.holder_name,
    min_amount: v.min_amount || null,
    max_amount: v.max_amount || null,
    daily_limit: v.daily_limit || null,
    ...(v.max_open_deals ? { max_open_deals: v.max_open_deals } : {}),
    active: v.active,
  };
}

/** The model's verdict on a form: the value, or the fields it refused. */
function check<T>(m: Model<T>, body: Record<string, unknown>): { ok: true; value: T } | { ok: false; refusal: Refusal } {
  const result = m.validate(body, 'body');
  if (result.ok) return { ok: true, value: result.value };
  return { ok: false, refusal: { fields: new Set(result.issues.map((i) => String(i.loc[1] ?? ''))), message: null } };
}

/** The domain's refusals a trader can fix in the form; anything else is not the form's to show. */
function domainRefusal(error: unknown, s: Strings): Refusal | null {
  if (!(error instanceof KasaError)) return null;
  if (error.code === 'REQUISITE_RANGE_INVALID') return { fields: new Set(['min_amount', 'max_amount']), message: s.rangeInvalid };
  if (error.code === 'CURRENCY_INVALID') return { fields: new Set(['currency']), message: s.currencyInvalid };
  return null;
}

/** The trader API's request models of a new card and of a change, handed over by the composition root. */
export interface RequisiteModels {
  create: Model<NewRequisite>;
  patch: Model<RequisitePatch>;
}

export async function traderRequisiteRoutes(app: KasaApp, kit: CabinetKit, { traders, models }: { traders: Traders; models: RequisiteModels }) {
  const onlyTraders = kit.requireUser(['trader']);
  const page = (d: string) => textResponse('text/html', d);
  const tags = ['cabinets'];
  const security: [] = [];
  const listQuery = model({
    lang: LANG_QUERY,
    cursor: optional(string({ max: CURSOR_CHARS_MAX, description: 'The next page of cards' })),
    done: optional(string({ max: 16, description: 'What the last form did (the notice to show)' })),
  });
  const editQuery = model({ id: optional(string({ max: 64, description: 'The card to change' })), lang: LANG_QUERY });
  const requisiteParams = model({ requisite_id: string({ max: 64 }) });

  function cardItem(frame: Frame, r: RequisiteRow, turnover: string): Html {
    const s = STRINGS[frame.lang];
    const today = r.daily_limit
      ? fill(s.today, { turnover: formatFiat(turnover), limit: formatFiat(r.daily_limit), currency: r.currency })
      : fill(s.todayNoLimit, { turnover: formatFiat(turnover), currency: r.currency });
    const min = r.min_amount === null ? '' : formatFiat(r.min_amount);
    const max = r.max_amount === null ? '' : formatFiat(r.max_amount);
    const range = fill(min && max ? s.limits : min ? s.limitsFrom : max ? s.limitsUpTo : s.limitsAny, { min, max, currency: r.currency });
    return html`<li class="card${r.active ? '' : ' off'}" data-requisite="${r.id}">
<p><span class="badge">${r.active ? s.on : s.off}</span></p>
<p class="card-number">${groupCard(r.card_number)}</p>
<p class="meta">${r.bank_name} · ${r.holder_name} · ${r.currency}</p>
<p class="meta turnover">${today}</p>
${r.daily_limit ? html`<meter min="0" max="${r.daily_limit}" value="${turnover}" aria-label="${today}"></meter>` : null}
<p class="meta">${range}</p>
<p class="meta">${fill(s.openDeals, { n: r.max_open_deals })}</p>
<div class="actions">
<a class="button secondary" href="/trader/requisites/edit?id=${r.id}">${s.edit}</a>
<form method="post" action="/trader/requisites/${r.id}/active">${csrfField(frame)}<input type="hidden" name="active" value="${r.active ? 'off' : 'on'}"><button type="submit" class="${r.active ? 'danger' : 'primary'}">${r.active ? s.switchOff : s.switchOn}</button></form>
</div>
</li>`;
  }

  function requisiteForm(frame: Frame, v: FormValues, target: { action: string; isNew: boolean }, refusal: Refusal | null): Html {
    const s = STRINGS[frame.lang];
    const field = (name: FieldName, attrs: { inputmode?: string; autocomplete?: string; optional?: boolean }) => {
      const bad = refusal?.fields.has(name) ?? false;
      const describedBy = [bad ? `${name}-problem` : '', attrs.optional ? `${name}-hint` : ''].filter(Boolean).join(' ');
      return html`<label for="${name}">${s.label[name]}</label>
${attrs.optional ? html`<p class="hint" id="${name}-hint">${s.optionalHint}</p>` : null}
${bad ? html`<p class="problem" id="${name}-problem">${s.problem[name]}</p>` : null}
<input id="${name}" name="${name}" value="${v[name] ?? ''}" maxlength="${FIELD_CHARS_MAX}"${attrs.inputmode ? html` inputmode="${attrs.inputmode}"` : null}${attrs.autocomplete ? html` autocomplete="${attrs.autocomplete}"` : null}${attrs.optional ? null : html` required`}${bad ? html` aria-invalid="true"` : null}${describedBy ? html` aria-describedby="${describedBy}"` : null}>`;
    };
    return html`${refusal ? notice('bad', refusal.message ?? s.fix) : null}
<form method="post" action="${target.action}" class="stack" novalidate>
${csrfField(frame)}
${target.isNew ? field('currency', { autocomplete: 'off' }) : null}
${field('bank_name', { autocomplete: 'off' })}
${field('card_number', { inputmode: 'numeric', autocomplete: 'off' })}
${field('holder_name', { autocomplete: 'off' })}
${field('min_amount', { inputmode: 'decimal', optional: true })}
${field('max_amount', { inputmode: 'decimal', optional: true })}
${field('daily_limit', { inputmode: 'decimal', optional: true })}
${field('max_open_deals', { inputmode: 'numeric' })}
<label><input type="checkbox" name="active"${v.active ? html` checked` : null}> ${s.activeLabel}</label>
<button type="submit" class="primary">${target.isNew ? s.create : s.save}</button>
</form>
<p><a href="/trader/requisites">${s.cancel}</a></p>`;
  }

  function sendForm(request: FastifyRequest, reply: FastifyReply, v: FormValues, target: { action: string; isNew: boolean }, refusal: Refusal | null) {
    const frame = kit.frame(request, reply);
    const s = STRINGS[frame.lang];
    const title = target.isNew ? s.addTitle : s.editTitle;
    return kit.sendPage(
      request,
      reply,
      { title, nav: traderNav(frame.lang), content: html`<h1>${title}</h1>${requisiteForm(frame, v, target, refusal)}` },
      refusal ? (refusal.message ? 400 : 422) : 200,
    );
  }

  app.get(
    '/trader/requisites',
    {
      schema: {
        summary: "The trader's cards with today's turnover against each daily limit (HTML)",
        operationId: 'getTraderCabinetRequisites',
        tags,
        security,
        querystring: listQuery.schema,
        response: { 200: page('The cards'), 400: page('A malformed cursor'), 403: page('Not a trader') },
      },
      onRequest: onlyTraders,
    },
    async (request, reply) => {
      const traderId = kit.userOf(request).trader_id!;
      const frame = kit.frame(request, reply);
      const s = STRINGS[frame.lang];
      const listed = await traders.listRequisites(traderId, { limit: REQUISITES_PAGE_SIZE, cursor: request.query.cursor });
      const turnover = await traders.turnoverToday(
        traderId,
        listed.items.map((r) => r.id),
        kit.clock.now(),
      );
      const done = request.query.done;
      const message = done && done in DONE ? s[DONE[done as keyof typeof DONE]] : null;
      return kit.sendPage(request, reply, {
        title: s.title,
        nav: traderNav(frame.lang),
        content: html`<h1>${s.title}</h1>${notice('good', message)}
<p class="lead">${s.intro}</p>
<p><a class="button primary" href="/trader/requisites/new">${s.add}</a></p>
${listed.items.length ? html`<ul class="cards">${listed.items.map((r) => cardItem(frame, r, turnover.get(r.id) ?? '0'))}</ul>` : html`<p>${s.empty}</p>`}
${listed.next_cursor ? html`<p class="pager"><a href="/trader/requisites?cursor=${encodeURIComponent(listed.next_cursor)}">${s.next}</a></p>` : null}`,
      });
    },
  );

  app.get(
    '/trader/requisites/new',
    {
      schema: {
        summary: 'The form to add a card (HTML)',
        operationId: 'getTraderCabinetNewRequisite',
        tags,
        security,
        response: { 200: page('The form'), 403: page('Not a trader') },
      },
      onRequest: onlyTraders,
    },
    async (request, reply) =>
      sendForm(request, reply, { currency: 'UAH', max_open_deals: '1', active: true }, { action: '/trader/requisites', isNew: true }, null),
  );

  app.get(
    '/trader/requisites/edit',
    {
      schema: {
        summary: "The form to change one of the trader's cards (HTML)",
        operationId: 'getTraderCabinetEditRequisite',
        tags,
        security,
        querystring: editQuery.schema,
        response: { 200: page('The form'), 403: page('Not a trader'), 404: page('No such card of this trader') },
      },
      onRequest: onlyTraders,
    },
    async (request, reply) => {
      const row = await traders.getRequisite(kit.userOf(request).trader_id!, request.query.id ?? '');
      return sendForm(request, reply, valuesOfRow(row), { action: `/trader/requisites/${row.id}`, isNew: false }, null);
    },
  );

  const formResponses = {
    303: { description: 'Back to the cards' },
    400: page('The currency or the limits are refused'),
    404: page('No such card of this trader'),
    422: page('A field is invalid'),
  };
  const form = (operationId: string, summary: string) => ({
    schema: { hide: true, summary, operationId, tags, security, response: formResponses },
    onRequest: onlyTraders,
    preHandler: kit.csrf,
  });
  const cardForm = (operationId: string, summary: string) => ({
    schema: { hide: true, summary, operationId, tags, security, params: requisiteParams.schema, response: formResponses },
    onRequest: onlyTraders,
    preHandler: kit.csrf,
  });

  app.post('/trader/requisites', form('postTraderRequisite', 'Add a card (form: _csrf and the card’s fields)'), async (request, reply) => {
    const traderId = kit.userOf(request).trader_id!;
    const values = valuesOf(request.body);
    const target = { action: '/trader/requisites', isNew: true };
    const checked = check(models.create, asNewRequisite(values));
    if (!checked.ok) return sendForm(request, reply, values, target, checked.refusal);
    try {
      await traders.createRequisite(traderId, checked.value);
    } catch (error) {
      const refusal = domainRefusal(error, STRINGS[kit.lang(request)]);
      if (!refusal) throw error;
      return sendForm(request, reply, values, target, refusal);
    }
    return reply.redirect('/trader/requisites?done=created', 303);
  });

  app.post(
    '/trader/requisites/:requisite_id',
    cardForm('postTraderRequisiteChange', 'Change a card (form: _csrf and the card’s fields)'),
    async (request, reply) => {
      const traderId = kit.userOf(request).trader_id!;
      const { requisite_id } = request.params;
      // Another trader's card: not found before anything about the form is said.
      const current = await traders.getRequisite(traderId, requisite_id);
      const values = { ...valuesOf(request.body), currency: current.currency };
      const target = { action: `/trader/requisites/${current.id}`, isNew: false };
      const checked = check(models.patch, asPatch(values));
      if (!checked.ok) return sendForm(request, reply, values, target, checked.refusal);
      try {
        await traders.updateRequisite(traderId, current.id, checked.value);
      } catch (error) {
        const refusal = domainRefusal(error, STRINGS[kit.lang(request)]);
        if (!refusal) throw error;
        return sendForm(request, reply, values, target, refusal);
      }
      return reply.redirect('/trader/requisites?done=saved', 303);
    },
  );

  app.post(
    '/trader/requisites/:requisite_id/active',
    cardForm('postTraderRequisiteActive', 'Switch a card on or off (form: _csrf, active=on|off)'),
    async (request, reply) => {
      const traderId = kit.userOf(request).trader_id!;
      const { requisite_id } = request.params;
      const wanted = formText(request.body, 'active', 3);
      if (wanted !== 'on' && wanted !== 'off') {
        await traders.getRequisite(traderId, requisite_id);
        throw new KasaError(400, 'ACTIVE_INVALID', STRINGS[kit.lang(request)].activeInvalid);
      }
      await traders.updateRequisite(traderId, requisite_id, { active: wanted === 'on' });
      return reply.redirect(`/trader/requisites?done=${wanted}`, 303);
    },
  );
}
