// Sends one webhook attempt over HTTP with the delivery-time SSRF guard: the target's host is
// resolved once, every resolved address is checked, and the connection goes to the address
// that was checked (undici's connect.lookup), so a DNS answer that changes between check and
// connect (rebinding) cannot reach an internal address. Redirects are never followed.
import dns from 'node:dns';
import net from 'node:net';
import { Agent, request } from 'undici';
import { keptPrefix, RESPONSE_BODY_BYTES_MAX } from './answer.ts';
import { isBlockedAddress } from './ssrf.ts';

/** A 2xx within this long is a success; anything slower is a failed attempt. */
export const DELIVERY_TIMEOUT_MS = 15_000;

export interface AttemptResult {
  statusCode: number | null;
  durationMs: number;
  /** The answer's first RESPONSE_BODY_BYTES_MAX bytes, exactly as sent (see keptPrefix). */
  responseBody: Buffer | null;
  /** Connection, timeout, TLS or SSRF error; null when an HTTP answer came back. */
  error: string | null;
  /** Seconds from a Retry-After header, when one came with the answer. */
  retryAfterSeconds: number | null;
}

export class BlockedTargetError extends Error {
  override name = 'BlockedTargetError';
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

function guardedLookup(hostname: string, options: dns.LookupOptions, callback: LookupCallback): void {
  dns.lookup(hostname, { all: true }, (error, addresses) => {
    if (error) return callback(error, []);
    const blocked = addresses.find((a) => isBlockedAddress(a.address));
    if (blocked) {
      return callback(new BlockedTargetError(`target ${hostname} resolves to blocked address ${blocked.address}`), []);
    }
    const first = addresses[0];
    if (!first) return callback(new Error(`target ${hostname} has no address`), []);
    // Hand back exactly the checked addresses: the socket connects to one of them, no second lookup.
    if (options.all) return callback(null, addresses);
    callback(null, first.address, first.family);
  });
}

export class WebhookSender {
  private readonly agent: Agent;

  constructor(private readonly allowPrivate: boolean) {
    this.agent = new Agent({
      connect: allowPrivate ? { timeout: DELIVERY_TIMEOUT_MS } : { timeout: DELIVERY_TIMEOUT_MS, lookup: guardedLookup as never },
      headersTimeout: DELIVERY_TIMEOUT_MS,
      bodyTimeout: DELIVERY_TIMEOUT_MS,
      keepAliveTimeout: 10_000,
    });
  }

  async send(url: string, headers: Record<string, string>, body: string): Promise<AttemptResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    try {
      const target = new URL(url);
      const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
      // An IP literal is connected to without a lookup, so it is checked here.
      if (!this.allowPrivate && net.isIP(host) && isBlockedAddress(host)) {
        throw new BlockedTargetError(`target address ${host} is blocked`);
      }
      const response = await request(url, {
        method: 'POST',
        headers,
        body,
        dispatcher: this.agent,
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
      });
      const responseBody = await readPrefix(response.body, RESPONSE_BODY_BYTES_MAX);
      return {
        statusCode: response.statusCode,
        durationMs: elapsed(),
        responseBody,
        error: null,
        retryAfterSeconds: parseRetryAfter(response.headers['retry-after']),
      };
    } catch (error) {
      return { statusCode: null, durationMs: elapsed(), responseBody: null, error: describe(error), retryAfterSeconds: null };
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

/**
 * Reads the answer only until more than `limit` bytes are in (one chunk past it at most, never
 * the whole of a large or endless answer), then drops the connection with the rest unread. Time
 * is bounded by the request's signal, which also covers the body. The bytes are not decoded
 * here: whatever a receiver sends must reach the attempt log intact.
 */
async function readPrefix(body: AsyncIterable<Buffer> & { destroy(): void }, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size > limit) break; // one byte past the limit tells keptPrefix the answer was cut
  }
  body.destroy();
  return keptPrefix(Buffer.concat(chunks), limit);
}

function parseRetryAfter(value: string | string[] | undefined): number | null {
  const raw = Array.isArray(value) ? value[0] : value;
  if (!raw) return null;
  if (/^\d+$/.test(raw.trim())) return Number(raw.trim());
  const date = Date.parse(raw);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

function describe(error: unknown): string {
  const e = error as { name?: string; code?: string; message?: string; cause?: { message?: string; code?: string } };
  if (e.name === 'BlockedTargetError') return `blocked: ${e.message}`;
  if (e.name === 'TimeoutError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT') {
    return `timeout after ${DELIVERY_TIMEOUT_MS} ms`;
  }
  const cause = e.cause?.message ? ` (${e.cause.code ?? ''} ${e.cause.message})` : '';
  // The error is stored as text, which cannot hold a NUL: a message that quoted one would again
  // make the attempt's record fail.
  return `${e.code ?? e.name ?? 'Error'}: ${e.message ?? String(error)}${cause}`.slice(0, 500).replaceAll('\0', '\\0');
}
