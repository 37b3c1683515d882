// Fetches one quote from an http_json source: a GET with a timeout on the whole exchange, an
// answer read only up to QUOTE_RESPONSE_BYTES_MAX, the JSONPath applied, and the selected
// value's text exactly as the source wrote it. A source is configured by the operator, so it
// may be on a private or loopback address (webhook targets may not); redirects are not followed.
import { exec } from 'jsonpath-rfc9535';
import { isLosslessNumber, parse as parseLossless } from 'lossless-json';
import { Agent, request } from 'undici';
import type { QuoteRefusal } from '../db/schema.ts';

/** The whole exchange (connect, headers, body) within this long, or the quote is refused as a timeout. */
export const QUOTE_FETCH_TIMEOUT_MS = 5_000;
/** A price answer is small; a larger one is refused rather than read. */
export const QUOTE_RESPONSE_BYTES_MAX = 64 * 1024;
/** What a quote keeps of the selected value's text, for the operator to read. */
export const QUOTE_TEXT_CHARS_MAX = 100;

export type FetchedQuote =
  | { ok: true; httpStatus: number; text: string }
  | {
      ok: false;
      httpStatus: number | null;
      reason: Extract<QuoteRefusal, 'http_status' | 'timeout' | 'fetch_failed' | 'too_large' | 'invalid_json' | 'no_match' | 'not_a_number'>;
      text: string | null;
    };

export class QuoteFetcher {
  private readonly agent = new Agent({ keepAliveTimeout: 10_000 });

  async fetch(url: string, jsonPath: string, timeoutMs = QUOTE_FETCH_TIMEOUT_MS): Promise<FetchedQuote> {
    let httpStatus: number | null = null;
    try {
      const signal = AbortSignal.timeout(timeoutMs);
      const response = await request(url, { method: 'GET', headers: { accept: 'application/json' }, dispatcher: this.agent, signal });
      httpStatus = response.statusCode;
      if (httpStatus < 200 || httpStatus > 299) {
        // Read and dropped (up to undici's small limit) so the connection can be reused.
        await response.body.dump();
        return { ok: false, httpStatus, reason: 'http_status', text: null };
      }
      const body = await readAtMost(response.body, QUOTE_RESPONSE_BYTES_MAX);
      if (body === null) return { ok: false, httpStatus, reason: 'too_large', text: null };
      return { httpStatus, ...select(body.toString('utf8'), jsonPath) };
    } catch (error) {
      const e = error as { name?: string; code?: string };
      const timeout = e.name === 'TimeoutError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT';
      return { ok: false, httpStatus, reason: timeout ? 'timeout' : 'fetch_failed', text: null };
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

/** The body, or null once it is longer than `limit`: leaving the loop closes the stream, the rest unread. */
async function readAtMost(body: AsyncIterable<Buffer>, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * The one value the path selects, as text. A JSON number is read a second time by lossless-json
 * at the path the query reported, because JSON.parse would make it a float and lose digits
 * (41.123456789012345678 → 41.123456789012344); the query itself runs on the plain value, so
 * filters compare numbers as numbers.
 */
function select(
  json: string,
  jsonPath: string,
): { ok: true; text: string } | { ok: false; reason: 'invalid_json' | 'no_match' | 'not_a_number'; text: string | null } {
  let plain: unknown;
  try {
    plain = JSON.parse(json);
  } catch {
    return { ok: false, reason: 'invalid_json', text: null };
  }
  const found: (string | number)[][] = [];
  exec(plain as never, jsonPath, (_value, path) => found.push([...path]));
  const path = found[0];
  if (found.length !== 1 || path === undefined) return { ok: false, reason: 'no_match', text: null };
  let node: unknown;
  try {
    node = at(parseLossless(json), path);
  } catch {
    return { ok: false, reason: 'invalid_json', text: null };
  }
  if (typeof node === 'string') return { ok: true, text: node };
  if (isLosslessNumber(node)) return { ok: true, text: node.value };
  // An object, an array, true, false or null: kept as JSON text for the operator to read.
  return { ok: false, reason: 'not_a_number', text: (JSON.stringify(at(plain, path)) ?? 'null').slice(0, QUOTE_TEXT_CHARS_MAX) };
}

function at(value: unknown, path: (string | number)[]): unknown {
  return path.reduce<unknown>((node, key) => (node as Record<string | number, unknown>)[key], value);
}
