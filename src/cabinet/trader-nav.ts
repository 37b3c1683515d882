// The trader cabinet's sections, in the navigation bar of each of its pages.
import type { Lang } from './i18n.ts';
import type { NavLink } from './layout.ts';

const STRINGS = {
  en: { queue: 'Deals', requisites: 'Cards', balance: 'Balance' },
  uk: { queue: 'Угоди', requisites: 'Картки', balance: 'Баланс' },
} as const satisfies Record<Lang, Record<string, string>>;

export function traderNav(lang: Lang): NavLink[] {
  const s = STRINGS[lang];
  return [
    { href: '/trader', label: s.queue },
    { href: '/trader/requisites', label: s.requisites },
    { href: '/trader/balance', label: s.balance },
  ];
}
