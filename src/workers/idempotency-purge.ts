// Deletes idempotency keys past their 24 h, a bounded batch per statement, until none is left;
// then waits an interval. Any number of instances may run it: rows are taken with SKIP LOCKED.
import type { Logger } from 'pino';
import type { Kasa } from '../context.ts';
import { PURGE_BATCH_SIZE_MAX } from '../idempotency/keys.ts';
import { startPeriodic, type Timers, type Worker } from './periodic.ts';

export const IDEMPOTENCY_PURGE_INTERVAL_MS_DEFAULT = 60_000;

export function startIdempotencyPurge(kasa: Kasa, logger: Logger, options: { intervalMs?: number; timers?: Timers } = {}): Worker {
  return startPeriodic(
    'idempotency key purge',
    logger,
    async () => {
      let purged = 0;
      for (let batch = await kasa.idempotencyKeys.purgeExpired(); ; batch = await kasa.idempotencyKeys.purgeExpired()) {
        purged += batch;
        if (batch < PURGE_BATCH_SIZE_MAX) break;
      }
      if (purged > 0) logger.info({ purged }, 'expired idempotency keys purged');
    },
    { intervalMs: options.intervalMs ?? IDEMPOTENCY_PURGE_INTERVAL_MS_DEFAULT, ...(options.timers ? { timers: options.timers } : {}) },
  );
}
