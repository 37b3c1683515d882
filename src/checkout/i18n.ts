// Every string the payment page shows, in Ukrainian and English, and how a request picks one.
// One table, so a missing translation is a type error rather than a blank on a customer's phone.

export const LANGS = ['uk', 'en'] as const;
export type Lang = (typeof LANGS)[number];

/** Accept-Language headers longer than this are not parsed (a browser sends a few dozen bytes). */
const ACCEPT_LANGUAGE_LENGTH_MAX = 512;

const en = {
  langName: 'English',
  title: 'Payment',
  payTo: 'Payment to',
  purpose: 'Purpose',
  invoice: 'Invoice',
  amount: 'Amount',
  transferExactly: 'Transfer exactly',
  amountHint: 'One transfer of exactly this amount, not rounded: the recipient recognises your payment by it.',
  toCard: 'Card number',
  bank: 'Bank',
  holder: 'Recipient',
  copy: 'Copy',
  copied: 'Copied',
  timeLeft: 'Time left to pay',
  paidButton: 'I have paid',
  paidHint: 'Press the button once your bank shows the transfer as sent.',
  waitingTitle: 'Checking your payment',
  waitingText: 'The recipient is confirming that your transfer has arrived. This page updates by itself — keep it open.',
  paymentDetails: 'Your transfer',
  assigningTitle: 'Looking for a recipient',
  assigningText: 'No recipient is available right now. This page tries again by itself every few seconds — keep it open.',
  unavailableTitle: 'Payments are temporarily unavailable',
  unavailableText: 'Please try again a little later. This page checks again by itself.',
  successTitle: 'Payment received',
  successText: 'Thank you! Your payment has been confirmed. You can close this page.',
  expiredTitle: 'The time for this payment has run out',
  expiredText: 'This payment link is no longer valid. If you have already sent money, contact the shop.',
  cancelledTitle: 'This payment has been cancelled',
  cancelledText: 'The shop has cancelled this payment. If you have already sent money, contact the shop.',
  notFoundTitle: 'Payment not found',
  notFoundText: 'Check the link, or ask the shop for a new one.',
  formExpiredTitle: 'This page has expired',
  formExpiredText: 'Go back to the payment page and press the button again. Make sure your browser allows cookies for this site.',
  backToPayment: 'Back to the payment page',
  continue: 'Continue',
  language: 'Language',
  receiptTitle: 'Upload receipt',
  receiptText: 'If you sent the money and it has not been confirmed, upload the receipt from your bank (JPEG, PNG or PDF, up to 5 MB).',
  receiptFile: 'Receipt file',
  receiptCardLast4: 'Last 4 digits of your card (optional)',
  receiptPayerName: 'Name on your account (optional)',
  receiptPaidAmount: 'Amount you sent (optional)',
  receiptSend: 'Send receipt',
  reviewTitle: 'Your payment is under review',
  reviewText: 'We have your receipt. The payment is being checked; this page shows the result once it is decided.',
  receiptRefusedTitle: 'The receipt was not accepted',
  receiptTooLarge: 'The file is larger than 5 MB. Send a smaller photo or PDF of the receipt.',
  receiptWrongType: 'Only a JPEG or PNG photo or a plain PDF of the receipt is taken.',
  receiptMissing: 'Choose the receipt file first.',
  receiptTooMany: 'Too many receipts for this payment. Wait a minute and try again.',
  receiptFilesMax: 'This payment already has as many files as it can hold; it is being checked.',
  receiptAmountTooLarge: 'The amount you typed is far above the amount of this payment. Check it and send again.',
  receiptFieldsInvalid: 'Check the fields: the card digits are 4 numbers and the amount is like 1500.00.',
  receiptNotNow: 'A receipt cannot be added to this payment now.',
} as const;

type Strings = { readonly [K in keyof typeof en]: string };

const uk: Strings = {
  langName: 'Українська',
  title: 'Оплата',
  payTo: 'Оплата для',
  purpose: 'Призначення',
  invoice: 'Рахунок',
  amount: 'Сума',
  transferExactly: 'Переказати рівно',
  amountHint: 'Одним переказом рівно цю суму, без округлення: за нею отримувач впізнає ваш платіж.',
  toCard: 'Номер картки',
  bank: 'Банк',
  holder: 'Отримувач',
  copy: 'Копіювати',
  copied: 'Скопійовано',
  timeLeft: 'Залишилось часу на оплату',
  paidButton: 'Я оплатив(-ла)',
  paidHint: 'Натисніть кнопку, щойно банк покаже, що переказ надіслано.',
  waitingTitle: 'Перевіряємо ваш платіж',
  waitingText: 'Отримувач підтверджує, що ваш переказ надійшов. Сторінка оновиться сама — не закривайте її.',
  paymentDetails: 'Ваш переказ',
  assigningTitle: 'Шукаємо отримувача',
  assigningText: 'Зараз немає вільного отримувача. Сторінка сама повторює спробу кожні кілька секунд — не закривайте її.',
  unavailableTitle: 'Платежі тимчасово недоступні',
  unavailableText: 'Спробуйте трохи пізніше. Сторінка перевірить ще раз сама.',
  successTitle: 'Оплату отримано',
  successText: 'Дякуємо! Ваш платіж підтверджено. Цю сторінку можна закрити.',
  expiredTitle: 'Час на оплату минув',
  expiredText: 'Це посилання на оплату більше не дійсне. Якщо ви вже надіслали гроші, зверніться до магазину.',
  cancelledTitle: 'Платіж скасовано',
  cancelledText: 'Магазин скасував цей платіж. Якщо ви вже надіслали гроші, зверніться до магазину.',
  notFoundTitle: 'Платіж не знайдено',
  notFoundText: 'Перевірте посилання або попросіть у магазину нове.',
  formExpiredTitle: 'Сторінка застаріла',
  formExpiredText: 'Поверніться на сторінку оплати й натисніть кнопку ще раз. Переконайтеся, що браузер дозволяє cookies для цього сайту.',
  backToPayment: 'Повернутися до оплати',
  continue: 'Продовжити',
  language: 'Мова',
  receiptTitle: 'Завантажити квитанцію',
  receiptText: 'Якщо ви надіслали гроші, а оплату не підтверджено, завантажте квитанцію з банку (JPEG, PNG або PDF, до 5 МБ).',
  receiptFile: 'Файл квитанції',
  receiptCardLast4: 'Останні 4 цифри вашої картки (необовʼязково)',
  receiptPayerName: 'Імʼя власника рахунку (необовʼязково)',
  receiptPaidAmount: 'Надіслана сума (необовʼязково)',
  receiptSend: 'Надіслати квитанцію',
  reviewTitle: 'Ваш платіж на перевірці',
  reviewText: 'Ми отримали вашу квитанцію. Платіж перевіряють; ця сторінка покаже результат, щойно буде рішення.',
  receiptRefusedTitle: 'Квитанцію не прийнято',
  receiptTooLarge: 'Файл більший за 5 МБ. Надішліть менше фото або PDF квитанції.',
  receiptWrongType: 'Приймаємо лише фото JPEG або PNG чи звичайний PDF квитанції.',
  receiptMissing: 'Спершу виберіть файл квитанції.',
  receiptTooMany: 'Забагато квитанцій для цього платежу. Зачекайте хвилину й спробуйте знову.',
  receiptFilesMax: 'До цього платежу вже додано найбільше файлів; його перевіряють.',
  receiptAmountTooLarge: 'Введена сума значно більша за суму платежу. Перевірте її й надішліть знову.',
  receiptFieldsInvalid: 'Перевірте поля: цифри картки — це 4 числа, а сума — як 1500.00.',
  receiptNotNow: 'Зараз до цього платежу не можна додати квитанцію.',
};

export const STRINGS: Record<Lang, Strings> = { uk, en };
export type StringKey = keyof Strings;

export function isLang(value: unknown): value is Lang {
  return typeof value === 'string' && (LANGS as readonly string[]).includes(value);
}

/**
 * `?lang=` wins, then the first supported language of Accept-Language by weight, then the
 * invoice's currency: Ukrainian for hryvnia, English for everything else.
 */
export function chooseLang(query: unknown, acceptLanguage: string | undefined, currency: string | null): Lang {
  if (isLang(query)) return query;
  const accepted = acceptLanguage ? fromAcceptLanguage(acceptLanguage) : null;
  if (accepted) return accepted;
  return currency === 'UAH' ? 'uk' : 'en';
}

/** The supported language the browser prefers most, or null if it accepts none of them. */
export function fromAcceptLanguage(header: string): Lang | null {
  if (header.length > ACCEPT_LANGUAGE_LENGTH_MAX) return null;
  let best: { lang: Lang; q: number } | null = null;
  for (const part of header.split(',')) {
    const [tag = '', ...params] = part.trim().split(';');
    const primary = tag.trim().toLowerCase().split('-')[0];
    if (!isLang(primary)) continue;
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    if (!Number.isFinite(q) || q <= 0) continue;
    // Ties keep the earlier entry: browsers list languages in the user's order.
    if (!best || q > best.q) best = { lang: primary, q };
  }
  return best?.lang ?? null;
}
