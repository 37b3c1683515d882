// Operations endpoints: liveness, readiness, the OpenAPI document.
import { sql, type Kysely } from 'kysely';
import type { Engine } from '../db/connect.ts';
import type { DB } from '../db/schema.ts';
import { errors } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import type { KasaApp } from './validation.ts';

const READINESS_TIMEOUT_MS = 2_000;

export async function opsRoutes(app: KasaApp, { db, engine, metrics }: { db: Kysely<DB>; engine: Engine; metrics: Metrics }) {
  app.get('/healthz', { schema: { summary: 'The process is up', tags: ['ops'] } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { summary: 'The database answers', tags: ['ops'] } }, async () => {
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
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get('/metrics', { schema: { summary: 'Prometheus metrics', tags: ['ops'] } }, async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
