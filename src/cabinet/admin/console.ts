// The operator console (/admin): its page groups, each a section of the cabinets given the
// services it uses. Every page and form is for operators only (kit.requireUser(['operator'])).
import type { Kysely } from 'kysely';
import type { Clock } from '../../clock.ts';
import type { DB } from '../../db/schema.ts';
import type { Deals } from '../../deals/service.ts';
import type { Merchants } from '../../merchants/service.ts';
import type { Audit } from '../../people/audit.ts';
import type { Users } from '../../people/users.ts';
import type { Catalog } from '../../rates/catalog.ts';
import type { Traders } from '../../traders/service.ts';
import type { Webhooks } from '../../webhooks/service.ts';
import type { CabinetSection } from '../plugin.ts';
import { auditPage } from './audit-routes.ts';
import { dealPages } from './deal-routes.ts';
import { homePage } from './home-routes.ts';
import { merchantPages } from './merchant-routes.ts';
import { platformPages } from './platform-routes.ts';
import { traderPages } from './trader-routes.ts';

export interface OperatorConsoleOptions {
  db: Kysely<DB>;
  clock: Clock;
  merchants: Merchants;
  traders: Traders;
  deals: Deals;
  catalog: Catalog;
  webhooks: Webhooks;
  users: Users;
  audit: Audit;
  webhookAllowPrivate: boolean;
}

export function operatorConsoleRoutes(o: OperatorConsoleOptions): CabinetSection[] {
  return [homePage(o), merchantPages(o), traderPages(o), dealPages(o), platformPages(o), auditPage(o)];
}
