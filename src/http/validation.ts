// Request models: one declaration gives both the JSON Schema that documents a route in the
// OpenAPI document and the validator that checks it.
//
// Hand-written because the merchant API's contract is FastAPI's: a 422 whose `detail` lists every
// violation with Pydantic v2's error types and messages (`missing`, `string_too_long`,
// `decimal_max_places`, `url_scheme`…). No JSON Schema validator produces those; translating
// Ajv's keywords loses the distinctions the contract needs (a decimal's places and digits, a
// URL's scheme vs. its syntax), so the checks and their messages live here, next to the schema
// they document.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance, FastifyTypeProvider, RawServerDefault } from 'fastify';
import type { ValidationIssue } from '../errors.ts';
import { FIAT_DECIMALS } from '../money.ts';

export type { ValidationIssue };

export type JsonSchema = Record<string, unknown>;
export type Loc = (string | number)[];


type Issue = Omit<ValidationIssue, 'loc' | 'input'>;
type Parsed<T> = { ok: true; value: T } | { ok: false; issue: Issue };

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

export function enumeration<const V extends string>(values: readonly V[], d: Doc = {}): Field<V> {
  const expected = values.map((v) => `'${v}'`).join(values.length > 2 ? ', ' : ' or ').replace(/, ([^,]*)$/, ' or $1');
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

const DECIMAL_TEXT = /^([+-]?)(\d+\.?\d*|\.\d+)(?:[eE]([+-]?\d{1,6}))?$/;

interface DecimalParts {
  negative: boolean;
  /** Significant digits without leading zeros ("" for zero). */
  digits: string;
  /** value = digits × 10^-scale; scale may be negative. */
  scale: number;
}

function decimalParts(text: string): DecimalParts | null {
  const match = DECIMAL_TEXT.exec(text.trim());
  if (!match) return null;
  const [, sign, mantissa = '', exponent = '0'] = match;
  const [whole = '', fraction = ''] = mantissa.split('.');
  let digits = (whole + fraction).replace(/^0+/, '');
  let scale = fraction.length - Number(exponent);
  // Normalize: trailing zeros carry no value ("1500.000" has 0 decimal places, like Decimal.normalize()).
  while (digits.endsWith('0')) {
    digits = digits.slice(0, -1);
    scale -= 1;
  }
  if (digits === '') scale = 0;
  return { negative: sign === '-' && digits !== '', digits, scale };
}

function compareDecimal(a: DecimalParts, b: DecimalParts): number {
  const sign = (p: DecimalParts) => (p.digits === '' ? 0 : p.negative ? -1 : 1);
  if (sign(a) !== sign(b)) return Math.sign(sign(a) - sign(b));
  const scale = Math.max(a.scale, b.scale, 0);
  const scaled = (p: DecimalParts) => BigInt(p.digits || '0') * 10n ** BigInt(scale - p.scale);
  const x = scaled(a) * BigInt(sign(a) || 1);
  const y = scaled(b) * BigInt(sign(b) || 1);
  return x < y ? -1 : x > y ? 1 : 0;
}

function canonical(p: DecimalParts, places: number): string {
  if (p.digits === '') return places > 0 ? '0.' + '0'.repeat(places) : '0';
  const padded = p.digits + '0'.repeat(Math.max(0, places - p.scale));
  const intLength = padded.length - places;
  const whole = intLength > 0 ? padded.slice(0, intLength) : '0';
  const fraction = intLength >= 0 ? padded.slice(intLength) : '0'.repeat(-intLength) + padded;
  return (p.negative ? '-' : '') + whole + (places > 0 ? '.' + fraction : '');
}

export function decimal(options: DecimalOptions): Field<string> {
  const { gt, ge, lt, maxPlaces, maxDigits } = options;
  const bound = (b: string | undefined) => (b === undefined ? null : decimalParts(b));
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
      if (typeof input === 'string') text = input;
      else if (typeof input === 'number' && Number.isFinite(input)) text = String(input);
      else if (typeof input === 'number') return fail('finite_number', 'Input should be a finite number');
      else return fail('decimal_type', 'Decimal input should be an integer, float, string or Decimal object');
      const parts = decimalParts(text);
      if (!parts) {
        if (/^\s*[+-]?(nan|inf|infinity)\s*$/i.test(text)) return fail('finite_number', 'Input should be a finite number');
        return fail('decimal_parsing', 'Input should be a valid decimal');
      }
      const places = Math.max(0, parts.scale);
      const wholeDigits = Math.max(0, parts.digits.length - parts.scale);
      if (wholeDigits + places > maxDigits) {
        return fail('decimal_max_digits', `Decimal input should have no more than ${maxDigits} digit${maxDigits === 1 ? '' : 's'} in total`, { max_digits: maxDigits });
      }
      if (places > maxPlaces) {
        return fail('decimal_max_places', `Decimal input should have no more than ${maxPlaces} decimal place${maxPlaces === 1 ? '' : 's'}`, { decimal_places: maxPlaces });
      }
      // Pydantic's third digit check. Without it "1234567890123" passes max_digits 18 yet overflows
      // the NUMERIC(18, 6) column it is meant for (a 500 instead of a 422).
      const wholeDigitsMax = maxDigits - maxPlaces;
      if (wholeDigits > wholeDigitsMax) {
        return fail('decimal_whole_digits', `Decimal input should have no more than ${wholeDigitsMax} digit${wholeDigitsMax === 1 ? '' : 's'} before the decimal point`, { whole_digits: wholeDigitsMax });
      }
      if (gtParts && compareDecimal(parts, gtParts) <= 0) return fail('greater_than', `Input should be greater than ${gt}`, { gt });
      if (geParts && compareDecimal(parts, geParts) < 0) {
        return fail('greater_than_equal', `Input should be greater than or equal to ${ge}`, { ge });
      }
      if (ltParts && compareDecimal(parts, ltParts) >= 0) return fail('less_than', `Input should be less than ${lt}`, { lt });
      return ok(canonical(parts, maxPlaces));
    },
  };
}

/** A fiat amount: > 0, at most the currency's 2 decimals, at most 12 whole digits. */
export function fiatAmount(d: Doc = {}): Field<string> {
  return decimal({ gt: '0', maxPlaces: FIAT_DECIMALS, maxDigits: 14, ...d });
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
      if (input.length > maxLength) {
        return fail('url_too_long', `URL should have at most ${maxLength} characters`, { max_length: maxLength });
      }
      if (input.trim() === '') return fail('url_parsing', 'Input should be a valid URL, input is empty', { error: 'input is empty' });
      let parsed: URL;
      try {
        parsed = new URL(input);
      } catch {
        const error = /^[a-z][a-z0-9+.-]*:/i.test(input) ? 'invalid URL' : 'relative URL without a base';
        return fail('url_parsing', `Input should be a valid URL, ${error}`, { error });
      }
      const scheme = parsed.protocol.slice(0, -1);
      if (!(schemes as readonly string[]).includes(scheme)) {
        return fail('url_scheme', `URL scheme should be ${expected}`, { expected_schemes: expected });
      }
      if (!parsed.hostname) return fail('url_parsing', 'Input should be a valid URL, empty host', { error: 'empty host' });
      const problem = check?.(parsed);
      if (problem?.type === 'url_scheme') return fail('url_scheme', problem.msg, { expected_schemes: "'https'" });
      if (problem) return fail('value_error', `Value error, ${problem.msg}`, { error: problem.msg });
      if (input.includes(NUL)) return fail('value_error', `Value error, ${NUL_MESSAGE}`, { error: NUL_MESSAGE });
      return ok(input);
    },
  };
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
  /** Validates `input` found at `loc` ("body", "query", "path"); lists every violation. */
  validate(input: unknown, loc: string): ValidationResult<T>;
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
        else {
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
