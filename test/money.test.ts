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
  toScaled,
  traderReward,
  type MicroUsdt,
} from '../src/money.ts';

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
