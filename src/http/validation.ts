// Request models: one declaration gives both the JSON Schema that documents a route in the
// OpenAPI document and the validator that checks it.
//
// Hand-written because the merchant API's contract is FastAPI's: a 422 whose `detail` lists every
// violation with Pydantic v2's error types and messages (`missing`, `string_too_long`,
// `decimal_max_places`, `url_scheme`…). No JSON Schema validator produces those; translating
// Ajv's keywords loses the distinctions the contract needs (a decimal's places and digits, a
// URL's scheme vs. its syntax), so the checks and their messages live here, next to the schema
// they document.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { domainToASCII } from 'node:url';
import { base58 } from '@scure/base';
import type { FastifyBaseLogger, FastifyInstance, FastifyTypeProvider, RawServerDefault } from 'fastify';
import type { ValidationIssue } from '../errors.ts';
import { canonicalDecimal, compareDecimal, FIAT_DECIMALS, parseDecimal, placesOf, USDT_AMOUNT_DECIMALS, wholeDigitsOf } from '../money.ts';

export type { ValidationIssue };

export type JsonSchema = Record<string, unknown>;
export type Loc = (string | number)[];

type Issue = Omit<ValidationIssue, 'loc' | 'input'>;
/** nested: the violations inside an object-valued field, their loc relative to the field. */
type Parsed<T> = { ok: true; value: T } | { ok: false; issue: Issue; nested?: ValidationIssue[] };

export interface Field<T> {
  readonly schema: JsonSchema;
  readonly required: boolean;
  parse(input: unknown): Parsed<T>;
}

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = <T>(type: string, msg: string, ctx?: Record<string, unknown>): Parsed<T> => ({
  ok: false,
  issue: ctx ? { type, msg, ctx } : { type, msg },
});

interface Doc {
  description?: string;
  example?: unknown;
}

function doc(schema: JsonSchema, d: Doc): JsonSchema {
  if (d.description) schema.description = d.description;
  if (d.example !== undefined) schema.examples = [d.example];
  return schema;
}

// ---------------------------------------------------------------------------------------------
// Strings

export interface StringOptions extends Doc {
  min?: number;
  max?: number;
  pattern?: string;
}

// PostgreSQL text cannot hold U+0000: a string carrying one would fail in the database as a 500,
// so it is refused here like any other invalid value.
const NUL = '\u0000';
const NUL_MESSAGE = 'String must not contain NUL characters';

// A lone UTF-16 surrogate (JSON "\ud800") is not Unicode text: stored, it would become U+FFFD and
// collide with other values; Pydantic refuses it before any other check. With the u flag a
// paired surrogate is one code point, so only a lone one matches.
const LONE_SURROGATE = /\p{Cs}/u;
const notUnicode = <T>() => fail<T>('string_unicode', 'Input should be a valid string, unable to parse raw data as a unicode string');

export function string(options: StringOptions = {}): Field<string> {
  const { min, max, pattern } = options;
  const regex = pattern ? new RegExp(pattern) : null;
  const schema: JsonSchema = { type: 'string' };
  if (min !== undefined) schema.minLength = min;
  if (max !== undefined) schema.maxLength = max;
  if (pattern) schema.pattern = pattern;
  return {
    schema: doc(schema, options),
    required: true,
    parse(input) {
      if (typeof input !== 'string') return fail('string_type', 'Input should be a valid string');
      if (LONE_SURROGATE.test(input)) return notUnicode();
      // Length in characters (code points), as Python counts it.
      const length = [...input].length;
      if (min !== undefined && length < min) {
        return fail('string_too_short', `String should have at least ${min} character${min === 1 ? '' : 's'}`, { min_length: min });
      }
      if (max !== undefined && length > max) {
        return fail('string_too_long', `String should have at most ${max} character${max === 1 ? '' : 's'}`, { max_length: max });
      }
      if (regex && !regex.test(input)) {
        return fail('string_pattern_mismatch', `String should match pattern '${pattern}'`, { pattern });
      }
      if (input.includes(NUL)) return fail('value_error', `Value error, ${NUL_MESSAGE}`, { error: NUL_MESSAGE });
      return ok(input);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// UUIDs: the spellings Pydantic's UUID accepts (hyphenated, 32 hex digits, {braced}, urn:uuid:),
// given to the route in the one form Kasa issues and SQL compares: lowercase and hyphenated.

const UUID_HYPHENATED = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const UUID_SIMPLE = /^[0-9a-f]{32}$/i;
const UUID_GROUP_LENGTHS = [8, 4, 4, 4, 12] as const;
const UUID_GROUP_STARTS = [0, 9, 14, 19, 24] as const;
const URN_PREFIX = 'urn:uuid:';

export function uuid(d: Doc = {}): Field<string> {
  return {
    schema: doc({ type: 'string', format: 'uuid' }, d),
    required: true,
    parse(input) {
      if (typeof input !== 'string') return fail('uuid_type', 'UUID input should be a string, bytes or UUID object');
      if (LONE_SURROGATE.test(input)) return notUnicode();
      const braced = input.length === 38 && input.startsWith('{') && input.endsWith('}');
      const urn = input.length === 45 && input.startsWith(URN_PREFIX);
      const hyphenated = braced ? input.slice(1, -1) : urn ? input.slice(URN_PREFIX.length) : input;
      if ((input.length === 36 || braced || urn) && UUID_HYPHENATED.test(hyphenated)) return ok(hyphenated.toLowerCase());
      if (UUID_SIMPLE.test(input)) {
        const hex = input.toLowerCase();
        return ok(UUID_GROUP_STARTS.map((start, i) => hex.slice(start - i, start - i + UUID_GROUP_LENGTHS[i]!)).join('-'));
      }
      const error = uuidParsingError(input);
      return fail('uuid_parsing', `Input should be a valid UUID, ${error}`, { error });
    },
  };
}

/** The first problem with a text that is not a UUID, worded and positioned as the Rust uuid crate (Pydantic's) does. */
function uuidParsingError(input: string): string {
  const [inner, offset, simple] =
    input.length >= 2 && input.startsWith('{') && input.endsWith('}')
      ? [input.slice(1, -1), 1, false]
      : input.startsWith(URN_PREFIX)
        ? [input.slice(URN_PREFIX.length), URN_PREFIX.length, false]
        : [input, 0, true];
  const hyphens: number[] = [];
  let index = 0;
  // Positions count bytes, 1-based; every character before the first bad one is ASCII.
  for (const character of inner) {
    if (character === '-') hyphens.push(index);
    else if (!/^[0-9a-f]$/i.test(character)) return `invalid character: found \`${character}\` at ${index + offset + 1}`;
    index += 1;
  }
  if (hyphens.length === 0 && simple) return `invalid length: expected length 32 for simple format, found ${input.length}`;
  if (hyphens.length !== 4) return `invalid group count: expected 5, found ${hyphens.length + 1}`;
  for (let group = 0; group < 4; group++) {
    const end = hyphens[group] ?? 0;
    const start = UUID_GROUP_STARTS[group] ?? 0;
    if (end !== (UUID_GROUP_STARTS[group + 1] ?? 0) - 1) {
      return `invalid group length in group ${group}: expected ${UUID_GROUP_LENGTHS[group]}, found ${end - start}`;
    }
  }
  // The crate measures the last group against the whole input, braces or prefix included.
  return `invalid group length in group 4: expected 12, found ${input.length - UUID_GROUP_STARTS[4]}`;
}

export function enumeration<const V extends string>(values: readonly V[], d: Doc = {}): Field<V> {
  const expected = values
    .map((v) => `'${v}'`)
    .join(values.length > 2 ? ', ' : ' or ')
    .replace(/, ([^,]*)$/, ' or $1');
  return {
    schema: doc({ type: 'string', enum: [...values] }, d),
    required: true,
    parse(input) {
      if (typeof input === 'string' && (values as readonly string[]).includes(input)) return ok(input as V);
      return fail('enum', `Input should be ${expected}`, { expected });
    },
  };
}

export function boolean(d: Doc = {}): Field<boolean> {
  return {
    schema: doc({ type: 'boolean' }, d),
    required: true,
    parse(input) {
      if (typeof input === 'boolean') return ok(input);
      // Pydantic's lax mode accepts these spellings; query strings need them.
      if (input === 'true' || input === '1' || input === 1) return ok(true);
      if (input === 'false' || input === '0' || input === 0) return ok(false);
      return fail('bool_parsing', 'Input should be a valid boolean, unable to interpret input');
    },
  };
}

export interface IntegerOptions extends Doc {
  min?: number;
  max?: number;
}

export function integer(options: IntegerOptions = {}): Field<number> {
  const { min, max } = options;
  const schema: JsonSchema = { type: 'integer' };
  if (min !== undefined) schema.minimum = min;
  if (max !== undefined) schema.maximum = max;
  return {
    schema: doc(schema, options),
    required: true,
    parse(input) {
      let value: number;
      if (typeof input === 'number') {
        if (!Number.isInteger(input)) return fail('int_from_float', 'Input should be a valid integer, got a number with a fractional part');
        value = input;
      } else if (typeof input === 'string' && /^\s*[+-]?\d{1,15}\s*$/.test(input)) {
        value = Number(input);
      } else if (typeof input === 'string') {
        return fail('int_parsing', 'Input should be a valid integer, unable to parse string as an integer');
      } else {
        return fail('int_type', 'Input should be a valid integer');
      }
      if (min !== undefined && value < min) {
        return fail('greater_than_equal', `Input should be greater than or equal to ${min}`, { ge: min });
      }
      if (max !== undefined && value > max) {
        return fail('less_than_equal', `Input should be less than or equal to ${max}`, { le: max });
      }
      return ok(value);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Date-times: ISO 8601 with a zone; impossible dates (2026-02-30, month 13, year 0) are refused
// rather than rolled over, as Pydantic's datetime does.

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

export function dateTime(d: Doc = {}): Field<Date> {
  return {
    schema: doc({ type: 'string', format: 'date-time' }, d),
    required: true,
    parse(input) {
      if (typeof input !== 'string') return fail('datetime_type', 'Input should be a valid datetime');
      const match = DATE_TIME.exec(input);
      const invalid = (why: string) => fail<Date>('datetime_from_date_parsing', `Input should be a valid datetime, ${why}`, { error: why });
      if (!match) return invalid('invalid datetime format');
      const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
      const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
      if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth) return invalid('day value is outside expected range');
      if (hour > 23 || minute > 59 || second > 59) return invalid('time value is outside expected range');
      const value = new Date(input);
      if (Number.isNaN(value.getTime())) return invalid('invalid datetime format');
      return ok(value);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Decimals: accepted as a decimal string or a JSON number, returned as a canonical decimal string.

export interface DecimalOptions extends Doc {
  /** Exclusive lower bound, as a decimal string. */
  gt?: string;
  /** Inclusive lower bound. */
  ge?: string;
  /** Exclusive upper bound. */
  lt?: string;
  maxPlaces: number;
  maxDigits: number;
}

const NON_FINITE_TEXT = /^[+-]?(inf|infinity|s?nan\d*)$/i;
// What Python's str.strip() removes, which Decimal() ignores around a number (control characters included).
const PYTHON_EDGE_WHITESPACE =
  // eslint-disable-next-line no-control-regex
  /^[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;
const UNICODE_DIGITS = /\p{Nd}/gu;
const UNICODE_DIGIT = /^\p{Nd}$/u;

/**
 * A decimal string as Pydantic reads it: every underscore removed ("1_000" is 1000, and so is
 * "_1_000_"), then Python's Decimal(): whitespace around it ignored, and any Unicode decimal
 * digit ("١٥٠٠", full-width "１５００") read as its value.
 */
function decimalText(input: string): string {
  return asciiDigits(input.replaceAll('_', '')).replace(PYTHON_EDGE_WHITESPACE, '');
}

function asciiDigits(text: string): string {
  return text.replace(UNICODE_DIGITS, (digit) => {
    const codePoint = digit.codePointAt(0) ?? 0;
    if (codePoint < 0x80) return digit;
    // Unicode assigns decimal digits only in whole runs from 0 to 9, so a digit's value is its
    // distance from the first digit of its block of runs, modulo 10.
    let first = codePoint;
    while (UNICODE_DIGIT.test(String.fromCodePoint(first - 1))) first -= 1;
    return String((codePoint - first) % 10);
  });
}

export function decimal(options: DecimalOptions): Field<string> {
  const { gt, ge, lt, maxPlaces, maxDigits } = options;
  const bound = (b: string | undefined) => (b === undefined ? null : parseDecimal(b));
  const [gtParts, geParts, ltParts] = [bound(gt), bound(ge), bound(lt)];
  const schema: JsonSchema = {
    anyOf: [{ type: 'string', pattern: '^[+-]?\\d*\\.?\\d+$' }, { type: 'number' }],
  };
  if (gt !== undefined) schema['x-exclusive-minimum'] = gt;
  return {
    schema: doc(schema, options),
    required: true,
    parse(input) {
      let text: string;
      if (typeof input === 'string') text = decimalText(input);
      else if (typeof input === 'number' && Number.isFinite(input)) text = String(input);
      else if (typeof input === 'number') return fail('finite_number', 'Input should be a finite number');
      else return fail('decimal_type', 'Decimal input should be an integer, float, string or Decimal object');
      const parts = parseDecimal(text);
      if (!parts) {
        if (NON_FINITE_TEXT.test(text)) return fail('finite_number', 'Input should be a finite number');
        return fail('decimal_parsing', 'Input should be a valid decimal');
      }
      const places = placesOf(parts);
      const wholeDigits = wholeDigitsOf(parts);
      if (wholeDigits + places > maxDigits) {
        return fail('decimal_max_digits', `Decimal input should have no more than ${maxDigits} digit${maxDigits === 1 ? '' : 's'} in total`, {
          max_digits: maxDigits,
        });
      }
      if (places > maxPlaces) {
        return fail('decimal_max_places', `Decimal input should have no more than ${maxPlaces} decimal place${maxPlaces === 1 ? '' : 's'}`, {
          decimal_places: maxPlaces,
        });
      }
      // Pydantic's third digit check. Without it "1234567890123" passes max_digits 18 yet overflows
      // the NUMERIC(18, 6) column it is meant for (a 500 instead of a 422).
      const wholeDigitsMax = maxDigits - maxPlaces;
      if (wholeDigits > wholeDigitsMax) {
        return fail(
          'decimal_whole_digits',
          `Decimal input should have no more than ${wholeDigitsMax} digit${wholeDigitsMax === 1 ? '' : 's'} before the decimal point`,
          { whole_digits: wholeDigitsMax },
        );
      }
      // FastAPI renders a Decimal bound in ctx as a JSON number (its decimal_encoder), the message as written.
      if (gtParts && compareDecimal(parts, gtParts) <= 0) return fail('greater_than', `Input should be greater than ${gt}`, { gt: Number(gt) });
      if (geParts && compareDecimal(parts, geParts) < 0) {
        return fail('greater_than_equal', `Input should be greater than or equal to ${ge}`, { ge: Number(ge) });
      }
      if (ltParts && compareDecimal(parts, ltParts) >= 0) return fail('less_than', `Input should be less than ${lt}`, { lt: Number(lt) });
      return ok(canonicalDecimal(parts, maxPlaces));
    },
  };
}

/** A fiat amount: > 0, at most the currency's 2 decimals, at most 12 whole digits. */
export function fiatAmount(d: Doc = {}): Field<string> {
  return decimal({ gt: '0', maxPlaces: FIAT_DECIMALS, maxDigits: 14, ...d });
}

/** A USDT amount a merchant or trader types: > 0, at most 2 decimals, at most 12 whole digits. */
export function usdtAmount(d: Doc = {}): Field<string> {
  return decimal({ gt: '0', maxPlaces: USDT_AMOUNT_DECIMALS, maxDigits: 14, ...d });
}

// ---------------------------------------------------------------------------------------------
// Lists: every item checked, each violation at its index (Pydantic's list[...]).

export interface ArrayOptions extends Doc {
  min?: number;
  max?: number;
}

export function array<T>(item: Field<T>, options: ArrayOptions = {}): Field<T[]> {
  const { min, max } = options;
  const schema: JsonSchema = { type: 'array', items: item.schema };
  if (min !== undefined) schema.minItems = min;
  if (max !== undefined) schema.maxItems = max;
  const items = (n: number) => `${n} item${n === 1 ? '' : 's'}`;
  return {
    schema: doc(schema, options),
    required: true,
    parse(input) {
      if (!Array.isArray(input)) return fail('list_type', 'Input should be a valid list');
      if (min !== undefined && input.length < min) {
        return fail('too_short', `List should have at least ${items(min)} after validation, not ${input.length}`, {
          field_type: 'List',
          min_length: min,
          actual_length: input.length,
        });
      }
      if (max !== undefined && input.length > max) {
        return fail('too_long', `List should have at most ${items(max)} after validation, not ${input.length}`, {
          field_type: 'List',
          max_length: max,
          actual_length: input.length,
        });
      }
      const values: T[] = [];
      const nested: ValidationIssue[] = [];
      for (const [index, element] of input.entries()) {
        const parsed = item.parse(element);
        if (parsed.ok) values.push(parsed.value);
        else if (parsed.nested) for (const n of parsed.nested) nested.push({ ...n, loc: [index, ...n.loc] });
        else {
          const { type, msg, ctx } = parsed.issue;
          nested.push(ctx ? { type, loc: [index], msg, input: element, ctx } : { type, loc: [index], msg, input: element });
        }
      }
      const [first] = nested;
      return first ? { ok: false, issue: { type: first.type, msg: first.msg }, nested } : ok(values);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// TRON addresses: base58check of 21 bytes (the version byte 0x41, then 20 bytes of the account)
// and 4 bytes of checksum, the first 4 of SHA-256(SHA-256(those 21 bytes)). Always 34 characters
// starting with T. A typo fails the checksum here, rather than sending USDT nowhere.

const TRON_ADDRESS_VERSION = 0x41;
const TRON_ADDRESS_PAYLOAD_BYTES = 21;
const TRON_ADDRESS_CHECKSUM_BYTES = 4;
const TRON_ADDRESS_LENGTH = 34;

/** Why a text is not a TRON address, or null if it is one. */
export function tronAddressProblem(text: string): string | null {
  if (text.length !== TRON_ADDRESS_LENGTH || !text.startsWith('T')) return 'a TRON address has 34 characters and starts with T';
  let bytes: Uint8Array;
  try {
    bytes = base58.decode(text);
  } catch {
    return 'a TRON address is written in base58 (no 0, O, I or l)';
  }
  if (bytes.length !== TRON_ADDRESS_PAYLOAD_BYTES + TRON_ADDRESS_CHECKSUM_BYTES || bytes[0] !== TRON_ADDRESS_VERSION) {
    return 'not a TRON address (version byte 0x41)';
  }
  const payload = bytes.subarray(0, TRON_ADDRESS_PAYLOAD_BYTES);
  const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest();
  const checksum = sha256(sha256(payload)).subarray(0, TRON_ADDRESS_CHECKSUM_BYTES);
  if (!checksum.equals(bytes.subarray(TRON_ADDRESS_PAYLOAD_BYTES))) return 'the TRON address checksum does not match (a typo?)';
  return null;
}

export function tronAddress(d: Doc = {}): Field<string> {
  return {
    schema: doc({ type: 'string', minLength: TRON_ADDRESS_LENGTH, maxLength: TRON_ADDRESS_LENGTH, pattern: '^T[1-9A-HJ-NP-Za-km-z]{33}$' }, d),
    required: true,
    parse(input) {
      if (typeof input !== 'string') return fail('string_type', 'Input should be a valid string');
      const problem = tronAddressProblem(input);
      if (problem) return fail('value_error', `Value error, ${problem}`, { error: problem });
      return ok(input);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// URLs

export interface UrlOptions extends Doc {
  schemes: readonly ('http' | 'https')[];
  maxLength: number;
  /** Further checks on the parsed URL (SSRF rules); returns a scheme or value error, or null. */
  check?: (url: URL) => { type: 'url_scheme' | 'value_error'; msg: string } | null;
}

export function url(options: UrlOptions): Field<string> {
  const { schemes, maxLength, check } = options;
  const expected = schemes.map((s) => `'${s}'`).join(' or ');
  return {
    schema: doc({ type: 'string', format: 'uri', maxLength }, options),
    required: true,
    parse(input) {
      if (typeof input !== 'string') return fail('url_type', 'URL input should be a string or URL');
      if (LONE_SURROGATE.test(input)) return notUnicode();
      // Pydantic measures the input in UTF-8 bytes, though its message says characters.
      if (Buffer.byteLength(input, 'utf8') > maxLength) {
        return fail('url_too_long', `URL should have at most ${maxLength} characters`, { max_length: maxLength });
      }
      if (input === '') return fail('url_parsing', 'Input should be a valid URL, input is empty', { error: 'input is empty' });
      let parsed: URL;
      try {
        parsed = new URL(input);
      } catch {
        const error = urlParsingError(input);
        return fail('url_parsing', `Input should be a valid URL, ${error}`, { error });
      }
      const scheme = parsed.protocol.slice(0, -1);
      if (!(schemes as readonly string[]).includes(scheme)) {
        return fail('url_scheme', `URL scheme should be ${expected}`, { expected_schemes: expected });
      }
      const problem = check?.(parsed);
      if (problem?.type === 'url_scheme') return fail('url_scheme', problem.msg, { expected_schemes: "'https'" });
      if (problem) return fail('value_error', `Value error, ${problem.msg}`, { error: problem.msg });
      if (input.includes(NUL)) return fail('value_error', `Value error, ${NUL_MESSAGE}`, { error: NUL_MESSAGE });
      return ok(input);
    },
  };
}

// Node's URL parser and Pydantic's (the Rust url crate) both implement the WHATWG URL standard,
// so they accept and refuse the same inputs; but Node's error gives no reason. The reason Pydantic
// names is worked out here from the part that broke, in the order the Rust parser checks them:
// the scheme, then the host, then the port.

const SPECIAL_SCHEMES = new Set(['http', 'https', 'ws', 'wss', 'ftp', 'file']);
// Removed by every WHATWG parser before it starts: C0 controls and spaces around the input, and
// tabs and newlines anywhere.
// eslint-disable-next-line no-control-regex
const URL_EDGE_JUNK = /^[\u0000-\u0020]+|[\u0000-\u0020]+$/g;
const URL_TAB_OR_NEWLINE = /[\t\n\r]/g;
// The WHATWG forbidden domain code points, which IDNA refuses after percent-decoding.
// eslint-disable-next-line no-control-regex
const FORBIDDEN_DOMAIN_CHARACTER = /[\u0000-\u0020#%/:<>?@[\\\]^|\u007f]/;

function urlParsingError(input: string): string {
  const text = input.replace(URL_EDGE_JUNK, '').replace(URL_TAB_OR_NEWLINE, '');
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(text);
  if (!scheme) return 'relative URL without a base';
  const special = SPECIAL_SCHEMES.has((scheme[1] ?? '').toLowerCase());
  let rest = text.slice(scheme[0].length);
  if (special) rest = rest.replace(/^[/\\]+/, '');
  else rest = rest.slice(2); // a non-special URL fails only in an authority, after "//"
  const authority = rest.split(special ? /[/\\?#]/ : /[/?#]/)[0] ?? '';
  const hostAndPort = authority.slice(authority.lastIndexOf('@') + 1);
  const bracketEnd = hostAndPort.startsWith('[') ? hostAndPort.indexOf(']') : -1;
  const colon = hostAndPort.indexOf(':', bracketEnd + 1);
  const host = colon === -1 ? hostAndPort : hostAndPort.slice(0, colon);
  const hostProblem = hostParsingError(host, special, colon !== -1);
  if (hostProblem) return hostProblem;
  if (colon !== -1) return 'invalid port number';
  return special ? 'invalid international domain name' : 'invalid domain character';
}

/** Why a URL's host is refused, or null if it is a valid host. */
function hostParsingError(host: string, special: boolean, port: boolean): string | null {
  if (host === '') return special || port ? 'empty host' : null;
  try {
    new URL(`${special ? 'http' : 'kasa'}://${host}/`);
    return null;
  } catch {
    // refused: find out why below
  }
  if (host.startsWith('[')) return 'invalid IPv6 address';
  if (!special) return 'invalid domain character';
  let decoded: string;
  try {
    decoded = decodeURIComponent(host);
  } catch {
    return 'invalid international domain name'; // a broken escape decodes to U+FFFD, which IDNA refuses
  }
  if (FORBIDDEN_DOMAIN_CHARACTER.test(decoded)) return 'invalid international domain name';
  // A trailing label that is not a number makes the host a domain for IDNA alone, so what is
  // left shows whether the host mapped to nothing or ends in a number (an IPv4 address).
  const mapped = domainToASCII(`${decoded}.a`);
  if (mapped === '') return 'invalid international domain name';
  const domain = mapped.slice(0, -'.a'.length);
  if (domain === '') return 'empty host';
  if (endsInNumber(domain)) return 'invalid IPv4 address';
  return 'invalid international domain name';
}

/** The WHATWG "ends in a number" test: such a host must be a valid IPv4 address. */
function endsInNumber(domain: string): boolean {
  const labels = domain.split('.');
  if (labels.at(-1) === '' && labels.length > 1) labels.pop();
  const last = labels.at(-1) ?? '';
  return /^[0-9]+$/.test(last) || /^0x[0-9a-f]*$/i.test(last);
}

// ---------------------------------------------------------------------------------------------
// Optional fields and models

/** Absent or null → undefined (Pydantic's `Optional[...] = None`). */
export function optional<T>(field: Field<T>): Field<T | undefined> {
  return {
    schema: { ...field.schema, ...('type' in field.schema ? { type: [field.schema.type, 'null'] } : {}) },
    required: false,
    parse(input) {
      if (input === undefined || input === null) return ok(undefined);
      return field.parse(input);
    },
  };
}

/** For PATCH bodies: absent → undefined (keep), null → null (clear). */
export function nullable<T>(field: Field<T>): Field<T | null | undefined> {
  return {
    schema: { ...field.schema, ...('type' in field.schema ? { type: [field.schema.type, 'null'] } : {}) },
    required: false,
    parse(input) {
      if (input === undefined) return ok(undefined);
      if (input === null) return ok(null);
      return field.parse(input);
    },
  };
}

type Fields = Record<string, Field<unknown>>;
export type Infer<F extends Fields> = { [K in keyof F]: F[K] extends Field<infer T> ? T : never };

/** The value a model's validator produces. */
export type ModelValue<M> = M extends Model<infer T> ? T : never;

declare const VALUE: unique symbol;
/** A model's JSON Schema, carrying (for the compiler only) the type of the value it validates to. */
export type ModelSchema<T> = JsonSchema & { readonly [VALUE]?: T };

/**
 * Types `request.body`, `.query` and `.params` from the model a route's schema was made with,
 * the same model whose validator produced the value: a schema not made by model() gives unknown.
 */
export interface KasaTypeProvider extends FastifyTypeProvider {
  readonly validator: this['schema'] extends ModelSchema<infer T> ? T : unknown;
  readonly serializer: unknown;
}

/** The Fastify instance route plugins receive. */
export type KasaApp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, KasaTypeProvider>;

export type ValidationResult<T> = { ok: true; value: T } | { ok: false; issues: ValidationIssue[] };

export interface Model<T> {
  readonly schema: ModelSchema<T>;
  /** A body that may be left out (or sent empty): then every field takes its default. */
  readonly bodyOptional?: boolean;
  /** Validates `input` found at `loc` ("body", "query", "path"); lists every violation. */
  validate(input: unknown, loc: string): ValidationResult<T>;
}

/** A request body that may be absent: absent, null or empty is `{}`, each field its default. */
export function optionalBody<T>(inner: Model<T>): Model<T> {
  const result: Model<T> = {
    schema: { ...inner.schema },
    bodyOptional: true,
    validate: (input, loc) => inner.validate(input === undefined || input === null ? {} : input, loc),
  };
  MODELS.set(result.schema, result as Model<unknown>);
  return result;
}

/** The model a route schema was made from; Fastify's validator compiler looks it up here. */
const MODELS = new WeakMap<JsonSchema, Model<unknown>>();

export function modelOf(schema: unknown): Model<unknown> | undefined {
  return typeof schema === 'object' && schema !== null ? MODELS.get(schema as JsonSchema) : undefined;
}

export function model<F extends Fields>(fields: F, d: Doc = {}): Model<Infer<F>> {
  const entries = Object.entries(fields);
  const schema = doc(
    {
      type: 'object',
      properties: Object.fromEntries(entries.map(([name, field]) => [name, field.schema])),
      required: entries.filter(([, field]) => field.required).map(([name]) => name),
    },
    d,
  );
  const result: Model<Infer<F>> = {
    schema,
    validate(input, loc) {
      if (typeof input !== 'object' || input === null || Array.isArray(input)) {
        if (input === undefined || input === null) {
          return { ok: false, issues: [{ type: 'missing', loc: [loc], msg: 'Field required', input: null }] };
        }
        return {
          ok: false,
          issues: [{ type: 'model_attributes_type', loc: [loc], msg: 'Input should be a valid dictionary or object to extract fields from', input }],
        };
      }
      const record = input as Record<string, unknown>;
      const value: Record<string, unknown> = {};
      const issues: ValidationIssue[] = [];
      for (const [name, field] of entries) {
        const raw = Object.prototype.hasOwnProperty.call(record, name) ? record[name] : undefined;
        if (raw === undefined && field.required) {
          issues.push({ type: 'missing', loc: [loc, name], msg: 'Field required', input: record });
          continue;
        }
        const parsed = field.parse(raw);
        if (parsed.ok) value[name] = parsed.value;
        else if (parsed.nested) {
          for (const n of parsed.nested) {
            const at = [loc, name, ...n.loc];
            issues.push(n.ctx ? { type: n.type, loc: at, msg: n.msg, input: n.input, ctx: n.ctx } : { type: n.type, loc: at, msg: n.msg, input: n.input });
          }
        } else {
          // Pydantic's key order: type, loc, msg, input, ctx.
          const { type, msg, ctx } = parsed.issue;
          issues.push(ctx ? { type, loc: [loc, name], msg, input: raw, ctx } : { type, loc: [loc, name], msg, input: raw });
        }
      }
      return issues.length ? { ok: false, issues } : { ok: true, value: value as Infer<F> };
    },
  };
  MODELS.set(schema, result as Model<unknown>);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Tagged unions: an object whose discriminator field names which model it is (Pydantic's
// discriminated union), violations located under the tag as Pydantic locates them
// (["body", "rate_source", "http_json", "url"]).

type VariantValue<K extends string, V extends Record<string, Model<unknown>>> = {
  [T in keyof V & string]: ModelValue<V[T]> & { [P in K]: T };
}[keyof V & string];

/** Each variant model declares the discriminator itself, as enumeration([tag]), so its schema is whole. */
export function taggedUnion<K extends string, V extends Record<string, Model<unknown>>>(discriminator: K, variants: V, d: Doc = {}): Field<VariantValue<K, V>> {
  const tags = Object.keys(variants);
  const expected = tags.map((t) => `'${t}'`).join(', ');
  const quoted = `'${discriminator}'`;
  return {
    // oneOf alone: each variant's enumeration of its tag already tells them apart, and an OpenAPI
    // discriminator can only select named ($ref) schemas.
    schema: doc({ oneOf: Object.values(variants).map((v) => v.schema) }, d),
    required: true,
    parse(input) {
      if (typeof input !== 'object' || input === null || Array.isArray(input)) {
        return fail('model_attributes_type', 'Input should be a valid dictionary or object to extract fields from');
      }
      const tag = (input as Record<string, unknown>)[discriminator];
      if (tag === undefined) return fail('union_tag_not_found', `Unable to extract tag using discriminator ${quoted}`, { discriminator: quoted });
      const variant = typeof tag === 'string' && Object.prototype.hasOwnProperty.call(variants, tag) ? variants[tag] : undefined;
      if (!variant) {
        return fail('union_tag_invalid', `Input tag '${String(tag)}' found using ${quoted} does not match any of the expected tags: ${expected}`, {
          discriminator: quoted,
          tag: String(tag),
          expected_tags: expected,
        });
      }
      const result = variant.validate(input, tag as string);
      if (result.ok) return ok(result.value as VariantValue<K, V>);
      const first = result.issues[0]!;
      return { ok: false, issue: { type: first.type, msg: first.msg }, nested: result.issues };
    },
  };
}
