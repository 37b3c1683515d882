// Lists page with a bounded limit and a keyset cursor: every row once, newest first, even while
// rows are added between pages; a malformed cursor is a 400, a limit out of range a 422.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startKasa, type TestKasa } from './helpers/kasa.ts';
import { addTrader } from './helpers/traders.ts';

describe('lists with cursors', () => {
  let t: TestKasa;
  before(async () => {
    t = await startKasa();
  });
  after(() => t.close());

  async function allPages(url: string, limit: number, between?: () => Promise<void>) {
    const seen: { trader_id: string; balance: { available: string } }[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 50; pages++) {
      const res = await t.admin('GET', `${url}?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.ok(body.items.length <= limit);
      seen.push(...body.items);
      cursor = body.next_cursor;
      if (!cursor) return seen;
      await between?.();
    }
    throw new Error('more pages than rows');
  }

  test('admin traders: every trader once with its balances, in one query per page', async () => {
    const made: string[] = [];
    for (let i = 0; i < 7; i++) made.push((await addTrader(t, { name: `Pager ${i}`, deposit: `${i + 1}.00`, requisites: [] })).trader_id);
    const seen = await allPages('/admin/v1/traders', 3, async () => {
      // Traders created between pages are newer than every cursor: they never shift a page.
      await addTrader(t, { name: 'Late', requisites: [] });
    });
    const ours = seen.filter((s) => made.includes(s.trader_id));
    assert.deepEqual(
      ours.map((s) => s.trader_id),
      [...made].reverse(),
      'newest first, each once',
    );
    assert.deepEqual(
      ours.map((s) => s.balance.available),
      ['7.00', '6.00', '5.00', '4.00', '3.00', '2.00', '1.00'],
    );
    assert.equal(new Set(seen.map((s) => s.trader_id)).size, seen.length, 'no trader twice');
  });

  test('a malformed cursor is 400 INVALID_CURSOR; a limit out of range is 422', async () => {
    for (const cursor of ['x', 'a2Zvbw', Buffer.from('k1.not-a-uuid').toString('base64url')]) {
      const res = await t.admin('GET', `/admin/v1/traders?cursor=${cursor}`);
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(res.json().error.code, 'INVALID_CURSOR');
    }
    for (const limit of ['0', '101', 'x']) assert.equal((await t.admin('GET', `/admin/v1/traders?limit=${limit}`)).statusCode, 422);
  });
});
