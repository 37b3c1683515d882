// The merchant cabinet (/merchant): invoices, balance, API keys, webhook settings, one's own
// two-factor sign-in, and for owners the merchant's users and audit log. Every page reads the
// signed-in user's merchant only; who may change what is checked on each form's route (see
// common.ts for the roles).
import type { KasaApp } from '../../http/validation.ts';
import type { CabinetKit, CabinetSection } from '../plugin.ts';
import { balancePage } from './balance-page.ts';
import type { MerchantCabinetOptions } from './common.ts';
import { developerPages } from './developer-pages.ts';
import { invoicePages } from './invoice-pages.ts';
import { teamPages } from './team-pages.ts';
import { twoFactorPage } from './two-factor-page.ts';

export type { MerchantCabinetOptions };

export function merchantCabinetRoutes(options: MerchantCabinetOptions): CabinetSection {
  const parts = [invoicePages(options), balancePage(options), developerPages(options), teamPages(options), twoFactorPage(options)];
  return async function merchantSection(app: KasaApp, kit: CabinetKit) {
    for (const part of parts) await part(app, kit);
  };
}
