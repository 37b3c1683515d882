// A real HTTP client for tests that talk to Kasa processes (undici, keep-alive), which never
// throws for a network failure: a request ends in an answer (any status) or in a classified
// failure — "refused" (the connection was never made: the request certainly did not arrive) or
// "lost" (sent, or maybe sent, and no answer came: it may or may not have taken effect).
import { Agent, request } from 'undici';

export type Answer =
  | { kind: 'answer'; status: number; headers: Record<string, string | string[] | undefined>; text: string; json: any }
  | { kind: 'refused'; error: string }
  | { kind: 'lost'; error: string };

export interface SendOptions {
  headers?: Record<string, string>;
  /** Sent as application/json. */
  json?: unknown;
  /** Sent as application/x-www-form-urlencoded. */
  form?: Record<string, string>;
  timeoutMs?: number;
}

const REFUSED_CODES = new Set(['ECONNREFUSED']);

function errorCode(error: unknown): string {
  const e = error as { code?: unknown; cause?: { code?: unknown }; message?: unknown };
  if (typeof e?.code === 'string' && e.code !== 'UND_ERR_SOCKET') return e.code;
  if (typeof e?.cause?.code === 'string') return e.cause.code;
  if (typeof e?.code === 'string') return e.code;
  return String(e?.message ?? error);
}

export class HttpClient {
  private readonly agent: Agent;

  constructor(connections = 128) {
    this.agent = new Agent({ connections, keepAliveTimeout: 4_000, connect: { timeout: 5_000 } });
  }

  async send(method: string, url: string, options: SendOptions = {}): Promise<Answer> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const headers: Record<string, string> = { ...options.headers };
    let body: string | undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(options.form).toString();
    }
    try {
      const res = await request(url, { method: method as 'GET', headers, body, dispatcher: this.agent, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
      const text = await res.body.text();
      let json: unknown = null;
      if (String(res.headers['content-type'] ?? '').includes('json')) {
        try {
          json = JSON.parse(text);
        } catch {
          json = null;
        }
      }
      return { kind: 'answer', status: res.statusCode, headers: res.headers, text, json };
    } catch (error) {
      const code = errorCode(error);
      return REFUSED_CODES.has(code) ? { kind: 'refused', error: code } : { kind: 'lost', error: code };
    }
  }

  async close(): Promise<void> {
    await this.agent.destroy();
  }
}
