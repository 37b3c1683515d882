// Admin API: the operator's numbers of today, for the console's home page.
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.ts';
import type { DB } from '../db/schema.ts';
import { adminAuth } from '../http/auth.ts';
import type { KasaApp } from '../http/validation.ts';
import { dayNumbers } from './day.ts';
import { dayNumbersObject } from './schema.ts';

export async function reportAdminRoutes(app: KasaApp, { adminToken, db, clock }: { adminToken: string; db: Kysely<DB>; clock: Clock }) {
  app.addHook('onRequest', adminAuth(adminToken));
  app.get(
    '/overview',
    {
      schema: {
        summary: "Today's numbers: invoices and their success rate, volume, open deals, traders, webhook backlog, ledger check",
        description:
          'The invoice numbers are of the invoices created today (UTC, by the server clock); the deals, traders, webhooks and ledger numbers are of now.',
        operationId: 'getOverview',
        tags: ['admin: overview'],
        security: [{ adminToken: [] }],
        response: { 200: dayNumbersObject },
      },
      config: { errorDocs: { 401: 'UNAUTHORIZED' } },
    },
    async () => dayNumbers(db, clock),
  );
}
