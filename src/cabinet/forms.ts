// Reading form bodies (application/x-www-form-urlencoded). A form field is text of bounded
// length or absent; anything else a client sends (a repeated field, an object) reads as absent,
// so a forged form gets a clear page, never a 500.
import { optional, string } from '../http/validation.ts';

export type FormBody = Record<string, unknown> | undefined;

/** The field's text, cut to `maxChars`; '' when absent or not a single value. */
export function formText(body: unknown, name: string, maxChars: number): string {
  const value = (body as FormBody)?.[name];
  return typeof value === 'string' ? value.slice(0, maxChars) : '';
}

/** A checkbox: present (any value) means on. */
export function formFlag(body: unknown, name: string): boolean {
  return typeof (body as FormBody)?.[name] === 'string';
}

/**
 * `?lang=` in a page's query model: a model keeps only the fields it names, and the page's
 * language is read from the query after it.
 */
export const LANG_QUERY = optional(string({ max: 16, description: 'uk or en; remembered in a cookie' }));
