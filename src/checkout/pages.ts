// The payment page's templates, one function per state. Pure: they take what to show and give
// HTML; which state applies, and where to redirect, is decided in routes.ts.
//
// The pages work without JavaScript (forms, links, meta refresh); pay.js only adds copy buttons,
// a live countdown and status polling. Nothing inline — no <script>, no style="" — so the
// Content-Security-Policy can forbid both.
import { isoSeconds } from '../clock.ts';
import { groupCard } from '../traders/card.ts';
import { html, type Html } from './html.ts';
import { LANGS, STRINGS, type Lang, type StringKey } from './i18n.ts';

/** The no-trader page reloads itself this often, opening the deal once a trader is free. */
export const ASSIGNING_REFRESH_SECONDS = 10;
/** The unavailable page (deals switched off) checks back less eagerly. */
export const UNAVAILABLE_REFRESH_SECONDS = 30;
/** Without JavaScript, pages of an open deal reload this often to notice confirmation. */
const NOSCRIPT_REFRESH_AWAITING_SECONDS = 30;
const NOSCRIPT_REFRESH_CONFIRMING_SECONDS = 10;

export interface Chrome {
  lang: Lang;
  /** Path of this page without query, e.g. /pay/<id>; language links and forms build on it. */
  pagePath: string | null;
  cssUrl: string;
  jsUrl: string;
}

/** What the pending pages show about the invoice. */
export interface InvoiceSummary {
  merchantName: string;
  purpose: string | null;
  amount: string;
  currency: string;
  /** Seconds until expires_at by Kasa's clock; the countdown runs from this, not the phone's clock. */
  secondsLeft: number;
  expiresAt: Date;
}

/** What pay.js needs for polling; present only on pages that can still change. */
export interface Polling {
  statusUrl: string;
  /** The absolute link of this page, as the status JSON names it in redirect_url. */
  pageUrl: string;
  dealStatus: string | null;
}

export interface DealDetails {
  bankName: string;
  cardNumber: string;
  holderName: string;
}

type FinalStatus = 'success' | 'expired' | 'cancelled';

// ---------------------------------------------------------------------------------------------
// Pages

export function awaitingPaymentPage(c: Chrome, s: InvoiceSummary, deal: DealDetails, polling: Polling, csrfToken: string): string {
  const t = STRINGS[c.lang];
  return layout(c, {
    title: t.title,
    noscriptRefreshSeconds: NOSCRIPT_REFRESH_AWAITING_SECONDS,
    polling,
    content: html`
      ${merchantHeader(c, s)}
      <section class="panel">
        <p class="label">${t.transferExactly}</p>
        <p class="amount"><span class="value" id="amount">${s.amount}</span> <span class="currency">${s.currency}</span>${copyButton(c, s.amount)}</p>
        <p class="hint">${t.amountHint}</p>
        <dl class="requisite">
          <div class="field pan"><dt>${t.toCard}</dt><dd><span class="card-number" id="card-number">${groupCard(deal.cardNumber)}</span>${copyButton(c, deal.cardNumber)}</dd></div>
          <div class="field"><dt>${t.bank}</dt><dd>${deal.bankName}</dd></div>
          <div class="field"><dt>${t.holder}</dt><dd>${deal.holderName}</dd></div>
        </dl>
      </section>
      ${countdown(c, s)}
      <form class="paid" method="post" action="${c.pagePath}/paid">
        <input type="hidden" name="_csrf" value="${csrfToken}">
        <input type="hidden" name="lang" value="${c.lang}">
        <button type="submit" class="primary" id="paid">${t.paidButton}</button>
        <p class="hint">${t.paidHint}</p>
      </form>`,
  });
}

/**
 * The receipt part of a page: the upload form while a claim may be made, "under review" once a
 * dispute is open (more receipts may still be added). Null when receipts are not offered.
 */
export interface ReceiptOffer {
  underReview: boolean;
  /** The form's CSRF token, bound to the invoice like the "I have paid" form's. */
  csrfToken: string;
}

export function confirmingPage(c: Chrome, s: InvoiceSummary, deal: DealDetails, polling: Polling, receipt: ReceiptOffer | null = null): string {
  const t = STRINGS[c.lang];
  return layout(c, {
    title: receipt?.underReview ? t.reviewTitle : t.waitingTitle,
    noscriptRefreshSeconds: NOSCRIPT_REFRESH_CONFIRMING_SECONDS,
    polling,
    content: html`
      ${merchantHeader(c, s)}
      ${receipt?.underReview ? notice('waiting', t.reviewTitle, t.reviewText) : notice('waiting', t.waitingTitle, t.waitingText)}
      <section class="panel">
        <p class="label">${t.paymentDetails}</p>
        <p class="amount"><span class="value">${s.amount}</span> <span class="currency">${s.currency}</span></p>
        <dl class="requisite">
          <div class="field pan"><dt>${t.toCard}</dt><dd><span class="card-number">${groupCard(deal.cardNumber)}</span></dd></div>
          <div class="field"><dt>${t.bank}</dt><dd>${deal.bankName}</dd></div>
          <div class="field"><dt>${t.holder}</dt><dd>${deal.holderName}</dd></div>
        </dl>
      </section>
      ${countdown(c, s)}
      ${receipt ? receiptForm(c, receipt) : null}`,
  });
}

/** An expired invoice whose customer may still show they paid: the verdict, then the receipt part. */
export function expiredReceiptPage(c: Chrome, receipt: ReceiptOffer, merchantUrl: string | null): string {
  const t = STRINGS[c.lang];
  return layout(c, {
    title: receipt.underReview ? t.reviewTitle : t.expiredTitle,
    content: html`
      ${receipt.underReview ? notice('waiting', t.reviewTitle, t.reviewText) : notice('failed', t.expiredTitle, t.expiredText)}
      ${receiptForm(c, receipt)}
      ${merchantUrl ? html`<p><a class="button secondary" href="${merchantUrl}" rel="noreferrer">${t.continue}</a></p>` : null}`,
  });
}

/** Why a receipt was refused, in the customer's words, by the refusal's error code. */
const RECEIPT_REFUSALS: Record<string, StringKey> = {
  FILE_TOO_LARGE: 'receiptTooLarge',
  FILE_TYPE_REFUSED: 'receiptWrongType',
  FILE_MISSING: 'receiptMissing',
  RATE_LIMITED: 'receiptTooMany',
  DISPUTE_FILES_MAX: 'receiptFilesMax',
  OVERPAYMENT_TOO_LARGE: 'receiptAmountTooLarge',
  VALIDATION: 'receiptFieldsInvalid',
};

/** A receipt the page's form sent and Kasa refused (by its error code): why, and the way back. */
export function receiptRefusedPage(c: Chrome, code: string): string {
  const t = STRINGS[c.lang];
  return layout(c, {
    title: t.receiptRefusedTitle,
    content: html`
      ${notice('alert', t.receiptRefusedTitle, t[RECEIPT_REFUSALS[code] ?? 'receiptNotNow'])}
      ${c.pagePath ? html`<p><a class="button" href="${withLang(c.pagePath, c.lang)}">${t.backToPayment}</a></p>` : null}`,
  });
}

function receiptForm(c: Chrome, receipt: ReceiptOffer): Html {
  const t = STRINGS[c.lang];
  return html`
      <section class="panel receipt">
        <h2>${t.receiptTitle}</h2>
        <p>${t.receiptText}</p>
        <form class="receipt-form" method="post" action="${c.pagePath ?? ''}/receipt" enctype="multipart/form-data">
          <input type="hidden" name="_csrf" value="${receipt.csrfToken}">
          <input type="hidden" name="lang" value="${c.lang}">
          <label>${t.receiptFile} <input type="file" name="file" accept="image/jpeg,image/png,application/pdf" required></label>
          <label>${t.receiptCardLast4} <input type="text" name="card_last4" inputmode="numeric" pattern="[0-9]{4}" maxlength="4" autocomplete="off"></label>
          <label>${t.receiptPayerName} <input type="text" name="payer_name" maxlength="100" autocomplete="name"></label>
          <label>${t.receiptPaidAmount} <input type="text" name="paid_amount" inputmode="decimal" maxlength="20" autocomplete="off"></label>
          <button type="submit" class="button">${t.receiptSend}</button>
        </form>
      </section>`;
}

export function assigningPage(c: Chrome, s: InvoiceSummary, polling: Polling): string {
  const t = STRINGS[c.lang];
  return layout(c, {
    title: t.assigningTitle,
    refreshSeconds: ASSIGNING_REFRESH_SECONDS,
    polling,
    content: html`
      ${merchantHeader(c, s)}
      ${notice('waiting', t.assigningTitle, t.assigningText)}
      ${amountPanel(c, s)}
      ${countdown(c, s)}`,
  });
}

export function unavailablePage(c: Chrome, s: InvoiceSummary, polling: Polling): string {
  const t = STRINGS[c.lang];
  return layout(c, {
    title: t.unavailableTitle,
    refreshSeconds: UNAVAILABLE_REFRESH_SECONDS,
    polling,
    content: html`
      ${merchantHeader(c, s)}
      ${notice('alert', t.unavailableTitle, t.unavailableText)}
      ${amountPanel(c, s)}`,
  });
}

export function finalPage(c: Chrome, status: FinalStatus): string {
  const t = STRINGS[c.lang];
  const [tone, title, text]: [string, StringKey, StringKey] =
    status === 'success'
      ? ['done', 'successTitle', 'successText']
      : status === 'expired'
        ? ['failed', 'expiredTitle', 'expiredText']
        : ['failed', 'cancelledTitle', 'cancelledText'];
  return layout(c, { title: t[title], content: notice(tone, t[title], t[text]) });
}

/**
 * A final invoice reached right after the "I have paid" form: the merchant's URL is followed by
 * a meta refresh, not a 303, because browsers apply form-action 'self' to every redirect that
 * follows a form submission and would block the hop to the shop.
 */
export function leavingPage(c: Chrome, status: FinalStatus, target: string): string {
  const t = STRINGS[c.lang];
  const [tone, title]: [string, StringKey] =
    status === 'success' ? ['done', 'successTitle'] : status === 'expired' ? ['failed', 'expiredTitle'] : ['failed', 'cancelledTitle'];
  return layout(c, {
    title: t[title],
    redirectTo: target,
    content: html`
      ${notice(tone, t[title], '')}
      <p><a class="button" href="${target}" rel="noreferrer">${t.continue}</a></p>`,
  });
}

export function notFoundPage(c: Chrome): string {
  const t = STRINGS[c.lang];
  return layout(c, { title: t.notFoundTitle, content: notice('failed', t.notFoundTitle, t.notFoundText) });
}

/** A form POST without a valid CSRF token: usually cookies blocked or lost; say how to go on. */
export function formExpiredPage(c: Chrome): string {
  const t = STRINGS[c.lang];
  return layout(c, {
    title: t.formExpiredTitle,
    content: html`
      ${notice('alert', t.formExpiredTitle, t.formExpiredText)}
      ${c.pagePath ? html`<p><a class="button" href="${withLang(c.pagePath, c.lang)}">${t.backToPayment}</a></p>` : null}`,
  });
}

// ---------------------------------------------------------------------------------------------
// Parts

interface LayoutOptions {
  title: string;
  content: Html;
  /** A plain meta refresh: the page must be fetched again, with or without JavaScript. */
  refreshSeconds?: number;
  /** Leave for this URL at once (a meta refresh). */
  redirectTo?: string;
  /** A meta refresh for browsers without JavaScript only; with it, pay.js polls instead. */
  noscriptRefreshSeconds?: number;
  polling?: Polling;
}

function layout(c: Chrome, o: LayoutOptions): string {
  const t = STRINGS[c.lang];
  const p = o.polling;
  return (
    '<!doctype html>\n' +
    html`<html lang="${c.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="referrer" content="no-referrer">
<meta name="color-scheme" content="light dark">
${o.refreshSeconds ? html`<meta http-equiv="refresh" content="${o.refreshSeconds}">` : null}
${o.redirectTo ? html`<meta http-equiv="refresh" content="0;url=${o.redirectTo}">` : null}
${o.noscriptRefreshSeconds ? html`<noscript><meta http-equiv="refresh" content="${o.noscriptRefreshSeconds}"></noscript>` : null}
<title>${o.title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${c.cssUrl}">
<script src="${c.jsUrl}" defer></script>
</head>
<body${p ? html` data-status-url="${p.statusUrl}" data-page-url="${p.pageUrl}" data-deal-status="${p.dealStatus ?? ''}"` : null}>
<main class="sheet">
${o.content}
</main>
<footer class="footer">
${c.pagePath ? languageSwitch(c) : null}
<p class="brand">Kasa · ${t.title}</p>
</footer>
</body>
</html>
`.value
  );
}

function merchantHeader(c: Chrome, s: InvoiceSummary): Html {
  const t = STRINGS[c.lang];
  return html`
      <header class="merchant">
        <p class="eyebrow">${t.payTo}</p>
        <h1>${s.merchantName}</h1>
        ${s.purpose ? html`<p class="purpose"><span class="sr">${t.purpose}: </span>${s.purpose}</p>` : null}
      </header>`;
}

function amountPanel(c: Chrome, s: InvoiceSummary): Html {
  const t = STRINGS[c.lang];
  return html`
      <section class="panel">
        <p class="label">${t.amount}</p>
        <p class="amount"><span class="value">${s.amount}</span> <span class="currency">${s.currency}</span></p>
      </section>`;
}

function notice(tone: string, title: string, text: string): Html {
  return html`
      <section class="notice ${tone}">
        <div class="icon" aria-hidden="true"></div>
        <h2>${title}</h2>
        ${text ? html`<p>${text}</p>` : null}
      </section>`;
}

function countdown(c: Chrome, s: InvoiceSummary): Html {
  const t = STRINGS[c.lang];
  return html`
      <p class="timer">${t.timeLeft}: <time id="countdown" datetime="${isoSeconds(s.expiresAt)}" data-seconds-left="${s.secondsLeft}">${formatDuration(s.secondsLeft)}</time></p>`;
}

/** Hidden until pay.js shows it: without JavaScript a copy button could do nothing. */
function copyButton(c: Chrome, text: string): Html {
  const t = STRINGS[c.lang];
  return html`<button type="button" class="copy" data-copy="${text}" data-copied="${t.copied}" hidden>${t.copy}</button>`;
}

function languageSwitch(c: Chrome): Html {
  const t = STRINGS[c.lang];
  const links = LANGS.map((lang) =>
    lang === c.lang
      ? html`<strong>${STRINGS[lang].langName}</strong>`
      : html`<a href="${withLang(c.pagePath ?? '', lang)}" hreflang="${lang}" lang="${lang}">${STRINGS[lang].langName}</a>`,
  );
  return html`<nav class="langs" aria-label="${t.language}">${links}</nav>`;
}

export function withLang(path: string, lang: Lang): string {
  return `${path}?lang=${lang}`;
}

/** 1199 → "19:59"; an hour or more → "1:05:09". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const two = (n: number) => String(n).padStart(2, '0');
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}:${two(m)}:${two(s % 60)}` : `${two(m)}:${two(s % 60)}`;
}
