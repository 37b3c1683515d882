// Card numbers: validated with the Luhn check, stored as digits, shown in full only to the
// trader who owns the card and to the customer of that card's open deal; masked elsewhere.
import type { Field } from '../http/validation.ts';

export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** "4149499912341234" → "4149 **** **** 1234". */
export function maskCard(digits: string): string {
  return `${digits.slice(0, 4)} **** **** ${digits.slice(-4)}`;
}

/** "4149499912341234" → "4149 4999 1234 1234", for reading aloud and copying by eye. */
export function groupCard(digits: string): string {
  return digits.replace(/(\d{4})(?=\d)/g, '$1 ');
}

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
