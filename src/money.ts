// Exact money. Decimal strings at the edge, scaled integers (bigint) inside, never a float.
// Fiat amounts have 2 decimals (cents), rates 6 (fiat per 1 USDT), USDT 6 (micro-USDT, like
// on-chain USDT), percentages 2 (hundredths of a percent). Each unit is its own type, so a rate
// can never be passed where an amount is expected; the constructors below are the only way in.

export const FIAT_DECIMALS = 2;
export const RATE_DECIMALS = 6;
export const USDT_DECIMALS = 6;
export const PERCENT_DECIMALS = 2;
/** A source's quote before the markup: finer than a rate, as markets quote (41.123456789). */
export const RAW_RATE_DECIMALS = 12;
/** Digits before the point of a rate (NUMERIC(18, 6)) and of a raw quote (NUMERIC(24, 12)). */
export const RATE_WHOLE_DIGITS = 12;
/** USDT amounts people type (withdrawals, their settings): cents of USDT, as addresses receive them. */
export const USDT_AMOUNT_DECIMALS = 2;

declare const unit: unique symbol;
type Scaled<U extends string> = bigint & { readonly [unit]: U };
/** Fiat in cents (1500.00 UAH → 150000n). */
export type Cents = Scaled<'cents'>;
/** USDT in micro-USDT (35.42 USDT → 35420000n). */
export type MicroUsdt = Scaled<'micro-usdt'>;
/** Fiat per 1 USDT × 10^6 (41.50 → 41500000n). */
export type RateMicro = Scaled<'rate-micro'>;
/** A percentage in hundredths (2.00 % → 200n). */
export type PercentHundredths = Scaled<'percent-hundredths'>;
/** A source's quote × 10^12. */
export type RawRate = Scaled<'raw-rate'>;

// ---------------------------------------------------------------------------------------------
// The one decimal parser

/** A decimal as written: value = (negative ? -1 : 1) × digits × 10^-scale, normalized. */
export interface Decimal {
  negative: boolean;
  /** Significant digits without leading or trailing zeros ("" for zero). */
  digits: string;
  /** May be negative ("1e3" → digits "1", scale -3). */
  scale: number;
}

const DECIMAL_TEXT = /^([+-]?)(\d+\.?\d*|\.\d+)(?:[eE]([+-]?\d+))?$/;

/**
 * Parses "1500.50", "-0.5", ".5", "15e2" (what a JSON number prints as), surrounding spaces
 * allowed; null for anything else. Trailing zeros carry no value: "1500.000" has no decimal
 * places, as Python's Decimal.normalize() says.
 */
export function parseDecimal(text: string): Decimal | null {
  const match = DECIMAL_TEXT.exec(text.trim());
  if (!match) return null;
  const [, sign, mantissa = '', exponent = '0'] = match;
  const [whole = '', fraction = ''] = mantissa.split('.');
  let digits = (whole + fraction).replace(/^0+/, '');
  // An exponent too long for a number makes the scale infinite: such a value has more digits
  // than any field allows, and toScaled refuses it.
  let scale = fraction.length - Number(exponent);
  while (digits.endsWith('0')) {
    digits = digits.slice(0, -1);
    scale -= 1;
  }
  if (digits === '') scale = 0;
  return { negative: sign === '-' && digits !== '', digits, scale };
}

/** Decimal places of a parsed decimal (never negative). */
export function placesOf(d: Decimal): number {
  return Math.max(0, d.scale);
}

/** Digits before the decimal point. */
export function wholeDigitsOf(d: Decimal): number {
  return Math.max(0, d.digits.length - d.scale);
}

export function compareDecimal(a: Decimal, b: Decimal): number {
  const sign = (p: Decimal) => (p.digits === '' ? 0 : p.negative ? -1 : 1);
  if (sign(a) !== sign(b)) return Math.sign(sign(a) - sign(b));
  const scale = Math.max(a.scale, b.scale, 0);
  const scaled = (p: Decimal) => BigInt(p.digits || '0') * 10n ** BigInt(scale - p.scale);
  const x = scaled(a) * BigInt(sign(a) || 1);
  const y = scaled(b) * BigInt(sign(b) || 1);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The decimal written with exactly `places` decimals (it must not have more). */
export function canonicalDecimal(d: Decimal, places: number): string {
  if (d.digits === '') return places > 0 ? '0.' + '0'.repeat(places) : '0';
  const padded = d.digits + '0'.repeat(Math.max(0, places - d.scale));
  const intLength = padded.length - places;
  const whole = intLength > 0 ? padded.slice(0, intLength) : '0';
  const fraction = intLength >= 0 ? padded.slice(intLength) : '0'.repeat(-intLength) + padded;
  return (d.negative ? '-' : '') + whole + (places > 0 ? '.' + fraction : '');
}

/** "1500.5" at scale 2 → 150050n. Throws on malformed input or more places than the scale. */
export function toScaled(value: string, scale: number): bigint {
  const d = parseDecimal(value);
  if (!d) throw new RangeError(`not a decimal: "${value}"`);
  if (!Number.isFinite(d.scale) || placesOf(d) > scale) throw new RangeError(`"${value}" has more than ${scale} decimal places`);
  const scaled = BigInt((d.digits || '0') + '0'.repeat(scale - d.scale));
  return d.negative ? -scaled : scaled;
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

// ---------------------------------------------------------------------------------------------
// Units in and out

export const cents = (decimal: string) => toScaled(decimal, FIAT_DECIMALS) as Cents;
export const rateMicro = (decimal: string) => toScaled(decimal, RATE_DECIMALS) as RateMicro;
export const microUsdt = (decimal: string) => toScaled(decimal, USDT_DECIMALS) as MicroUsdt;
export const percentHundredths = (decimal: string) => toScaled(decimal, PERCENT_DECIMALS) as PercentHundredths;
export const rawRate = (decimal: string) => toScaled(decimal, RAW_RATE_DECIMALS) as RawRate;
/** A micro-USDT amount read from the ledger or a BIGINT column. */
export const asMicroUsdt = (value: bigint) => value as MicroUsdt;

/** A rate as the API shows it: at least 2 decimals, up to 6 ("41.50", "41.123456"). */
export function formatRate(rate: string): string {
  return fromScaled(toScaled(rate, RATE_DECIMALS), RATE_DECIMALS, 2);
}

export function formatFiat(amount: string): string {
  return fromScaled(toScaled(amount, FIAT_DECIMALS), FIAT_DECIMALS);
}

export function formatCents(amount: Cents): string {
  return fromScaled(amount, FIAT_DECIMALS);
}

export function formatPercent(percent: string): string {
  return fromScaled(toScaled(percent, PERCENT_DECIMALS), PERCENT_DECIMALS);
}

/** micro-USDT → "35.420000"; with minDecimals 2 → "35.42". */
export function formatUsdt(micro: bigint, minDecimals = USDT_DECIMALS): string {
  return fromScaled(micro, USDT_DECIMALS, minDecimals);
}

// ---------------------------------------------------------------------------------------------
// The rules of DESIGN.md, to the digit, in integers

export interface InvoiceQuote {
  /** floor6(amount / rate). */
  grossUsdt: MicroUsdt;
  /** floor2(gross × (1 − fee/100)): a multiple of 10,000 micro-USDT. */
  merchantUsdt: MicroUsdt;
}

const MICRO_PER_CENT_USDT = 10n ** BigInt(USDT_DECIMALS - 2);
const PERCENT_SCALE = 100n * 10n ** BigInt(PERCENT_DECIMALS); // 100.00 % as an integer
/** cents × 10^10 / rate_micro is micro-USDT: 10^(6 + 6 − 2). */
const FIAT_TO_MICRO_USDT = 10n ** BigInt(USDT_DECIMALS + RATE_DECIMALS - FIAT_DECIMALS);

/**
 *   gross_micro    = floor(amount_cents × 10^10 / rate_micro)   (amount / rate, floored to 6 places)
 *   merchant_micro = floor(gross_micro × (10000 − fee_bp) / 10000 / 10^4) × 10^4   (floored to 2 places)
 * Both operands are positive, so bigint division (which truncates) is the floor.
 */
export function quoteInvoice(amount: Cents, rate: RateMicro, fee: PercentHundredths): InvoiceQuote {
  if (amount <= 0n || rate <= 0n) throw new RangeError('amount and rate must be positive');
  if (fee < 0n || fee >= PERCENT_SCALE) throw new RangeError('fee must be in [0, 100)');
  const grossUsdt = (amount * FIAT_TO_MICRO_USDT) / rate;
  const afterFee = (grossUsdt * (PERCENT_SCALE - fee)) / PERCENT_SCALE;
  const merchantUsdt = (afterFee / MICRO_PER_CENT_USDT) * MICRO_PER_CENT_USDT;
  return { grossUsdt: grossUsdt as MicroUsdt, merchantUsdt: merchantUsdt as MicroUsdt };
}

/** The trader's reward: floor6(gross × reward% / 100). */
export function traderReward(gross: MicroUsdt, reward: PercentHundredths): MicroUsdt {
  if (gross < 0n || reward < 0n || reward > PERCENT_SCALE) throw new RangeError('gross must be ≥ 0 and reward in [0, 100]');
  return ((gross * reward) / PERCENT_SCALE) as MicroUsdt;
}

/** What a payment of some fiat amount is worth at an invoice's locked rate, fee and trader reward. */
export interface Settlement {
  grossUsdt: MicroUsdt;
  merchantUsdt: MicroUsdt;
  traderReward: MicroUsdt;
  /** What the trader pays for the fiat they received: gross less their reward. */
  traderCost: MicroUsdt;
}

/**
 * An invoice recalculated for the amount actually paid, with the rounding of its creation:
 * gross = floor6(paid / rate), merchant = floor2(gross × (1 − fee)), reward on the new gross.
 */
export function settle(paid: Cents, rate: RateMicro, fee: PercentHundredths, reward: PercentHundredths): Settlement {
  const quote = quoteInvoice(paid, rate, fee);
  const rewardUsdt = traderReward(quote.grossUsdt, reward);
  return { ...quote, traderReward: rewardUsdt, traderCost: (quote.grossUsdt - rewardUsdt) as MicroUsdt };
}

/**
 * The largest fiat amount whose gross is at most `usdt` at `rate`: the amount a ceiling in USDT
 * allows. floor(c × 10^10 / rate) ≤ usdt  ⇔  c × 10^10 < (usdt + 1) × rate  ⇔
 * c ≤ floor(((usdt + 1) × rate − 1) / 10^10), in integers, exactly.
 */
export function maxFiatFor(usdt: MicroUsdt, rate: RateMicro): Cents {
  if (usdt < 0n || rate <= 0n) throw new RangeError('usdt must be ≥ 0 and rate positive');
  return (((usdt + 1n) * rate - 1n) / FIAT_TO_MICRO_USDT) as Cents;
}

/** A movement as statements show it: "+35.42", "-100.00", "+0.361445"; zero is "0.00". */
export function formatSignedUsdt(micro: bigint): string {
  if (micro === 0n) return formatUsdt(0n, 2);
  return (micro < 0n ? '-' : '+') + formatUsdt(micro < 0n ? -micro : micro, 2);
}

// ---------------------------------------------------------------------------------------------
// Rates from a source

/** Why a quote's text cannot be a rate; null when it can. */
export type QuoteProblem = 'not_a_number' | 'not_positive' | 'out_of_range';

/**
 * A quote as a source wrote it (a JSON number's text or a string): a positive decimal with at
 * most RAW_RATE_DECIMALS places and RATE_WHOLE_DIGITS whole digits. More places are refused,
 * not rounded: a source that quotes finer than that is not one Kasa can read exactly.
 */
export function parseQuote(text: string): { ok: true; raw: RawRate } | { ok: false; problem: QuoteProblem } {
  const d = parseDecimal(text);
  if (!d || !Number.isFinite(d.scale)) return { ok: false, problem: 'not_a_number' };
  if (d.negative || d.digits === '') return { ok: false, problem: 'not_positive' };
  if (placesOf(d) > RAW_RATE_DECIMALS || wholeDigitsOf(d) > RATE_WHOLE_DIGITS) return { ok: false, problem: 'out_of_range' };
  return { ok: true, raw: rawRate(canonicalDecimal(d, RAW_RATE_DECIMALS)) };
}

const RAW_TO_RATE = 10n ** BigInt(RAW_RATE_DECIMALS - RATE_DECIMALS);
const RATE_MAX = 10n ** BigInt(RATE_WHOLE_DIGITS + RATE_DECIMALS) - 1n;

/**
 * The applied rate: raw × (1 + markup/100), to RATE_DECIMALS places rounded half up, which is
 * what NUMERIC(18, 6) makes of a finer value (the rate column's own rounding):
 *   rate_micro = round(raw_12 × (10000 + markup_bp) / 10000 / 10^6)
 * null when the result is not a storable rate (rounds to zero, or more than 12 whole digits).
 */
export function applyMarkup(raw: RawRate, markup: PercentHundredths): RateMicro | null {
  if (raw <= 0n || markup < 0n) throw new RangeError('raw must be positive and markup ≥ 0');
  const numerator = raw * (PERCENT_SCALE + markup);
  const denominator = PERCENT_SCALE * RAW_TO_RATE;
  const rate = (numerator + denominator / 2n) / denominator;
  return rate > 0n && rate <= RATE_MAX ? (rate as RateMicro) : null;
}

/** |next − previous| / previous > max%, exactly: |next − previous| × 10000 > max_bp × previous. */
export function changeExceeds(previous: RawRate, next: RawRate, max: PercentHundredths): boolean {
  if (previous <= 0n) throw new RangeError('previous must be positive');
  const change = next > previous ? next - previous : previous - next;
  return change * PERCENT_SCALE > max * previous;
}

export function formatRawRate(raw: RawRate | string): string {
  return fromScaled(typeof raw === 'string' ? toScaled(raw, RAW_RATE_DECIMALS) : raw, RAW_RATE_DECIMALS, 2);
}

export function formatRateMicro(rate: RateMicro): string {
  return fromScaled(rate, RATE_DECIMALS, 2);
}
