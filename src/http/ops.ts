// Operations endpoints: liveness, readiness, the OpenAPI document.
import { sql, type Kysely } from 'kysely';
import type { Engine } from '../db/connect.ts';
import type { DB } from '../db/schema.ts';
import { errors } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import { record, textResponse } from './schemas.ts';
import type { KasaApp } from './validation.ts';

const READINESS_TIMEOUT_MS = 2_000;

export async function opsRoutes(app: KasaApp, { db, engine, metrics }: { db: Kysely<DB>; engine: Engine; metrics: Metrics }) {
  // Probes and scrapers carry no credentials. They are for a supervisor and Prometheus, not for
  // API clients, and take no input that could be refused: the OpenAPI document leaves them out
  // (README, Operations, documents them).
  const security: [] = [];
  const hide = true;
  app.get(
    '/healthz',
    {
      schema: {
        hide,
        summary: 'The process is up',
        operationId: 'getHealth',
        tags: ['ops'],
        security,
        response: { 200: record({ status: { type: 'string', enum: ['ok'] } }) },
      },
    },
    async () => ({ status: 'ok' }),
  );

  const readiness = record({
    status: { type: 'string', enum: ['ready'] },
    database: { type: 'string', enum: ['postgres', 'pglite'], description: 'The engine Kasa runs on' },
  });
  app.get(
    '/readyz',
    {
      schema: { hide, summary: 'The database answers', operationId: 'getReadiness', tags: ['ops'], security, response: { 200: readiness } },
      config: { errorDocs: { 503: 'NOT_READY: the database did not answer in time' } },
    },
    async () => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          sql`SELECT 1`.execute(db),
          new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), READINESS_TIMEOUT_MS))),
        ]);
      } catch {
        throw errors.notReady();
      } finally {
        clearTimeout(timer);
      }
      return { status: 'ready', database: engine };
    },
  );

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get(
    '/metrics',
    {
      schema: {
        hide,
        summary: 'Prometheus metrics',
        operationId: 'getMetrics',
        tags: ['ops'],
        security,
        response: { 200: textResponse('text/plain', 'Prometheus text exposition format') },
      },
    },
    async (_request, reply) => {
      reply.type(metrics.registry.contentType);
      return metrics.registry.metrics();
    },
  );
}
