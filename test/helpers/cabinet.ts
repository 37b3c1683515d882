// A browser for the cabinets' HTML, over app.inject or real HTTP: keeps cookies, reads each
// page's CSRF token, posts forms as a browser does (urlencoded, no redirects followed).
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { totpCode } from '../../src/people/secrets.ts';
import type { TestKasa } from './kasa.ts';

export interface PageAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  location: string | undefined;
}

type Transport = (method: 'GET' | 'POST', url: string, headers: Record<string, string>, body?: string) => Promise<PageAnswer>;

export function injectTransport(app: FastifyInstance, remoteAddress = '127.0.0.1'): Transport {
  return async (method, url, headers, body) => {
    const res = await app.inject({ method, url, headers, remoteAddress, ...(body === undefined ? {} : { payload: body }) });
    return { status: res.statusCode, headers: res.headers as PageAnswer['headers'], body: res.body, location: res.headers.location as string | undefined };
  };
}

export function fetchTransport(baseUrl: string): Transport {
  return async (method, url, headers, body) => {
    const res = await fetch(baseUrl + url, { method, headers, redirect: 'manual', ...(body === undefined ? {} : { body }) });
    const all: Record<string, string | string[]> = {};
    res.headers.forEach((v, k) => (all[k] = v));
    const cookies = res.headers.getSetCookie();
    if (cookies.length) all['set-cookie'] = cookies;
    return { status: res.status, headers: all, body: await res.text(), location: res.headers.get('location') ?? undefined };
  };
}

export class CabinetBrowser {
  readonly cookies = new Map<string, string>();
  last: PageAnswer | null = null;
  constructor(private readonly transport: Transport) {}

  private cookieHeader(): Record<string, string> {
    return this.cookies.size ? { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {};
  }

  private keep(answer: PageAnswer): PageAnswer {
    const set = answer.headers['set-cookie'];
    for (const line of Array.isArray(set) ? set : set ? [set] : []) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (!value || /expires=Thu, 01 Jan 1970/i.test(line) || /max-age=0\b/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    this.last = answer;
    return answer;
  }

  async get(url: string): Promise<PageAnswer> {
    return this.keep(await this.transport('GET', url, this.cookieHeader()));
  }

  /** Posts a form; `_csrf` is taken from the last page unless given. */
  async post(url: string, fields: Record<string, string>, { csrf }: { csrf?: string | null } = {}): Promise<PageAnswer> {
    const token = csrf === undefined ? csrfOf(this.last?.body ?? '') : csrf;
    const form = new URLSearchParams({ ...(token === null ? {} : { _csrf: token ?? '' }), ...fields }).toString();
    return this.keep(await this.transport('POST', url, { ...this.cookieHeader(), 'content-type': 'application/x-www-form-urlencoded' }, form));
  }

  get session(): string | undefined {
    return this.cookies.get('kasa_session');
  }

  /** Signs in through /login (and /login/code with a TOTP code when asked); returns the last answer. */
  async signIn(email: string, password: string, totpSecret?: string, at: Date = new Date()): Promise<PageAnswer> {
    await this.get('/login');
    const first = await this.post('/login', { email, password });
    if (first.location !== '/login/code') return first;
    if (!totpSecret) throw new Error('sign-in asks for a code and no TOTP secret was given');
    await this.get('/login/code');
    return this.post('/login/code', { code: totpCode(totpSecret, at) });
  }
}

export function csrfOf(html: string): string | null {
  return /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? null;
}

/** Sets a new user's password (and TOTP where the page asks) through their link; returns the TOTP secret. */
export async function setPassword(
  browser: CabinetBrowser,
  link: string,
  password: string,
  at: Date = new Date(),
): Promise<{ secret: string; page: PageAnswer }> {
  const path = new URL(link).pathname;
  const form = await browser.get(path);
  if (form.status !== 200) throw new Error(`set-password page: ${form.status}`);
  const secret = /name="totp_secret" value="([A-Z2-7]+)"/.exec(form.body)![1]!;
  const required = /id="code"[^>]* required/.test(form.body);
  const page = await browser.post(path, { password, confirmation: password, totp_secret: secret, ...(required ? { code: totpCode(secret, at) } : {}) });
  return { secret, page };
}

/**
 * A person made through the admin API (`body` as POST /admin/v1/users takes it) who set a password
 * through their link, with TOTP where the page asks for it, and signed in with `browser`.
 */
export async function signedInUser(t: TestKasa, browser: CabinetBrowser, body: Record<string, unknown>, password: string): Promise<CabinetBrowser> {
  const res = await t.admin('POST', '/admin/v1/users', body);
  assert.equal(res.statusCode, 201, res.body);
  const { secret } = await setPassword(browser, res.json().set_password_url, password, t.clock.now());
  // The next 30-second step: the code used at enrollment is good once.
  t.clock.advance(30_000);
  const page = await browser.signIn(body.email as string, password, secret, t.clock.now());
  assert.equal(page.status, 303, page.body);
  return browser;
}
