// The chassis of Kasa's cabinets: cookies, CSRF, forms, the security headers, the session of
// each request, languages, assets, and the kit every section's routes use (requireUser, the
// page frame, the audit actor). Sections — sign-in, the trader cabinet, the merchant cabinet,
// the operator console — are plugins registered inside it, so they share one CSRF setup and
// nothing here leaks to the JSON APIs (they keep refusing cookies and form bodies).
import { createHash, hkdfSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import cookie from '@fastify/cookie';
import csrfProtection from '@fastify/csrf-protection';
import formbody from '@fastify/formbody';
import type { FastifyError, FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify';
import type { Clock } from '../clock.ts';
import type { MerchantRole, UserRole } from '../db/schema.ts';
import { errors, KasaError } from '../errors.ts';
import { errorBody } from '../http/envelope.ts';
import type { KasaApp } from '../http/validation.ts';
import type { Audit, AuditActor } from '../people/audit.ts';
import type { Session, Sessions } from '../people/sessions.ts';
import type { SignIn } from '../people/sign-in.ts';
import type { User, Users } from '../people/users.ts';
import { CABINET_STRINGS, cabinetLang, type CabinetStrings, type Lang } from './i18n.ts';
import { html, notice, renderPage, roleHome, type Frame, type PageOptions } from './layout.ts';

export const SESSION_COOKIE = 'kasa_session';
const CSRF_COOKIE = 'kasa_cabinet_csrf';
const CSRF_SECRET_BYTES = 18;
export const LANG_COOKIE = 'kasa_lang';
const LANG_COOKIE_MAX_AGE_SECONDS = 365 * 24 * 60 * 60;
/** The largest form a cabinet takes (a requisite with its card, a settings page). */
const FORM_BODY_SIZE_MAX_BYTES = 16 * 1024;
/** Session tokens are 43 characters; anything much longer is not one of ours. */
const SESSION_TOKEN_LENGTH_MAX = 128;

/** No inline script or style: the policy allows Kasa's own files only; no frames, no foreign forms. */
export const CABINET_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "media-src 'self' data:",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const ASSET_CACHE_CONTROL = 'public, max-age=31536000, immutable';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false: a request of this route is not use of the session (background polling). */
    cabinetTouch?: boolean;
    /** The route answers JSON (for cabinet.js): errors in the envelope, not as pages. */
    cabinetJson?: boolean;
  }
  interface FastifyRequest {
    cabinetSession: Session | null;
  }
}

/** Where each person's cabinet is. */
export function homeOf(role: UserRole): string {
  return role === 'operator' ? '/admin' : role === 'merchant' ? '/merchant' : '/trader';
}

/** What a section's routes use: built once per cabinet, shared by every section. */
export interface CabinetKit {
  /** onRequest hook: a full session of one of `roles` (and, for merchants, of one of `merchantRoles`). */
  requireUser(roles: readonly UserRole[], options?: { merchantRoles?: readonly MerchantRole[] }): (request: FastifyRequest) => Promise<void>;
  /** The signed-in user of a route behind requireUser. */
  userOf(request: FastifyRequest): User;
  /** preHandler refusing a form without this session's CSRF token (403). */
  csrf: preHandlerHookHandler;
  frame(request: FastifyRequest, reply: FastifyReply): Frame;
  lang(request: FastifyRequest): Lang;
  strings(request: FastifyRequest): CabinetStrings;
  /** Sends a page in the frame (status 200 unless given). */
  sendPage(request: FastifyRequest, reply: FastifyReply, options: PageOptions, status?: number): FastifyReply;
  /** The audit actor and address of a request. */
  actor(request: FastifyRequest): { actor: AuditActor; ip: string };
  setSessionCookie(reply: FastifyReply, token: string): void;
  clearSessionCookie(reply: FastifyReply): void;
  sessionToken(request: FastifyRequest): string | null;
  audit: Audit;
  clock: Clock;
  publicUrl: string;
}

/** Whom a form's token is bound to: the session it was served in, or no session at all. */
function csrfSubject(request: FastifyRequest): string {
  const session = request.cabinetSession;
  return session ? `session:${session.tokenHash.toString('hex')}` : 'signed-out';
}

export type CabinetSection = (app: KasaApp, kit: CabinetKit) => Promise<void>;

interface Asset {
  body: Buffer;
  type: string;
  url: string;
}

function loadAsset(name: string, type: string): Asset {
  const body = readFileSync(new URL(`./assets/${name}`, import.meta.url));
  const version = createHash('sha256').update(body).digest('hex').slice(0, 12);
  return { body, type, url: `/cabinet/assets/${name}?v=${version}` };
}

export interface CabinetOptions {
  sessions: Sessions;
  signIn: SignIn;
  users: Users;
  audit: Audit;
  clock: Clock;
  publicUrl: string;
  /** The installation's secret key: the CSRF tokens' HMAC key is derived from it. */
  secretKey: string;
  sections: CabinetSection[];
}

export async function cabinetRoutes(app: KasaApp, options: CabinetOptions) {
  const { sessions, audit, clock, publicUrl } = options;
  const css = loadAsset('cabinet.css', 'text/css; charset=utf-8');
  const js = loadAsset('cabinet.js', 'text/javascript; charset=utf-8');
  const secure = publicUrl.startsWith('https:');
  const sessionCookie = { path: '/', httpOnly: true, sameSite: 'lax', secure } as const;
  const csrfCookie = sessionCookie;

  await app.register(cookie);
  // Stateless double submit, as on the payment page: the secret in an httpOnly cookie, the token
  // in the form, bound to the session it was served in, so a token of another session (another
  // user's, or the one before sign-in) is refused.
  await app.register(csrfProtection, {
    cookieKey: CSRF_COOKIE,
    cookieOpts: csrfCookie,
    getUserInfo: csrfSubject,
    csrfOpts: { hmacKey: Buffer.from(hkdfSync('sha256', options.secretKey, 'kasa', 'kasa cabinet csrf v1', 32)).toString('base64') },
  });
  await app.register(formbody, { bodyLimit: FORM_BODY_SIZE_MAX_BYTES });
  app.decorateRequest('cabinetSession', null);

  app.addHook('onRequest', async (request, reply) => {
    reply.headers({
      'content-security-policy': CABINET_CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
      // Card numbers, balances and tokens are on these pages: no cache keeps a copy.
      'cache-control': 'no-store',
    });
    const token = sessionToken(request);
    if (token) request.cabinetSession = await sessions.authenticate(token, { touch: request.routeOptions.config?.cabinetTouch !== false });
    const lang = (request.query as Record<string, unknown> | undefined)?.lang;
    if ((lang === 'uk' || lang === 'en') && request.cookies[LANG_COOKIE] !== lang) {
      reply.setCookie(LANG_COOKIE, lang, { path: '/', sameSite: 'lax', secure, maxAge: LANG_COOKIE_MAX_AGE_SECONDS });
    }
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const json = request.routeOptions.config?.cabinetJson === true;
    const csrfFailed = error.code === 'FST_CSRF_INVALID_TOKEN' || error.code === 'FST_CSRF_MISSING_SECRET';
    const known = csrfFailed
      ? new KasaError(403, 'CSRF_INVALID', 'The form has expired: reload the page and send it again')
      : error instanceof KasaError
        ? error
        : null;
    if (!known || known.statusCode >= 500) throw error;
    if (json) return reply.code(known.statusCode).type('application/json').send(errorBody(request.id, known));
    if (known.code === 'SESSION_REQUIRED') return reply.redirect('/login', 303);
    const t = strings(request);
    const [title, text] = csrfFailed
      ? [t.formExpiredTitle, t.formExpiredText]
      : known.statusCode === 403
        ? [t.forbiddenTitle, t.forbiddenText]
        : known.statusCode === 404
          ? [t.notFoundTitle, known.message]
          : [known.message, ''];
    const user = request.cabinetSession?.stage === 'full' ? request.cabinetSession.user : null;
    return kit.sendPage(
      request,
      reply,
      {
        title,
        content: html`<h1>${title}</h1>${notice('bad', text)}<p><a href="${user ? homeOf(user.role) : '/login'}">${user ? t.toMyCabinet : t.signIn}</a></p>`,
      },
      known.statusCode,
    );
  });

  for (const asset of [css, js]) {
    app.get(asset.url.split('?')[0] as string, { schema: { hide: true } }, async (_request, reply) =>
      reply.header('cache-control', ASSET_CACHE_CONTROL).type(asset.type).send(asset.body),
    );
  }

  /**
   * The form token of this request. The secret cookie is made here when the browser has none, and
   * kept on the request, so every form of one page (and a page built twice) shares one secret.
   */
  function csrfToken(request: FastifyRequest, reply: FastifyReply): string {
    if (!request.cookies[CSRF_COOKIE]) {
      const secret = randomBytes(CSRF_SECRET_BYTES).toString('base64url');
      reply.setCookie(CSRF_COOKIE, secret, csrfCookie);
      request.cookies[CSRF_COOKIE] = secret;
    }
    return reply.generateCsrf({ userInfo: csrfSubject(request) });
  }

  function sessionToken(request: FastifyRequest): string | null {
    const token = request.cookies[SESSION_COOKIE];
    return token && token.length <= SESSION_TOKEN_LENGTH_MAX ? token : null;
  }

  function lang(request: FastifyRequest): Lang {
    const header = request.headers['accept-language'];
    return cabinetLang((request.query as Record<string, unknown> | undefined)?.lang, request.cookies[LANG_COOKIE], Array.isArray(header) ? header[0] : header);
  }

  function strings(request: FastifyRequest): CabinetStrings {
    return CABINET_STRINGS[lang(request)];
  }

  const kit: CabinetKit = {
    requireUser(roles, { merchantRoles } = {}) {
      return async function requireUser(request) {
        const session = request.cabinetSession;
        if (!session || session.stage !== 'full') throw errors.sessionRequired();
        const user = session.user;
        if (!roles.includes(user.role)) throw errors.forbidden();
        if (merchantRoles && user.role === 'merchant' && !merchantRoles.includes(user.merchant_role!)) throw errors.forbidden();
      };
    },
    userOf(request) {
      const session = request.cabinetSession;
      if (!session || session.stage !== 'full') throw new Error('route is missing the requireUser hook');
      return session.user;
    },
    csrf: app.csrfProtection,
    frame(request, reply) {
      const session = request.cabinetSession;
      const user = session?.stage === 'full' ? session.user : null;
      return {
        lang: lang(request),
        path: request.url.split('?')[0] ?? '/',
        cssUrl: css.url,
        jsUrl: js.url,
        user: user ? { name: user.name, email: user.email, role: user.role } : null,
        csrfToken: csrfToken(request, reply),
      };
    },
    lang,
    strings,
    sendPage(request, reply, page, status = 200) {
      return reply
        .code(status)
        .type('text/html; charset=utf-8')
        .send(renderPage(kit.frame(request, reply), page));
    },
    actor(request) {
      const user = kit.userOf(request);
      return { actor: { kind: 'user', id: user.id, email: user.email }, ip: request.ip };
    },
    setSessionCookie(reply, token) {
      reply.setCookie(SESSION_COOKIE, token, sessionCookie);
    },
    clearSessionCookie(reply) {
      reply.clearCookie(SESSION_COOKIE, sessionCookie);
    },
    sessionToken,
    audit,
    clock,
    publicUrl,
  };

  for (const section of options.sections) await app.register(async (scope: KasaApp) => section(scope, kit));
}

export { roleHome };
