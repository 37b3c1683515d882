// Exact money. Decimal strings at the edge, scaled integers (bigint) inside, never a float.
// Fiat amounts have 2 decimals, rates 6, USDT 6 (micro-USDT, like on-chain USDT).

export const FIAT_DECIMALS = 2;
export const RATE_DECIMALS = 6;
export const USDT_DECIMALS = 6;
export const PERCENT_DECIMALS = 2;

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?$/;

/** "1500.5" at scale 2 → 150050n. Throws on malformed input or more places than the scale. */
export function toScaled(value: string, scale: number): bigint {
  const match = DECIMAL.exec(value);
  if (!match || (match[2] === '' && (match[3] ?? '') === '')) throw new RangeError(`not a decimal: "${value}"`);
  const [, sign, whole = '', rawFraction = ''] = match;
  const fraction = rawFraction.replace(/0+$/, '');
  if (fraction.length > scale) throw new RangeError(`"${value}" has more than ${scale} decimal places`);
  const scaled = BigInt((whole || '0') + fraction.padEnd(scale, '0'));
  return sign === '-' ? -scaled : scaled;
}

/** 150050n at scale 2 → "1500.50"; minDecimals trims trailing zeros down to that many places. */
export function fromScaled(value: bigint, scale: number, minDecimals = scale): string {
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString().padStart(scale + 1, '0');
  const whole = digits.slice(0, digits.length - scale);
  let fraction = digits.slice(digits.length - scale);
  while (fraction.length > minDecimals && fraction.endsWith('0')) fraction = fraction.slice(0, -1);
  return (negative ? '-' : '') + whole + (fraction ? '.' + fraction : '');
}

/** A rate as the API shows it: at least 2 decimals, up to 6 ("41.50", "41.123456"). */
export function formatRate(rate: string): string {
  return fromScaled(toScaled(rate, RATE_DECIMALS), RATE_DECIMALS, 2);
}

export function formatFiat(amount: string): string {
  return fromScaled(toScaled(amount, FIAT_DECIMALS), FIAT_DECIMALS);
}

export function formatPercent(percent: string): string {
  return fromScaled(toScaled(percent, PERCENT_DECIMALS), PERCENT_DECIMALS);
}

/** micro-USDT → "35.420000"; with minDecimals 2 → "35.42". */
export function formatUsdt(micro: bigint, minDecimals = USDT_DECIMALS): string {
  return fromScaled(micro, USDT_DECIMALS, minDecimals);
}

export interface InvoiceQuote {
  /** floor6(amount / rate), micro-USDT. */
  grossUsdt: bigint;
  /** floor2(gross × (1 − fee/100)), micro-USDT (a multiple of 10,000). */
  merchantUsdt: bigint;
}

const MICRO_PER_CENT_USDT = 10n ** BigInt(USDT_DECIMALS - 2);
const PERCENT_SCALE = 100n * 10n ** BigInt(PERCENT_DECIMALS); // 100.00 % as an integer

/**
 * The rounding rule of DESIGN.md, to the digit, in integers:
 *   gross_micro    = floor(amount_cents × 10^10 / rate_micro)   (amount / rate, floored to 6 places)
 *   merchant_micro = floor(gross_micro × (10000 − fee_bp) / 10000 / 10^4) × 10^4   (floored to 2 places)
 * Both operands are positive, so bigint division (which truncates) is the floor.
 */
export function quoteInvoice(amountCents: bigint, rateMicro: bigint, feePercentHundredths: bigint): InvoiceQuote {
  if (amountCents <= 0n || rateMicro <= 0n) throw new RangeError('amount and rate must be positive');
  if (feePercentHundredths < 0n || feePercentHundredths >= PERCENT_SCALE) throw new RangeError('fee must be in [0, 100)');
  const grossUsdt = (amountCents * 10n ** BigInt(USDT_DECIMALS + RATE_DECIMALS - FIAT_DECIMALS)) / rateMicro;
  const afterFee = (grossUsdt * (PERCENT_SCALE - feePercentHundredths)) / PERCENT_SCALE;
  const merchantUsdt = (afterFee / MICRO_PER_CENT_USDT) * MICRO_PER_CENT_USDT;
  return { grossUsdt, merchantUsdt };
}
