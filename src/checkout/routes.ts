// The payment page: GET /pay/:invoice_id (HTML), its status JSON for polling, and the
// "I have paid" form action. Routes are thin: the deals service decides the state, pages.ts
// renders it, and this file picks the answer (page, redirect, JSON).
//
// Cookies, CSRF, the urlencoded parser and rate limits are registered inside this plugin only:
// the merchant API keeps refusing non-JSON bodies, and no other route gets a cookie.
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import cookie from '@fastify/cookie';
import csrfProtection from '@fastify/csrf-protection';
import formbody from '@fastify/formbody';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isoSeconds, type Clock } from '../clock.ts';
import type { Deals, PageInvoice, PageState } from '../deals/service.ts';
import { multipartError, MULTIPART_LIMITS, payerFieldsOf, uploadOf } from '../disputes/schema.ts';
import type { Disputes } from '../disputes/service.ts';
import { errors, KasaError, RequestValidationError } from '../errors.ts';
import { textResponse } from '../http/schemas.ts';
import { model, string, type KasaApp } from '../http/validation.ts';
import { formatFiat } from '../money.ts';
import { chooseLang, isLang, type Lang } from './i18n.ts';
import {
  assigningPage,
  awaitingPaymentPage,
  confirmingPage,
  expiredReceiptPage,
  finalPage,
  formExpiredPage,
  leavingPage,
  notFoundPage,
  receiptRefusedPage,
  unavailablePage,
  withLang,
  type Chrome,
  type InvoiceSummary,
  type Polling,
} from './pages.ts';

/** Polling every 3 s is 20 a minute; a few tabs or customers behind one NAT stay well within. */
const STATUS_REQUESTS_PER_MINUTE_MAX = 300;
/** "I have paid" is pressed once per deal; this only stops hammering. */
const PAID_REQUESTS_PER_MINUTE_MAX = 30;
/** The form carries a token and a language code; anything bigger is not our form. */
const FORM_BODY_SIZE_MAX_BYTES = 1024;
const CSRF_COOKIE = 'kasa_csrf';
/** Marks the page view that follows the "I have paid" form (see leavingPage). */
const AFTER_FORM_QUERY = 'after=paid';
/** Per client address, against hammering only: the per-invoice limit in the database is the exact one. */
const RECEIPT_REQUESTS_PER_MINUTE_MAX = 30;

/**
 * No inline script or style anywhere, so the policy allows only Kasa's own files; frames,
 * plugins and foreign form targets are refused outright.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const ASSET_CACHE_CONTROL = 'public, max-age=31536000, immutable';

const tags = ['payment page'];
// The customer's browser carries no credentials: the invoice id in the link is the capability.
const security: [] = [];
const htmlPage = (description: string) => textResponse('text/html', description);
const redirect = (description: string) => ({
  description,
  headers: { location: { type: 'string', format: 'uri', description: 'Where the browser goes next' } },
});
// Any text: a malformed id is an unknown invoice (a 404 page), not a validation error.
const invoiceIdParams = model({ invoice_id: string({ description: 'The invoice id from payment_link' }) });
const statusObject = {
  type: 'object',
  required: ['status', 'deal_status', 'expires_at', 'redirect_url'],
  properties: {
    status: { type: 'string', enum: ['pending', 'success', 'expired', 'cancelled'], description: "The invoice's public status" },
    deal_status: {
      type: ['string', 'null'],
      enum: ['awaiting_payment', 'customer_paid', 'disputed', null],
      description: 'The open deal (disputed: a receipt is under review), or null (no deal yet, or final)',
    },
    expires_at: { type: 'string', format: 'date-time' },
    redirect_url: { type: ['string', 'null'], description: 'Once final: success_url / fail_url, or the page itself; null while pending' },
  },
};

interface Asset {
  body: Buffer;
  type: string;
  /** Versioned URL: the content hash changes it, so the file can be cached forever. */
  url: string;
}

function loadAsset(name: string, type: string): Asset {
  const body = readFileSync(new URL(`./assets/${name}`, import.meta.url));
  const version = createHash('sha256').update(body).digest('hex').slice(0, 12);
  return { body, type, url: `/pay/assets/${name}?v=${version}` };
}

/** pageTokenKey: the installation's key binding a form's token to its invoice (settings.page_token_key). */
export async function checkoutRoutes(
  app: KasaApp,
  { deals, disputes, clock, publicUrl, pageTokenKey }: { deals: Deals; disputes: Disputes; clock: Clock; publicUrl: string; pageTokenKey: string },
) {
  const css = loadAsset('pay.css', 'text/css; charset=utf-8');
  const js = loadAsset('pay.js', 'text/javascript; charset=utf-8');

  await app.register(cookie);
  // Stateless double submit: the secret lives in an httpOnly cookie, the token in the form, so
  // any instance can check any form. SameSite=Lax: the merchant's redirect to the page is a
  // top-level GET (cookie sent), a foreign site's POST is not.
  const csrfCookieOptions = { path: '/pay', sameSite: 'lax', httpOnly: true, secure: publicUrl.startsWith('https:') } as const;
  // The token is bound to its invoice (the plugin hashes the invoice id into it): a token served
  // with one invoice's page is refused by every other invoice's form.
  await app.register(csrfProtection, {
    cookieKey: CSRF_COOKIE,
    cookieOpts: csrfCookieOptions,
    getUserInfo: (request) => (request.params as { invoice_id?: string }).invoice_id ?? '',
    csrfOpts: { hmacKey: pageTokenKey },
  });
  await app.register(formbody, { bodyLimit: FORM_BODY_SIZE_MAX_BYTES });
  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_request, context) => errors.rateLimited(Math.max(1, Math.ceil(context.ttl / 1000))),
  });

  app.addHook('onRequest', async (_request, reply) => {
    reply.headers({
      'content-security-policy': CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
      'cache-control': 'no-store',
    });
  });

  // A missing or wrong CSRF token is a customer whose cookie got lost, not an API client: answer
  // with a page that leads back. Every other error goes on to the app's one error mapper.
  const formExpired = (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (error.code === 'FST_CSRF_INVALID_TOKEN' || error.code === 'FST_CSRF_MISSING_SECRET') {
      return reply
        .code(403)
        .type('text/html; charset=utf-8')
        .send(formExpiredPage(formChrome(request)));
    }
    return null;
  };
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (formExpired(error, request, reply)) return reply;
    throw error;
  });

  for (const asset of [css, js]) {
    app.get(asset.url.split('?')[0] as string, { schema: { hide: true } }, async (_request, reply) =>
      reply.header('cache-control', ASSET_CACHE_CONTROL).type(asset.type).send(asset.body),
    );
  }

  app.get(
    '/pay/:invoice_id',
    {
      schema: {
        summary: 'The payment page (HTML)',
        description:
          "Opens the invoice's deal on the first view of a pending invoice. 303 to success_url / fail_url once final; 404 page for an unknown invoice.",
        operationId: 'getPaymentPage',
        tags,
        security,
        params: invoiceIdParams.schema,
        response: {
          200: htmlPage('The page: the card to pay to, the wait for a trader, or the final verdict'),
          303: redirect("A final invoice: to the merchant's success_url / fail_url"),
          404: htmlPage('No such invoice'),
        },
      },
    },
    async (request, reply) => {
      const { invoice_id } = request.params;
      const state = await deals.openForPage(invoice_id);
      return answerPage(request, reply, state);
    },
  );

  app.get(
    '/pay/:invoice_id/status',
    {
      schema: {
        summary: "The payment page's status, for its polling (read-only)",
        operationId: 'getPaymentStatus',
        tags,
        security,
        params: invoiceIdParams.schema,
        response: { 200: statusObject },
      },
      config: {
        rateLimit: { max: STATUS_REQUESTS_PER_MINUTE_MAX, timeWindow: 60_000 },
        errorDocs: { 404: 'INVOICE_NOT_FOUND', 429: 'RATE_LIMITED (per client address; Retry-After header)' },
      },
    },
    async (request) => {
      const { invoice_id } = request.params;
      // Read-only: polling never opens a deal; only a page view does.
      const state = await deals.pageState(invoice_id);
      if (state.kind === 'not_found') throw errors.invoiceNotFound();
      const final = state.kind === 'final';
      return {
        status: final ? state.status : 'pending',
        // Once final, the page leaves; the deal's last status does not matter to it.
        deal_status: state.kind === 'deal' ? state.deal.status : null,
        expires_at: isoSeconds(state.invoice.expires_at),
        redirect_url: final ? finalTarget(state.invoice, state.status) : null,
      };
    },
  );

  app.post(
    '/pay/:invoice_id/paid',
    {
      schema: {
        // The page's own form, answered 303 back to the page (Post/Redirect/Get): a browser's, not
        // an API client's, so the OpenAPI document leaves it out.
        hide: true,
        summary: '"I have paid": the page\'s form (application/x-www-form-urlencoded: _csrf, lang)',
        description: 'Moves the open deal to customer_paid; moves no money. 303 back to the page. A missing or wrong CSRF token → 403 HTML page.',
        operationId: 'markInvoicePaid',
        tags,
        security,
        params: invoiceIdParams.schema,
        response: {
          303: redirect('Back to the payment page'),
          403: htmlPage('The form expired (missing or wrong CSRF token): a page that leads back'),
        },
      },
      bodyLimit: FORM_BODY_SIZE_MAX_BYTES,
      config: {
        rateLimit: { max: PAID_REQUESTS_PER_MINUTE_MAX, timeWindow: 60_000 },
        errorDocs: { 429: 'RATE_LIMITED (per client address; Retry-After header)' },
      },
      preHandler: app.csrfProtection,
    },
    async (request, reply) => {
      const { invoice_id } = request.params;
      await deals.markPaid(invoice_id);
      const lang = (request.body as Record<string, unknown> | undefined)?.lang;
      const page = `/pay/${encodeURIComponent(invoice_id)}`;
      return reply.redirect(`${isLang(lang) ? withLang(page, lang) + '&' : page + '?'}${AFTER_FORM_QUERY}`, 303);
    },
  );

  // "Upload receipt": multipart, in a plugin of its own so that no other form of the page takes
  // files. The same CSRF token as "I have paid", checked once the form's fields are read.
  await app.register(async (receipts: KasaApp) => {
    await receipts.register(multipart, { limits: MULTIPART_LIMITS, attachFieldsToBody: 'keyValues', throwFileSizeLimit: true });
    // A refused receipt is a customer's form, not an API client's: a page that says why, its status the refusal's.
    receipts.setErrorHandler((error: FastifyError, request, reply) => {
      if (formExpired(error, request, reply)) return reply;
      const refused =
        error instanceof RequestValidationError
          ? new KasaError(422, 'VALIDATION', error.issues.map((i) => `${i.loc.at(-1)}: ${i.msg}`).join('; '))
          : multipartError(error);
      if (!(refused instanceof KasaError) || refused.statusCode >= 500) throw error;
      if (refused.headers) reply.headers(refused.headers);
      return reply
        .code(refused.statusCode)
        .type('text/html; charset=utf-8')
        .send(receiptRefusedPage(formChrome(request), refused.code));
    });
    receipts.post(
      '/pay/:invoice_id/receipt',
      {
        schema: {
          // The page's own form, like "I have paid": a browser's, so the OpenAPI document leaves it out.
          hide: true,
          summary: "Upload receipt: the page's form (multipart/form-data: file, _csrf, lang, card_last4, payer_name, paid_amount)",
          operationId: 'uploadReceipt',
          tags,
          security,
          params: invoiceIdParams.schema,
        },
        config: { rateLimit: { max: RECEIPT_REQUESTS_PER_MINUTE_MAX, timeWindow: 60_000 } },
        preHandler: app.csrfProtection,
      },
      async (request, reply) => {
        const { invoice_id } = request.params;
        const { file, fields } = uploadOf(request);
        await disputes.receipt(invoice_id, file, payerFieldsOf(fields));
        const lang = fields.lang;
        const page = `/pay/${encodeURIComponent(invoice_id)}`;
        return reply.redirect(`${isLang(lang) ? withLang(page, lang) + '&' : page + '?'}after=receipt`, 303);
      },
    );
  });

  // -------------------------------------------------------------------------------------------

  /** The chrome of a page answering a form: the form's language, else the browser's. */
  function formChrome(request: FastifyRequest): Chrome {
    const body = request.body as Record<string, unknown> | undefined;
    return chromeFor(pagePathOf(request), isLang(body?.lang) ? body.lang : chooseLang(undefined, acceptLanguage(request), null));
  }

  function pageLink(invoiceId: string): string {
    return `${publicUrl}/pay/${invoiceId}`;
  }

  /** Where a final invoice sends the customer: the merchant's URL, or this page's own verdict. */
  function finalTarget(invoice: PageInvoice, status: FinalStatus): string {
    return merchantTarget(invoice, status) ?? pageLink(invoice.id);
  }

  function chromeFor(pagePath: string | null, lang: Lang): Chrome {
    return { lang, pagePath, cssUrl: css.url, jsUrl: js.url };
  }

  async function answerPage(request: FastifyRequest, reply: FastifyReply, state: PageState) {
    const query = request.query as Record<string, unknown> | undefined;
    const invoice = state.kind === 'not_found' ? null : state.invoice;
    const chrome = chromeFor(invoice ? `/pay/${invoice.id}` : null, chooseLang(query?.lang, acceptLanguage(request), invoice?.currency ?? null));
    reply.type('text/html; charset=utf-8');

    if (state.kind === 'not_found') return reply.code(404).send(notFoundPage(chrome));
    if (state.kind === 'final') {
      const merchantUrl = merchantTarget(state.invoice, state.status);
      if (state.status === 'expired') {
        // A customer who said they paid, or whose receipt is under review, stays to see the
        // review through rather than leaving for fail_url.
        const receipt = await disputes.receiptState(state.invoice.id);
        if (receipt.offered && (receipt.claimed || !merchantUrl)) {
          const offer = { underReview: receipt.underReview, csrfToken: csrfToken(request, reply, state.invoice.id) };
          return reply.send(expiredReceiptPage(chrome, offer, merchantUrl));
        }
      }
      if (!merchantUrl) return reply.send(finalPage(chrome, state.status));
      if (query?.after === 'paid') return reply.send(leavingPage(chrome, state.status, merchantUrl));
      return reply.redirect(merchantUrl, 303);
    }

    const summary = summaryOf(state.invoice, state.merchantName);
    const polling: Polling = {
      statusUrl: `/pay/${state.invoice.id}/status`,
      pageUrl: pageLink(state.invoice.id),
      dealStatus: state.kind === 'deal' ? state.deal.status : null,
    };
    switch (state.kind) {
      case 'unavailable':
        return reply.send(unavailablePage(chrome, summary, polling));
      case 'no_trader':
        return reply.send(assigningPage(chrome, summary, polling));
      case 'deal':
        if (state.deal.status === 'customer_paid' || state.deal.status === 'disputed') {
          const receipt = await disputes.receiptState(state.invoice.id);
          const offer = receipt.offered ? { underReview: receipt.underReview, csrfToken: csrfToken(request, reply, state.invoice.id) } : null;
          return reply.send(confirmingPage(chrome, summary, state.requisite, polling, offer));
        }
        return reply.send(awaitingPaymentPage(chrome, summary, state.requisite, polling, csrfToken(request, reply, state.invoice.id)));
    }
  }

  /**
   * The form's token. A first view has no secret cookie yet: the secret is made here from
   * randomUUID (122 random bits, drawn from Node's buffered entropy pool) rather than by the
   * plugin's randomBytes, which costs a system call on every cookieless view of the busiest page.
   */
  function csrfToken(request: FastifyRequest, reply: FastifyReply, invoiceId: string): string {
    if (!request.cookies[CSRF_COOKIE]) {
      const secret = randomUUID().replaceAll('-', '');
      reply.setCookie(CSRF_COOKIE, secret, csrfCookieOptions);
      request.cookies[CSRF_COOKIE] = secret;
    }
    return reply.generateCsrf({ userInfo: invoiceId });
  }

  function summaryOf(invoice: PageInvoice, merchantName: string): InvoiceSummary {
    const msLeft = invoice.expires_at.getTime() - clock.now().getTime();
    return {
      merchantName,
      purpose: invoice.purpose,
      amount: formatFiat(invoice.amount),
      currency: invoice.currency,
      secondsLeft: Math.max(0, Math.floor(msLeft / 1000)),
      expiresAt: invoice.expires_at,
    };
  }
}

type FinalStatus = 'success' | 'expired' | 'cancelled';

/**
 * The merchant's success_url or fail_url, if it gave one. Re-serialized through URL so that
 * non-ASCII characters are percent-encoded: a Location header must be ASCII.
 */
function merchantTarget(invoice: PageInvoice, status: FinalStatus): string | null {
  const target = status === 'success' ? invoice.success_url : invoice.fail_url;
  return target ? new URL(target).href : null;
}

function acceptLanguage(request: FastifyRequest): string | undefined {
  const header = request.headers['accept-language'];
  return Array.isArray(header) ? header[0] : header;
}

function pagePathOf(request: FastifyRequest): string | null {
  const { invoice_id } = (request.params ?? {}) as { invoice_id?: string };
  return invoice_id ? `/pay/${encodeURIComponent(invoice_id)}` : null;
}
