// Signing in and out of the cabinets: /login (email and password, then the 6-digit code where
// TOTP is on), /logout (this browser, or every session of the account), and the one-time
// set-password page of a new user, where TOTP is enrolled. Each person lands in their cabinet.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { textResponse } from '../http/schemas.ts';
import { model, string, type KasaApp } from '../http/validation.ts';
import type { Sessions } from '../people/sessions.ts';
import type { SignIn, SignInResult } from '../people/sign-in.ts';
import { PASSWORD_LENGTH_MAX, totpUri } from '../people/secrets.ts';
import { EMAIL_LENGTH_MAX, type Users } from '../people/users.ts';
import { fill, type CabinetStrings } from './i18n.ts';
import { formText } from './forms.ts';
import { csrfField, html, notice, type Html } from './layout.ts';
import { homeOf, type CabinetKit } from './plugin.ts';

const tags = ['cabinets'];
const security: [] = [];
const page = (description: string) => textResponse('text/html', description);
const seeOther = (description: string) => ({ description, headers: { location: { type: 'string', description: 'Where the browser goes next' } } });
const TOKEN_CHARS_MAX = 128;
const CODE_CHARS_MAX = 32;
const TOTP_SECRET_CHARS_MAX = 64;

export function signInRoutes({ signIn, users, sessions }: { signIn: SignIn; users: Users; sessions: Sessions }) {
  return async function signInSection(app: KasaApp, kit: CabinetKit) {
    const passwordForm = (t: CabinetStrings, csrf: Html, email: string) => html`
<form method="post" action="/login" class="stack">
${csrf}
<label for="email">${t.email}</label>
<input id="email" name="email" type="email" autocomplete="username" required maxlength="${EMAIL_LENGTH_MAX}" value="${email}" autofocus>
<label for="password">${t.password}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="${PASSWORD_LENGTH_MAX}">
<button type="submit" class="primary">${t.signIn}</button>
</form>`;

    const codeForm = (t: CabinetStrings, csrf: Html) => html`
<form method="post" action="/login/code" class="stack">
${csrf}
<label for="code">${t.code}</label>
<input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required maxlength="${CODE_CHARS_MAX}" aria-describedby="code-hint" autofocus>
<p id="code-hint" class="hint">${t.codeHint}</p>
<button type="submit" class="primary">${t.signIn}</button>
</form>`;

    function showLogin(request: FastifyRequest, reply: FastifyReply, message: Html | null, status = 200, email = '') {
      const t = kit.strings(request);
      const frame = kit.frame(request, reply);
      return kit.sendPage(
        request,
        reply,
        { title: t.signInTitle, content: html`<h1>${t.signInTitle}</h1>${message}${passwordForm(t, csrfField(frame), email)}` },
        status,
      );
    }

    function answer(request: FastifyRequest, reply: FastifyReply, result: SignInResult | { kind: 'expired' }, email: string) {
      const t = kit.strings(request);
      switch (result.kind) {
        case 'signed_in':
          kit.setSessionCookie(reply, result.token);
          return reply.redirect(homeOf(result.user.role), 303);
        case 'code_required':
          kit.setSessionCookie(reply, result.token);
          return reply.redirect('/login/code', 303);
        case 'refused':
          return null;
        case 'locked':
          kit.clearSessionCookie(reply);
          reply.header('retry-after', String(result.retryAfterSeconds));
          request.cabinetSession = null;
          return showLogin(request, reply, notice('bad', fill(t.lockedOut, { minutes: Math.ceil(result.retryAfterSeconds / 60) })), 429, email);
        case 'expired':
          kit.clearSessionCookie(reply);
          request.cabinetSession = null;
          return showLogin(request, reply, notice('bad', t.codeExpired), 401);
      }
    }

    app.get(
      '/login',
      {
        schema: {
          summary: 'The sign-in page (HTML)',
          description: 'Email and password; a signed-in person goes to their cabinet.',
          operationId: 'getLoginPage',
          tags,
          security,
          response: { 200: page('The sign-in form'), 303: seeOther('Already signed in: to the cabinet') },
        },
      },
      async (request, reply) => {
        const session = request.cabinetSession;
        if (session?.stage === 'full') return reply.redirect(homeOf(session.user.role), 303);
        return showLogin(request, reply, null);
      },
    );

    app.post(
      '/login',
      {
        schema: {
          hide: true,
          summary: 'Sign in with email and password (the form of /login: _csrf, email, password)',
          operationId: 'postLogin',
          tags,
          security,
          response: {
            303: seeOther('To the cabinet, or to /login/code'),
            401: page('Wrong email or password'),
            403: page('Missing or wrong CSRF token'),
            429: page('Too many attempts (Retry-After)'),
          },
        },
        preHandler: kit.csrf,
      },
      async (request, reply) => {
        const email = formText(request.body, 'email', EMAIL_LENGTH_MAX);
        const result = await signIn.withPassword({ email, password: formText(request.body, 'password', PASSWORD_LENGTH_MAX + 1), ip: request.ip });
        return answer(request, reply, result, email) ?? showLogin(request, reply, notice('bad', kit.strings(request).wrongCredentials), 401, email);
      },
    );

    app.get(
      '/login/code',
      {
        schema: {
          summary: 'The 6-digit code step of signing in (HTML)',
          operationId: 'getLoginCodePage',
          tags,
          security,
          response: { 200: page('The code form'), 303: seeOther('No sign-in in progress: to /login') },
        },
      },
      async (request, reply) => {
        if (request.cabinetSession?.stage !== 'totp') return reply.redirect('/login', 303);
        const t = kit.strings(request);
        return kit.sendPage(request, reply, {
          title: t.signInTitle,
          content: html`<h1>${t.signInTitle}</h1>${codeForm(t, csrfField(kit.frame(request, reply)))}`,
        });
      },
    );

    app.post(
      '/login/code',
      {
        schema: {
          hide: true,
          summary: 'The 6-digit code (or a recovery code) of signing in (form: _csrf, code)',
          operationId: 'postLoginCode',
          tags,
          security,
          response: {
            303: seeOther('To the cabinet'),
            401: page('Wrong code, or the sign-in took too long'),
            403: page('Missing or wrong CSRF token'),
            429: page('Too many attempts'),
          },
        },
        config: { cabinetTouch: false },
        preHandler: kit.csrf,
      },
      async (request, reply) => {
        const pending = kit.sessionToken(request);
        const result = pending
          ? await signIn.withCode({ pendingToken: pending, code: formText(request.body, 'code', CODE_CHARS_MAX), ip: request.ip })
          : ({ kind: 'expired' } as const);
        const answered = answer(request, reply, result, '');
        if (answered) return answered;
        const t = kit.strings(request);
        return kit.sendPage(
          request,
          reply,
          { title: t.signInTitle, content: html`<h1>${t.signInTitle}</h1>${notice('bad', t.wrongCode)}${codeForm(t, csrfField(kit.frame(request, reply)))}` },
          401,
        );
      },
    );

    app.get(
      '/logout',
      {
        schema: {
          summary: 'The sign-out page (HTML): a button that signs out',
          operationId: 'getLogoutPage',
          tags,
          security,
          response: { 200: page('Sign out of this browser, or everywhere') },
        },
      },
      async (request, reply) => {
        const t = kit.strings(request);
        if (request.cabinetSession?.stage !== 'full') return showLogin(request, reply, notice('info', t.signedOut));
        const csrf = csrfField(kit.frame(request, reply));
        return kit.sendPage(request, reply, {
          title: t.signOutTitle,
          content: html`<h1>${t.signOutTitle}</h1>
<form method="post" action="/logout" class="stack">${csrf}<button type="submit" class="primary">${t.signOut}</button></form>
<form method="post" action="/logout/everywhere" class="stack">${csrf}<p class="hint">${t.signOutEverywhereHint}</p><button type="submit" class="secondary">${t.signOutEverywhere}</button></form>`,
        });
      },
    );

    const signOut = (everywhere: boolean) => async (request: FastifyRequest, reply: FastifyReply) => {
      const session = request.cabinetSession;
      const t = kit.strings(request);
      const token = kit.sessionToken(request);
      if (session && everywhere) await sessions.endAll(session.user.id);
      else if (token) await sessions.end(token);
      kit.clearSessionCookie(reply);
      request.cabinetSession = null;
      return showLogin(request, reply, notice('good', everywhere ? t.signedOutEverywhere : t.signedOut));
    };
    const signOutSchema = (operationId: string, summary: string) => ({
      schema: {
        hide: true,
        summary,
        operationId,
        tags,
        security,
        response: { 200: page('The sign-in page, saying so'), 403: page('Missing or wrong CSRF token') },
      },
      config: { cabinetTouch: false },
      preHandler: kit.csrf,
    });
    app.post('/logout', signOutSchema('postLogout', 'Sign out of this browser (form: _csrf)'), signOut(false));
    app.post('/logout/everywhere', signOutSchema('postLogoutEverywhere', 'Sign out of every session of the account (form: _csrf)'), signOut(true));

    // -- The set-password link --------------------------------------------------------------

    const linkParams = model({ token: string({ max: TOKEN_CHARS_MAX, description: 'The token of the set-password link' }) });

    function linkInvalid(request: FastifyRequest, reply: FastifyReply) {
      const t = kit.strings(request);
      return kit.sendPage(
        request,
        reply,
        { title: t.linkInvalidTitle, content: html`<h1>${t.linkInvalidTitle}</h1>${notice('bad', t.linkInvalidText)}<p><a href="/login">${t.signIn}</a></p>` },
        404,
      );
    }

    function setPasswordPage(
      request: FastifyRequest,
      reply: FastifyReply,
      o: { email: string; totpRequired: boolean; secret: string; message: string | null },
      status = 200,
    ) {
      const t = kit.strings(request);
      const { token } = request.params as { token: string };
      const uri = totpUri(o.secret, o.email);
      const grouped = o.secret.match(/.{1,4}/g)!.join(' ');
      return kit.sendPage(
        request,
        reply,
        {
          title: t.setPasswordTitle,
          content: html`<h1>${t.setPasswordTitle}</h1>
${notice('bad', o.message)}
<p>${fill(t.setPasswordIntro, { email: o.email })}</p>
<form method="post" action="/set-password/${token}" class="stack">
${csrfField(kit.frame(request, reply))}
<input type="hidden" name="totp_secret" value="${o.secret}">
<input type="text" name="username" value="${o.email}" autocomplete="username" hidden>
<label for="password">${t.newPassword}</label>
<input id="password" name="password" type="password" autocomplete="new-password" required minlength="10" maxlength="${PASSWORD_LENGTH_MAX}">
<label for="confirmation">${t.repeatPassword}</label>
<input id="confirmation" name="confirmation" type="password" autocomplete="new-password" required minlength="10" maxlength="${PASSWORD_LENGTH_MAX}">
<fieldset class="totp">
<legend>${t.totpTitle}</legend>
<p>${o.totpRequired ? t.totpIntroRequired : t.totpIntroOptional}</p>
<p><a href="${uri}">${t.totpLink}</a></p>
<p>${t.totpKey}: <code class="secret" id="totp-secret" data-secret="${o.secret}">${grouped}</code></p>
<label for="code">${t.code}</label>
<input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="6"${o.totpRequired ? html` required` : null}>
</fieldset>
<button type="submit" class="primary">${t.savePassword}</button>
</form>`,
        },
        status,
      );
    }

    app.get(
      '/set-password/:token',
      {
        schema: {
          summary: "A new user's one-time set-password page (HTML), with TOTP enrollment",
          description: 'The link POST /admin/v1/users answers with; valid 24 h, once. 404 page for a used, expired or unknown link.',
          operationId: 'getSetPasswordPage',
          tags,
          security,
          params: linkParams.schema,
          response: { 200: page('The form: password twice, and the TOTP key with its code'), 404: page('The link does not work') },
        },
      },
      async (request, reply) => {
        const link = await users.passwordLink(request.params.token);
        if (!link) return linkInvalid(request, reply);
        return setPasswordPage(request, reply, { email: link.user.email, totpRequired: link.user.totp_required, secret: users.newTotpSecret(), message: null });
      },
    );

    app.post(
      '/set-password/:token',
      {
        schema: {
          hide: true,
          summary: 'Set the password (form: _csrf, password, confirmation, totp_secret, code)',
          operationId: 'postSetPassword',
          tags,
          security,
          params: linkParams.schema,
          response: {
            200: page('Done: the recovery codes'),
            400: page('The form again, saying what to fix'),
            403: page('Missing or wrong CSRF token'),
            404: page('The link does not work'),
          },
        },
        preHandler: kit.csrf,
      },
      async (request, reply) => {
        const body = request.body;
        const secret = formText(body, 'totp_secret', TOTP_SECRET_CHARS_MAX);
        const result = await users.setPassword({
          token: request.params.token,
          password: formText(body, 'password', PASSWORD_LENGTH_MAX + 1),
          confirmation: formText(body, 'confirmation', PASSWORD_LENGTH_MAX + 1),
          totpSecret: /^[A-Z2-7]{16,64}$/.test(secret) ? secret : undefined,
          totpCode: formText(body, 'code', CODE_CHARS_MAX) || undefined,
          ip: request.ip,
        });
        const t = kit.strings(request);
        if (!result.ok) {
          if (result.problem === 'link_invalid') return linkInvalid(request, reply);
          const link = await users.passwordLink(request.params.token);
          if (!link) return linkInvalid(request, reply);
          const messages = { too_short: t.tooShort, too_long: t.tooLong, common: t.common, mismatch: t.mismatch, totp_invalid: t.totpInvalid };
          return setPasswordPage(
            request,
            reply,
            {
              email: link.user.email,
              totpRequired: link.user.totp_required,
              secret: /^[A-Z2-7]{16,64}$/.test(secret) ? secret : users.newTotpSecret(),
              message: messages[result.problem],
            },
            400,
          );
        }
        const codes = result.recoveryCodes.map((c) => html`<li><code>${c}</code></li>`);
        return kit.sendPage(request, reply, {
          title: t.passwordSetTitle,
          content: html`<h1>${t.passwordSetTitle}</h1>
${notice('good', t.passwordSetText)}
${codes.length ? html`<h2>${t.recoveryTitle}</h2><p>${t.recoveryText}</p><ul class="codes" id="recovery-codes">${codes}</ul>` : null}
<p><a class="button primary" href="/login">${t.signIn}</a></p>`,
        });
      },
    );
  };
}
