// The frame of every cabinet page: head, header with the signed-in person and sign-out, the
// page's content, the language switch. Pure: it takes what to show and gives HTML. Nothing
// inline (no <script>, no style=""), so the Content-Security-Policy forbids both; every value
// passes through the escaping `html` tag.
import { html, type Html } from '../checkout/html.ts';
import { LANGS } from '../checkout/i18n.ts';
import { CABINET_STRINGS, type Lang } from './i18n.ts';

export { html, type Html };

export interface FrameUser {
  name: string;
  email: string;
  role: 'operator' | 'merchant' | 'trader';
}

export interface NavLink {
  href: string;
  label: string;
}

/** What every page of a request shares: its language, its path, the assets, who is signed in. */
export interface Frame {
  lang: Lang;
  /** This page's path without its query: the language links point at it. */
  path: string;
  cssUrl: string;
  jsUrl: string;
  user: FrameUser | null;
  /** The token of this session's forms (the sign-out button is one). */
  csrfToken: string;
}

export interface PageOptions {
  title: string;
  content: Html;
  /** The section's navigation, shown under the header; the current page's link is marked. */
  nav?: NavLink[];
  /** data-* attributes of <body> that cabinet.js reads (live updates), without the data- prefix. */
  data?: Record<string, string>;
  /** Without JavaScript, the page reloads itself this often (live lists). */
  noscriptRefreshSeconds?: number;
}

/** The hidden field every form carries (CSRF). */
export function csrfField(frame: Frame): Html {
  return html`<input type="hidden" name="_csrf" value="${frame.csrfToken}">`;
}

/** A one-button form that posts to `action`: buttons that change something never are links. */
export function postButton(frame: Frame, action: string, label: string, className = 'secondary'): Html {
  return html`<form method="post" action="${action}" class="inline">${csrfField(frame)}<button type="submit" class="${className}">${label}</button></form>`;
}

export function notice(tone: 'info' | 'good' | 'bad', text: string | null | undefined): Html | null {
  if (!text) return null;
  return html`<p class="notice ${tone}" role="${tone === 'bad' ? 'alert' : 'status'}">${text}</p>`;
}

export function renderPage(frame: Frame, o: PageOptions): string {
  const t = CABINET_STRINGS[frame.lang];
  const data = Object.entries(o.data ?? {}).map(([k, v]) => html` data-${k}="${v}"`);
  return (
    '<!doctype html>\n' +
    html`<html lang="${frame.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="referrer" content="no-referrer">
<meta name="color-scheme" content="light dark">
${o.noscriptRefreshSeconds ? html`<noscript><meta http-equiv="refresh" content="${o.noscriptRefreshSeconds}"></noscript>` : null}
<title>${o.title} · ${t.kasa}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${frame.cssUrl}">
<script src="${frame.jsUrl}" defer></script>
</head>
<body${data}>
<a class="skip" href="#main">${frame.lang === 'uk' ? 'До вмісту' : 'Skip to content'}</a>
<header class="top">
<p class="brand">${t.kasa}</p>
${frame.user ? userBox(frame) : null}
</header>
${o.nav?.length ? navBar(frame, o.nav) : null}
<main id="main" class="sheet">
${o.content}
</main>
<footer class="footer">
${languageSwitch(frame)}
</footer>
</body>
</html>
`.value
  );
}

function userBox(frame: Frame): Html {
  const t = CABINET_STRINGS[frame.lang];
  const user = frame.user!;
  return html`<div class="who"><span class="sr">${t.signedInAs} </span><span class="name">${user.name}</span>
${postButton(frame, '/logout', t.signOut, 'link')}</div>`;
}

function navBar(frame: Frame, links: NavLink[]): Html {
  const items = links.map((l) =>
    l.href === frame.path ? html`<a href="${l.href}" aria-current="page">${l.label}</a>` : html`<a href="${l.href}">${l.label}</a>`,
  );
  return html`<nav class="sections" aria-label="${frame.user ? roleHome(frame.lang, frame.user.role) : ''}">${items}</nav>`;
}

export function roleHome(lang: Lang, role: FrameUser['role']): string {
  const t = CABINET_STRINGS[lang];
  return role === 'operator' ? t.operatorConsole : role === 'merchant' ? t.merchantCabinet : t.traderCabinet;
}

function languageSwitch(frame: Frame): Html {
  const t = CABINET_STRINGS[frame.lang];
  const links = LANGS.map((lang) =>
    lang === frame.lang
      ? html`<strong>${CABINET_STRINGS[lang].langName}</strong>`
      : html`<a href="${frame.path}?lang=${lang}" hreflang="${lang}" lang="${lang}">${CABINET_STRINGS[lang].langName}</a>`,
  );
  return html`<nav class="langs" aria-label="${t.language}">${links}</nav>`;
}
