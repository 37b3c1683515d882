// `kasa serve`: config → database → migrations → HTTP app → signals.
import type { FastifyInstance } from 'fastify';
import { resolveAdminToken } from './admin-token.ts';
import { resolveSecretKey } from './secret-key.ts';
import { systemClock } from './clock.ts';
import type { Config } from './config.ts';
import { buildApp, createKasa } from './context.ts';
import { connect } from './db/connect.ts';
import { migrate } from './db/migrate.ts';
import { prepareDataDir, restrictNewFiles, tightenDataDir } from './data-dir.ts';
import { cliUrl, demoBanner, seedDemo } from './demo.ts';
import { createLogger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import { DeliveryWorker } from './webhooks/delivery.ts';
import { startDisputeTimers } from './workers/dispute-timers.ts';
import { startExpiryWorker } from './workers/expiry.ts';
import { startIdempotencyPurge } from './workers/idempotency-purge.ts';
import { startPeoplePurge } from './workers/people-purge.ts';
import { startRateWorker } from './workers/rates.ts';

/** api: HTTP only; worker: background workers only; all: both in one process (the default). */
export type Role = 'api' | 'worker' | 'all';

export interface ServeOptions {
  /** Seed the demo (currency, merchant, trader) on an empty database and print how to use it. */
  demo: boolean;
  role: Role;
}

/** How long in-flight requests may take to finish after SIGTERM before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000;

/** `kasa serve` could not take its address; the process must end so its supervisor sees it. */
export class ListenFailed extends Error {
  override name = 'ListenFailed';
  constructor(host: string, port: number, cause: NodeJS.ErrnoException) {
    const address = `${host}:${port}`;
    const reason =
      cause.code === 'EADDRINUSE'
        ? `another process already listens on it (EADDRINUSE); stop it, or set PORT to a free port`
        : cause.code === 'EACCES'
          ? `permission denied (EACCES); ports below 1024 need privileges, set PORT to a higher one`
          : cause.code === 'EADDRNOTAVAIL'
            ? `HOST is not an address of this machine (EADDRNOTAVAIL)`
            : cause.message;
    super(`Cannot listen on ${address}: ${reason}`, { cause });
  }
}

export async function serve(config: Config, options: ServeOptions): Promise<FastifyInstance> {
  const logger = createLogger(config.logLevel);
  restrictNewFiles();
  // DATA_DIR is checked before anything else when Kasa will write there: the embedded database,
  // a generated admin token or secret key, the demo's keys.
  if (!config.databaseUrl || !config.adminToken || !config.secretKey || options.demo) {
    await prepareDataDir(config.dataDir);
    const tightened = await tightenDataDir(config.dataDir);
    if (tightened) logger.warn({ dataDir: config.dataDir, entries: tightened }, 'DATA_DIR held entries others could read: made them owner-only');
  }
  const database = await connect({
    databaseUrl: config.databaseUrl,
    dataDir: config.databaseUrl ? null : config.dataDir,
    poolSizeMax: config.databasePoolSize,
    // Workers run no request's statements.
    pipelines: options.role === 'worker' ? 0 : config.databasePipelines,
  });
  const applied = await migrate(database.db);
  if (applied.length) logger.info({ applied }, 'migrations applied');
  const admin = await resolveAdminToken(config.adminToken, config.dataDir);
  const secretKey = await resolveSecretKey(config.secretKey, config.dataDir);
  const kasa = createKasa({
    config,
    db: database.db,
    engine: database.engine,
    clock: systemClock,
    adminToken: admin.token,
    secretKey,
    metrics: createMetrics(),
    prepared: database.prepared,
  });
  if (config.webhookAllowPrivate) logger.warn('WEBHOOK_ALLOW_PRIVATE is on: webhooks may target private and loopback addresses (local development only)');

  const app = await buildApp(kasa, logger);
  const expiry = options.role === 'api' ? null : startExpiryWorker(kasa, logger);
  const purge = options.role === 'api' ? null : startIdempotencyPurge(kasa, logger);
  const peoplePurge = options.role === 'api' ? null : startPeoplePurge(kasa, logger);
  const rates = options.role === 'api' ? null : startRateWorker(kasa, logger);
  const disputeTimers = options.role === 'api' ? null : startDisputeTimers(kasa, logger);
  const deliveries = options.role === 'api' ? null : new DeliveryWorker(kasa.db, kasa.clock, kasa.sender, logger, kasa.metrics);
  deliveries?.start();
  app.addHook('onClose', async () => {
    await Promise.all([expiry?.stop(), purge?.stop(), peoplePurge?.stop(), rates?.stop(), disputeTimers?.stop(), deliveries?.stop()]);
    await Promise.all([kasa.sender.close(), kasa.rateSources.close()]);
    await database.close();
  });
  try {
    if (options.role === 'worker') await app.ready();
    else await app.listen({ port: config.port, host: config.host });
  } catch (error) {
    // Stops the workers and closes the database, so nothing keeps a failed start alive.
    await app.close().catch(() => {});
    logger.flush();
    throw options.role === 'worker' ? error : new ListenFailed(config.host, config.port, error as NodeJS.ErrnoException);
  }
  logger.info({ engine: database.engine, role: options.role, host: config.host, port: config.port }, 'kasa started');

  if (options.demo) {
    const demo = await seedDemo(kasa, config.dataDir);
    process.stdout.write(demoBanner({ publicUrl: config.publicUrl, cliUrl: cliUrl(config), dataDir: config.dataDir }, demo, admin.file) + '\n');
  }

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down: no new connections, finishing in-flight requests');
    const timer = setTimeout(() => process.exit(1), SHUTDOWN_GRACE_MS);
    timer.unref();
    app.close().then(
      () => {
        logger.flush();
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  return app;
}
