// The cabinets' quality bar (issue #13 §5), checked on every page each person can reach: each
// role signs in, and every link of its cabinet is followed from the home page (the navigation,
// the tables' rows, the detail pages), in Ukrainian and in English. Each page must be served
// with the strict headers, declare its language, carry no inline script, style or handler,
// label every control, name every button, and weigh under 100 KB with its CSS and JS.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CabinetBrowser, injectTransport, signedInUser } from './helpers/cabinet.ts';
import { startKasa, type TestKasa } from './helpers/kasa.ts';
import { openDeal } from './helpers/ledger.ts';
import { addTrader } from './helpers/traders.ts';

const PASSWORD = 'quality-bar-password-2026';
const PAGE_WEIGHT_MAX_BYTES = 100 * 1024;
/** Each crawl stops after this many pages: the cabinets have fewer, with the data made below. */
const PAGES_MAX = 80;
const CONTROLS = /<(input|select|textarea)\b([^>]*)>/g;
const NOT_LABELLED = /type="(hidden|submit|button|reset|image)"/;

interface Problem {
  path: string;
  what: string;
}

/** Where each piece of a page starts and ends: the ranges of <label>…</label>. */
function labelRanges(html: string): [number, number][] {
  const ranges: [number, number][] = [];
  const open = /<label\b[^>]*>/g;
  for (let m = open.exec(html); m; m = open.exec(html)) {
    const end = html.indexOf('</label>', m.index);
    if (end > 0) ranges.push([m.index, end]);
  }
  return ranges;
}

/** Everything the quality bar says about one page's markup. */
function markupProblems(path: string, html: string, lang: string): Problem[] {
  const problems: Problem[] = [];
  const add = (what: string) => problems.push({ path, what });
  if (!html.includes(`<html lang="${lang}">`)) add(`no <html lang="${lang}">`);
  for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)) {
    if (!/\bsrc="\/cabinet\/assets\//.test(m[1]!) || m[2]!.trim()) add(`inline or foreign script: ${m[0].slice(0, 80)}`);
  }
  if (/<style\b/.test(html)) add('a <style> element');
  for (const tag of html.matchAll(/<[a-z]+\b[^>]*>/g)) {
    for (const m of tag[0].matchAll(/\s(style|on[a-z]+)=/g)) add(`inline ${m[1]} attribute: ${tag[0].slice(0, 80)}`);
  }
  const ranges = labelRanges(html);
  const labelledIds = new Set([...html.matchAll(/<label\b[^>]*\bfor="([^"]+)"/g)].map((m) => m[1]));
  for (const m of html.matchAll(CONTROLS)) {
    const attributes = m[2]!;
    if (m[1] === 'input' && NOT_LABELLED.test(attributes)) continue;
    const id = /\bid="([^"]+)"/.exec(attributes)?.[1];
    const inside = ranges.some(([from, to]) => m.index > from && m.index < to);
    if (!inside && !(id && labelledIds.has(id)) && !/\baria-label="[^"]+"/.test(attributes)) add(`unlabelled control: ${m[0].slice(0, 100)}`);
  }
  for (const m of html.matchAll(/<button\b[^>]*>([\s\S]*?)<\/button>/g)) {
    if (!m[1]!.replace(/<[^>]+>/g, '').trim()) add(`a button that says nothing: ${m[0].slice(0, 80)}`);
  }
  for (const m of html.matchAll(/<img\b[^>]*>/g)) if (!/\balt="/.test(m[0])) add(`an image without alt: ${m[0].slice(0, 80)}`);
  return problems;
}

test('the checks find what they look for', () => {
  const bad = `<html lang="en"><style>b{}</style><script>alert(1)</script><p style="color:red" onclick="x()">x</p>
<input name="a"><label>B <input name="b"></label><label for="c">C</label><input id="c" name="c"><select name="d"></select>
<input type="hidden" name="_csrf"><button type="submit"> </button><img src="/x.png">`;
  const found = markupProblems('/x', bad, 'en').map((p) => p.what.split(':')[0]);
  assert.deepEqual(found, [
    'inline or foreign script',
    'a <style> element',
    'inline style attribute',
    'inline onclick attribute',
    'unlabelled control',
    'unlabelled control',
    'a button that says nothing',
    'an image without alt',
  ]);
  assert.deepEqual(
    markupProblems('/x', '<html lang="uk">', 'en').map((p) => p.what),
    ['no <html lang="en">'],
  );
});

describe('the cabinets meet the quality bar on every page', () => {
  let t: TestKasa;
  let ip = 0;
  const browser = () => new CabinetBrowser(injectTransport(t.app, `10.9.0.${++ip}`));

  const signedIn = (body: Record<string, unknown>) => signedInUser(t, browser(), body, PASSWORD);

  /** Follows every link of the cabinet under `home`, in `lang`; the problems of every page. */
  async function crawl(b: CabinetBrowser, home: string, lang: 'uk' | 'en') {
    const assets = new Map<string, number>();
    const assetBytes = async (url: string) => {
      if (!assets.has(url)) assets.set(url, Buffer.byteLength((await t.inject({ method: 'GET', url })).rawPayload));
      return assets.get(url)!;
    };
    const seen = new Set<string>();
    const queue = [`${home}?lang=${lang}`];
    const problems: Problem[] = [];
    while (queue.length && seen.size < PAGES_MAX) {
      const url = queue.shift()!;
      if (seen.has(url)) continue;
      seen.add(url);
      const page = await b.get(url);
      if (page.status !== 200) {
        problems.push({ path: url, what: `status ${page.status}` });
        continue;
      }
      const type = String(page.headers['content-type'] ?? '');
      if (!type.startsWith('text/html')) continue;
      const csp = String(page.headers['content-security-policy'] ?? '');
      if (!csp.includes("frame-ancestors 'none'") || csp.includes('unsafe-inline') || !csp.includes("script-src 'self'")) {
        problems.push({ path: url, what: `content-security-policy: ${csp}` });
      }
      if (page.headers['cache-control'] !== 'no-store') problems.push({ path: url, what: `cache-control: ${page.headers['cache-control']}` });
      if (page.headers['x-content-type-options'] !== 'nosniff') problems.push({ path: url, what: 'no x-content-type-options: nosniff' });
      problems.push(...markupProblems(url, page.body, lang));
      let bytes = Buffer.byteLength(page.body);
      for (const m of page.body.matchAll(/(?:href|src)="(\/cabinet\/assets\/[^"]+)"/g)) bytes += await assetBytes(m[1]!.replaceAll('&amp;', '&'));
      if (bytes >= PAGE_WEIGHT_MAX_BYTES) problems.push({ path: url, what: `${bytes} bytes with its CSS and JS` });
      for (const m of page.body.matchAll(/href="([^"#]+)"/g)) {
        const link = m[1]!.replaceAll('&amp;', '&');
        if (!link.startsWith(`${home}`) || link.includes('lang=') || /\.csv(\?|$)/.test(link)) continue;
        const next = `${link}${link.includes('?') ? '&' : '?'}lang=${lang}`;
        if (!seen.has(next)) queue.push(next);
      }
    }
    return { problems, pages: seen.size };
  }

  let operator: CabinetBrowser;
  let merchant: CabinetBrowser;
  let trader: CabinetBrowser;

  before(async () => {
    t = await startKasa();
    const shop = await t.createMerchant({ name: 'Quality <b>Shop</b>', webhook_url: 'https://hooks.example/kasa' });
    const tr = await addTrader(t, { deposit: '500.00', reward_percent: '1.00' });
    // Something in every table: a paid deal open, a settled invoice, one still pending.
    for (const n of [1, 2, 3]) {
      const res = await t.createInvoice(shop.api_key, { external_id: `quality-${n}`, customer_id: `qc-${n}` });
      assert.equal(res.statusCode, 200, res.body);
      const deal = await openDeal(t, res.json().invoice_id);
      if (n === 1 && deal) await t.kasa.deals.confirm(deal.id, { trader: tr.trader_id });
      if (n === 2) await t.kasa.deals.markPaid(res.json().invoice_id);
    }
    operator = await signedIn({ email: 'olena@kasa.test', role: 'operator', name: 'Olena' });
    merchant = await signedIn({ email: 'anna@shop.test', role: 'merchant', merchant_id: shop.merchant_id, merchant_role: 'owner', name: 'Anna' });
    trader = await signedIn({ email: 'ivan@cards.test', role: 'trader', trader_id: tr.trader_id, name: 'Ivan' });
  });
  after(() => t.close());

  for (const [who, home] of [
    ['operator', '/admin'],
    ['merchant owner', '/merchant'],
    ['trader', '/trader'],
  ] as const) {
    for (const lang of ['uk', 'en'] as const) {
      test(`${who}, ${lang}: every reachable page has the strict headers, its language, no inline code, labelled controls, and weighs < 100 KB`, async () => {
        const b = who === 'operator' ? operator : who === 'trader' ? trader : merchant;
        const { problems, pages } = await crawl(b, home, lang);
        assert.ok(pages >= 3, `${home}: only ${pages} pages reached`);
        assert.deepEqual(problems, []);
      });
    }
  }
});
