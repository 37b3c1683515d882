// Two-factor sign-in for a merchant's staff, optional for them (operators and traders enroll when
// they set their password): a fresh TOTP key with its otpauth link, and the 6-digit code that
// proves the app has it; then the one-time recovery codes. It changes the person's own account,
// not the merchant, so every role of the merchant may turn it on for themselves.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { KasaApp } from '../../http/validation.ts';
import { totpUri } from '../../people/secrets.ts';
import { formText } from '../forms.ts';
import { csrfField, html, notice } from '../layout.ts';
import type { CabinetKit } from '../plugin.ts';
import { EVERYONE, formSchema, merchantNav, pageSchema, stringsOf, type MerchantCabinetOptions } from './common.ts';

const TOTP_SECRET_CHARS_MAX = 64;
const CODE_CHARS_MAX = 12;

export function twoFactorPage({ users }: MerchantCabinetOptions) {
  return async function twoFactorSection(app: KasaApp, kit: CabinetKit) {
    const anyone = kit.requireUser(['merchant'], { merchantRoles: EVERYONE });

    function enrollPage(request: FastifyRequest, reply: FastifyReply, message: string | null, status = 200) {
      const user = kit.userOf(request);
      const s = stringsOf(kit, request);
      const t = kit.strings(request);
      const frame = kit.frame(request, reply);
      const secret = users.newTotpSecret();
      const content = user.totp_enabled
        ? html`<p class="notice good" role="status">${s.twoFactorOn}</p>`
        : html`${notice('bad', message)}<form method="post" action="/merchant/two-factor" class="stack">${csrfField(frame)}
<input type="hidden" name="totp_secret" value="${secret}">
<p>${s.twoFactorIntro}</p>
<p><a href="${totpUri(secret, user.email)}">${t.totpLink}</a></p>
<p>${t.totpKey}: <code class="secret" id="totp-secret">${secret.match(/.{1,4}/g)!.join(' ')}</code></p>
<label for="code">${t.code}</label>
<input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="6" required>
<button type="submit" class="primary">${s.turnOn}</button>
</form>`;
      return kit.sendPage(
        request,
        reply,
        { title: s.twoFactorTitle, nav: merchantNav(s, user), content: html`<h1>${s.twoFactorTitle}</h1>${content}` },
        status,
      );
    }

    app.get(
      '/merchant/two-factor',
      { schema: pageSchema('getMerchantCabinetTwoFactor', 'Turn on two-factor sign-in for oneself (HTML)'), onRequest: anyone },
      async (request, reply) => enrollPage(request, reply, null),
    );

    app.post(
      '/merchant/two-factor',
      {
        schema: formSchema(
          'postMerchantTwoFactor',
          'Turn on two-factor sign-in: the key the page showed and its current code (form: _csrf, totp_secret, code)',
        ),
        onRequest: anyone,
        preHandler: kit.csrf,
      },
      async (request, reply) => {
        const user = kit.userOf(request);
        const s = stringsOf(kit, request);
        const t = kit.strings(request);
        const result = await users.enableTotp(
          user.id,
          { totpSecret: formText(request.body, 'totp_secret', TOTP_SECRET_CHARS_MAX), totpCode: formText(request.body, 'code', CODE_CHARS_MAX) },
          kit.actor(request),
        );
        if (!result.ok) return result.problem === 'totp_enabled' ? reply.redirect('/merchant/two-factor', 303) : enrollPage(request, reply, t.totpInvalid, 400);
        return kit.sendPage(request, reply, {
          title: s.twoFactorDone,
          nav: merchantNav(s, user),
          content: html`<h1>${s.twoFactorDone}</h1>
<h2>${t.recoveryTitle}</h2><p>${t.recoveryText}</p>
<ul class="codes" id="recovery-codes">${result.recoveryCodes.map((c) => html`<li><code>${c}</code></li>`)}</ul>
<p><a href="/merchant">${s.toCabinet}</a></p>`,
        });
      },
    );
  };
}
