// The money module digit by digit: parsing, rounding, the quote, the trader's reward, and the
// largest fiat amount a USDT ceiling allows, against exact rational arithmetic.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  canonicalDecimal,
  cents,
  compareDecimal,
  formatCents,
  formatRate,
  formatUsdt,
  fromScaled,
  maxFiatFor,
  microUsdt,
  parseDecimal,
  percentHundredths,
  quoteInvoice,
  rateMicro,
  settle,
  toScaled,
  traderReward,
  type MicroUsdt,
} from '../src/money.ts';
import { settleTransfers } from '../src/lifecycle.ts';

describe('money', () => {
  test('one parser: forms of a decimal, normalized', () => {
    assert.deepEqual(parseDecimal('1500.00'), { negative: false, digits: '15', scale: -2 });
    assert.deepEqual(parseDecimal(' 0.50 '), { negative: false, digits: '5', scale: 1 });
    assert.deepEqual(parseDecimal('.5'), { negative: false, digits: '5', scale: 1 });
    assert.deepEqual(parseDecimal('-0.000'), { negative: false, digits: '', scale: 0 }, 'negative zero is zero');
    assert.deepEqual(parseDecimal('1.5e3'), { negative: false, digits: '15', scale: -2 });
    assert.deepEqual(parseDecimal('-12.345'), { negative: true, digits: '12345', scale: 3 });
    for (const bad of ['', '.', '1,5', '1.2.3', 'abc', '1e', '0x10', '١٢']) assert.equal(parseDecimal(bad), null, bad);
    assert.equal(canonicalDecimal(parseDecimal('1500')!, 2), '1500.00');
    assert.equal(canonicalDecimal(parseDecimal('0.5')!, 2), '0.50');
    assert.equal(canonicalDecimal(parseDecimal('0.005')!, 3), '0.005');
    assert.equal(compareDecimal(parseDecimal('0.10')!, parseDecimal('0.1')!), 0);
    assert.equal(compareDecimal(parseDecimal('-1')!, parseDecimal('0')!), -1);
  });

  test('scaled integers in and out', () => {
    assert.equal(cents('1500.00'), 150_000n);
    assert.equal(cents('0.01'), 1n);
    assert.equal(rateMicro('41.50'), 41_500_000n);
    assert.equal(microUsdt('35.42'), 35_420_000n);
    assert.equal(percentHundredths('2.00'), 200n);
    assert.throws(() => cents('1.005'), /more than 2 decimal places/);
    assert.throws(() => toScaled('x', 2), /not a decimal/);
    assert.equal(fromScaled(-5n, 6), '-0.000005');
    assert.equal(formatUsdt(35_420_000n, 2), '35.42');
    assert.equal(formatUsdt(36_144_578n), '36.144578');
    assert.equal(formatRate('41.5'), '41.50');
    assert.equal(formatRate('41.123456'), '41.123456');
    assert.equal(formatCents(cents('7')), '7.00');
  });

  test("the seed's example: 1500.00 UAH at 41.50 with a 2 % fee", () => {
    const quote = quoteInvoice(cents('1500.00'), rateMicro('41.50'), percentHundredths('2.00'));
    assert.equal(quote.grossUsdt, 36_144_578n); // 1500 / 41.5 = 36.1445783… floored to 6 places
    assert.equal(quote.merchantUsdt, 35_420_000n); // 36.144578 × 0.98 = 35.42168644 floored to 2 places
    assert.equal(traderReward(quote.grossUsdt, percentHundredths('1.00')), 361_445n); // 0.36144578 floored
  });

  test('the seed example paid 1450.00 and 1550.00: recalculated at the locked rate with the same rounding', () => {
    const rate = rateMicro('41.50');
    const [fee, reward] = [percentHundredths('2.00'), percentHundredths('1.00')];
    assert.deepEqual(settle(cents('1500.00'), rate, fee, reward), {
      grossUsdt: 36_144_578n,
      merchantUsdt: 35_420_000n,
      traderReward: 361_445n,
      traderCost: 35_783_133n,
    });
    // 1450 / 41.5 = 34.9397590…; × 0.98 = 34.2409638…; reward 0.34939759 floored.
    assert.deepEqual(settle(cents('1450.00'), rate, fee, reward), {
      grossUsdt: 34_939_759n,
      merchantUsdt: 34_240_000n,
      traderReward: 349_397n,
      traderCost: 34_590_362n,
    });
    // 1550 / 41.5 = 37.3493975…; × 0.98 = 36.6024096…; reward 0.37349397 floored.
    assert.deepEqual(settle(cents('1550.00'), rate, fee, reward), {
      grossUsdt: 37_349_397n,
      merchantUsdt: 36_600_000n,
      traderReward: 373_493n,
      traderCost: 36_975_904n,
    });
  });

  test('a settlement at another amount: the lock pays merchant and platform, the rest or the shortfall moves from available', () => {
    const deal = { id: 'd', trader_id: 't', merchant_id: 'm' };
    const held = { account: 'trader:t:locked', amount: 35_783_133n };
    const under = settleTransfers(deal, held, { merchantUsdt: 34_240_000n, traderCost: 34_590_362n });
    assert.deepEqual(
      under.map((t) => [t.kind, t.from, t.to, t.amount]),
      [
        ['deal_credit', 'trader:t:locked', 'merchant:m', 34_240_000n],
        ['deal_revenue', 'trader:t:locked', 'platform:revenue', 350_362n],
        ['deal_release', 'trader:t:locked', 'trader:t:available', 1_192_771n],
      ],
    );
    const over = settleTransfers(deal, held, { merchantUsdt: 36_600_000n, traderCost: 36_975_904n });
    assert.deepEqual(
      over.map((t) => [t.kind, t.from, t.to, t.amount]),
      [
        ['deal_lock', 'trader:t:available', 'trader:t:locked', 1_192_771n],
        ['deal_credit', 'trader:t:locked', 'merchant:m', 36_600_000n],
        ['deal_revenue', 'trader:t:locked', 'platform:revenue', 375_904n],
      ],
    );
    // Whatever the amounts, the held account ends empty: everything it held or took is paid out.
    for (const transfers of [under, over]) {
      const net = transfers.reduce((sum, t) => sum + (t.to === held.account ? t.amount : 0n) - (t.from === held.account ? t.amount : 0n), held.amount);
      assert.equal(net, 0n);
    }
  });

  test('rounding at the edges: floors, never rounds up', () => {
    // 1.00 / 3.00 = 0.333333…
    assert.equal(quoteInvoice(cents('1.00'), rateMicro('3'), percentHundredths('0')).grossUsdt, 333_333n);
    // 2.00 / 3.00 = 0.666666… stays 0.666666 (no rounding to …67)
    const q = quoteInvoice(cents('2.00'), rateMicro('3'), percentHundredths('0'));
    assert.equal(q.grossUsdt, 666_666n);
    assert.equal(q.merchantUsdt, 660_000n, '0.666666 floors to 0.66');
    // A fee of 99.99 % on a cent's worth leaves nothing for the merchant.
    assert.equal(quoteInvoice(cents('0.01'), rateMicro('1'), percentHundredths('99.99')).merchantUsdt, 0n);
    assert.throws(() => quoteInvoice(cents('1'), rateMicro('1'), percentHundredths('100')), /fee/);
    assert.throws(() => quoteInvoice(cents('0'), rateMicro('1'), percentHundredths('1')), /positive/);
    assert.equal(traderReward(1n as MicroUsdt, percentHundredths('99.99')), 0n);
    assert.equal(traderReward(10_000n as MicroUsdt, percentHundredths('100')), 10_000n);
  });

  test('the quote against exact rational arithmetic', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 10n ** 14n }),
        fc.bigInt({ min: 1n, max: 10n ** 12n }),
        fc.bigInt({ min: 0n, max: 9_999n }),
        (amount, rate, fee) => {
          const q = quoteInvoice(amount as never, rate as never, fee as never);
          // gross = floor(amount/100 / (rate/10^6) × 10^6) = floor(amount × 10^10 / rate)
          assert.ok(q.grossUsdt * rate <= amount * 10n ** 10n && (q.grossUsdt + 1n) * rate > amount * 10n ** 10n);
          // merchant is a whole number of cents of USDT, within one cent below gross × (1 − fee)
          assert.equal(q.merchantUsdt % 10_000n, 0n);
          const exact = q.grossUsdt * (10_000n - fee); // × 10^-4
          assert.ok(q.merchantUsdt * 10_000n <= exact && (q.merchantUsdt + 10_000n) * 10_000n > exact);
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('the largest fiat amount a USDT ceiling allows is exact', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 18n }), fc.bigInt({ min: 1n, max: 10n ** 12n }), (usdt, rate) => {
        const max = maxFiatFor(usdt as MicroUsdt, rate as never);
        const grossOf = (c: bigint) => (c * 10n ** 10n) / rate;
        assert.ok(grossOf(max) <= usdt, 'its gross fits under the ceiling');
        assert.ok(grossOf(max + 1n) > usdt, 'one cent more does not');
      }),
      { numRuns: 2000 },
    );
    assert.equal(maxFiatFor(microUsdt('36.144578'), rateMicro('41.50')), cents('1500.00'), '1500.01 would gross 36.144819');
  });
});
