// Trader setup through the real admin and trader APIs.
import type { TestKasa } from './kasa.ts';

/** Luhn-valid test cards. */
export const CARDS = ['4149499912341235', '5375414112345672', '4111111111111111', '5555555555554444', '4012888888881881'];

export interface TestTrader {
  trader_id: string;
  api_key: string;
  requisites: string[];
}

export interface TraderSetup {
  name?: string;
  reward_percent?: string;
  /** USDT deposited into trader:available, e.g. "1000.00"; omitted → no deposit. */
  deposit?: string;
  /** One requisite per entry (defaults: UAH, card from CARDS, no limits, max_open_deals 1). */
  requisites?: Record<string, unknown>[];
}

let cardIndex = 0;

export async function addTrader(t: TestKasa, setup: TraderSetup = {}): Promise<TestTrader> {
  const created = await t.admin('POST', '/admin/v1/traders', {
    name: setup.name ?? 'Trader',
    ...(setup.reward_percent ? { reward_percent: setup.reward_percent } : {}),
  });
  if (created.statusCode !== 201) throw new Error(`trader setup failed: ${created.body}`);
  const { trader_id, api_key } = created.json();
  if (setup.deposit) {
    const deposit = await t.admin('POST', `/admin/v1/traders/${trader_id}/deposits`, { amount_usdt: setup.deposit, reference: `setup-${trader_id}` });
    if (deposit.statusCode !== 201) throw new Error(`deposit failed: ${deposit.body}`);
  }
  const requisites: string[] = [];
  for (const requisite of setup.requisites ?? [{}]) {
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/trader/requisites',
      headers: { 'x-api-key': api_key },
      payload: { currency: 'UAH', bank_name: 'Monobank', card_number: CARDS[cardIndex++ % CARDS.length], holder_name: 'Ivan Petrenko', ...requisite },
    });
    if (res.statusCode !== 201) throw new Error(`requisite setup failed: ${res.body}`);
    requisites.push(res.json().requisite_id);
  }
  return { trader_id, api_key, requisites };
}

export function trader(t: TestKasa, apiKey: string, method: 'GET' | 'POST' | 'PATCH', url: string, payload?: unknown) {
  return t.inject({ method, url, headers: { 'x-api-key': apiKey }, ...(payload === undefined ? {} : { payload: payload as object }) });
}

export async function ledgerClean(t: TestKasa): Promise<{ ok: boolean; body: string }> {
  const res = await t.admin('GET', '/admin/v1/ledger/verify');
  return { ok: res.statusCode === 200 && res.json().ok === true, body: res.body };
}
