// Request fields of the trader API that are the traders' own: a card number as a trader types it.
import type { Field } from '../http/validation.ts';
import { luhnValid } from './card.ts';

/** A card number field: spaces and dashes allowed in input, 12–19 digits, Luhn-valid. */
export function cardNumber(): Field<string> {
  return {
    schema: { type: 'string', description: 'Card number (12–19 digits, Luhn-valid; spaces allowed)', examples: ['4149 4999 1234 1234'] },
    required: true,
    parse(input) {
      if (typeof input !== 'string') return { ok: false, issue: { type: 'string_type', msg: 'Input should be a valid string' } };
      const digits = input.replace(/[\s-]/g, '');
      if (!/^\d{12,19}$/.test(digits)) {
        const msg = 'card number must have 12 to 19 digits';
        return { ok: false, issue: { type: 'value_error', msg: `Value error, ${msg}`, ctx: { error: msg } } };
      }
      if (!luhnValid(digits)) {
        const msg = 'card number fails the Luhn check';
        return { ok: false, issue: { type: 'value_error', msg: `Value error, ${msg}`, ctx: { error: msg } } };
      }
      return { ok: true, value: digits };
    },
  };
}
