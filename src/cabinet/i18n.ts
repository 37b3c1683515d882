// The words of Kasa's cabinets that every section shares (sign-in, the frame of each page), in
// Ukrainian and English; each section keeps its own table beside its pages the same way. One
// table per language, so a missing translation is a type error.
import { fromAcceptLanguage, isLang, type Lang } from '../checkout/i18n.ts';

export { isLang, type Lang };

const en = {
  langName: 'English',
  language: 'Language',
  kasa: 'Kasa',
  signInTitle: 'Sign in to Kasa',
  email: 'Email',
  password: 'Password',
  code: '6-digit code',
  codeHint: 'From your authenticator app. Lost your phone? Type one of your recovery codes instead.',
  signIn: 'Sign in',
  signOut: 'Sign out',
  signOutEverywhere: 'Sign out everywhere',
  signOutEverywhereHint: 'Ends every session of your account, on every device.',
  signOutTitle: 'Sign out of Kasa?',
  wrongCredentials: 'The email or password is wrong.',
  wrongCode: 'The code is wrong or already used. Wait for the next code and try again.',
  codeExpired: 'The sign-in took too long. Start again with your email and password.',
  lockedOut: 'Too many attempts. Wait {minutes} min and try again.',
  signedOut: 'You have signed out.',
  signedOutEverywhere: 'Every session of your account has ended.',
  sessionEnded: 'Your session has ended. Sign in again.',
  setPasswordTitle: 'Set your password',
  setPasswordIntro: 'Choose a password for {email}: at least 10 characters, not a common one.',
  newPassword: 'New password',
  repeatPassword: 'Repeat the password',
  totpTitle: 'Two-factor sign-in',
  totpIntroRequired:
    'Add Kasa to an authenticator app (Google Authenticator, Aegis, 1Password…): scan the link or type the key, then enter the 6-digit code it shows.',
  totpIntroOptional: 'Optional: add Kasa to an authenticator app and enter its 6-digit code to ask for a code at every sign-in. Leave the code empty to skip.',
  totpKey: 'Key',
  totpLink: 'Open in an authenticator app',
  savePassword: 'Save the password',
  passwordSetTitle: 'Your password is set',
  passwordSetText: 'Sign in with your email and the new password.',
  recoveryTitle: 'Recovery codes',
  recoveryText: 'Each code signs you in once if you lose your phone. Keep them somewhere safe: they are shown only now.',
  linkInvalidTitle: 'This link does not work',
  linkInvalidText: 'It has been used or is older than 24 hours. Ask an operator for a new one.',
  tooShort: 'The password must have at least 10 characters.',
  tooLong: 'The password is too long.',
  common: 'This password is too common or too easy to guess. Choose another.',
  mismatch: 'The two passwords differ.',
  totpInvalid: 'The 6-digit code does not match the key. Check the time on your phone and try again.',
  formExpiredTitle: 'This form has expired',
  formExpiredText: 'Go back, reload the page and send the form again. Make sure your browser allows cookies for this site.',
  back: 'Back',
  forbiddenTitle: 'This page is not for your account',
  forbiddenText: 'Your account cannot open or change this page.',
  toMyCabinet: 'To my cabinet',
  notFoundTitle: 'Page not found',
  signedInAs: 'Signed in as',
  merchantCabinet: 'Merchant cabinet',
  operatorConsole: 'Operator console',
  traderCabinet: 'Trader cabinet',
  roleOperator: 'operator',
  roleMerchant: 'merchant',
  roleTrader: 'trader',
} as const;

export type CabinetStrings = { readonly [K in keyof typeof en]: string };

const uk: CabinetStrings = {
  langName: 'Українська',
  language: 'Мова',
  kasa: 'Kasa',
  signInTitle: 'Вхід до Kasa',
  email: 'Email',
  password: 'Пароль',
  code: '6-значний код',
  codeHint: 'З застосунку-автентифікатора. Втратили телефон? Введіть замість коду один із кодів відновлення.',
  signIn: 'Увійти',
  signOut: 'Вийти',
  signOutEverywhere: 'Вийти на всіх пристроях',
  signOutEverywhereHint: 'Завершує всі сесії вашого облікового запису на всіх пристроях.',
  signOutTitle: 'Вийти з Kasa?',
  wrongCredentials: 'Неправильний email або пароль.',
  wrongCode: 'Код неправильний або вже використаний. Дочекайтеся наступного коду й спробуйте ще раз.',
  codeExpired: 'Вхід тривав задовго. Почніть знову з email і пароля.',
  lockedOut: 'Забагато спроб. Зачекайте {minutes} хв і спробуйте ще раз.',
  signedOut: 'Ви вийшли.',
  signedOutEverywhere: 'Усі сесії вашого облікового запису завершено.',
  sessionEnded: 'Сесію завершено. Увійдіть знову.',
  setPasswordTitle: 'Встановіть пароль',
  setPasswordIntro: 'Оберіть пароль для {email}: щонайменше 10 символів, не з поширених.',
  newPassword: 'Новий пароль',
  repeatPassword: 'Повторіть пароль',
  totpTitle: 'Двофакторний вхід',
  totpIntroRequired:
    'Додайте Kasa до застосунку-автентифікатора (Google Authenticator, Aegis, 1Password…): відкрийте посилання або введіть ключ, потім введіть 6-значний код, який він покаже.',
  totpIntroOptional:
    'Необов’язково: додайте Kasa до застосунку-автентифікатора й введіть його 6-значний код, щоб при кожному вході запитувався код. Залиште код порожнім, щоб пропустити.',
  totpKey: 'Ключ',
  totpLink: 'Відкрити в застосунку-автентифікаторі',
  savePassword: 'Зберегти пароль',
  passwordSetTitle: 'Пароль встановлено',
  passwordSetText: 'Увійдіть зі своїм email і новим паролем.',
  recoveryTitle: 'Коди відновлення',
  recoveryText: 'Кожен код один раз дає змогу увійти, якщо ви втратите телефон. Збережіть їх у надійному місці: вони показуються лише зараз.',
  linkInvalidTitle: 'Це посилання не працює',
  linkInvalidText: 'Його вже використано або йому понад 24 години. Попросіть оператора про нове.',
  tooShort: 'Пароль має містити щонайменше 10 символів.',
  tooLong: 'Пароль задовгий.',
  common: 'Цей пароль надто поширений або легко вгадується. Оберіть інший.',
  mismatch: 'Паролі не збігаються.',
  totpInvalid: '6-значний код не відповідає ключу. Перевірте час на телефоні й спробуйте ще раз.',
  formExpiredTitle: 'Форма застаріла',
  formExpiredText: 'Поверніться, оновіть сторінку й надішліть форму ще раз. Переконайтеся, що браузер дозволяє cookies для цього сайту.',
  back: 'Назад',
  forbiddenTitle: 'Ця сторінка не для вашого облікового запису',
  forbiddenText: 'Ваш обліковий запис не може відкрити чи змінити цю сторінку.',
  toMyCabinet: 'До мого кабінету',
  notFoundTitle: 'Сторінку не знайдено',
  signedInAs: 'Ви увійшли як',
  merchantCabinet: 'Кабінет мерчанта',
  operatorConsole: 'Консоль оператора',
  traderCabinet: 'Кабінет трейдера',
  roleOperator: 'оператор',
  roleMerchant: 'мерчант',
  roleTrader: 'трейдер',
};

export const CABINET_STRINGS: Record<Lang, CabinetStrings> = { uk, en };

/** `?lang=` wins (and is remembered in a cookie), then the cookie, then Accept-Language, then Ukrainian. */
export function cabinetLang(query: unknown, cookie: unknown, acceptLanguage: string | undefined): Lang {
  if (isLang(query)) return query;
  if (isLang(cookie)) return cookie;
  return (acceptLanguage ? fromAcceptLanguage(acceptLanguage) : null) ?? 'uk';
}

/** Fills `{name}` placeholders of a translated string. */
export function fill(text: string, values: Record<string, string | number>): string {
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in values ? String(values[name]) : whole));
}
