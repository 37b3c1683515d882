// Operations endpoints: liveness, readiness, the OpenAPI document.
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { Kasa } from '../context.ts';
import { errors } from '../errors.ts';

const READINESS_TIMEOUT_MS = 2_000;

export async function opsRoutes(app: FastifyInstance, { kasa }: { kasa: Kasa }) {
  app.get('/healthz', { schema: { summary: 'The process is up', tags: ['ops'] } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { summary: 'The database answers', tags: ['ops'] } }, async () => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        sql`SELECT 1`.execute(kasa.db),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), READINESS_TIMEOUT_MS))),
      ]);
    } catch {
      throw errors.notReady();
    } finally {
      clearTimeout(timer);
    }
    return { status: 'ready', database: kasa.engine };
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get('/metrics', { schema: { summary: 'Prometheus metrics', tags: ['ops'] } }, async (_request, reply) => {
    reply.type(kasa.metrics.registry.contentType);
    return kasa.metrics.registry.metrics();
  });
}
