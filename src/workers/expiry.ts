// The expiry worker: every interval, moves pending invoices past expires_at to expired (their
// deals awaiting payment expire and release their locks, each gets its event), then releases the
// locks of customer_paid deals whose late_confirm_minutes have passed. Any number of instances may run
// it at once: batches are claimed with FOR UPDATE SKIP LOCKED.
import type { Logger } from 'pino';
import type { Kasa } from '../context.ts';
import { EXPIRY_BATCH_SIZE_DEFAULT } from '../deals/service.ts';
import { startPeriodic, type Timers, type Worker } from './periodic.ts';

export type { Timers, Worker };

export const EXPIRY_INTERVAL_MS_DEFAULT = 1_000;

export function startExpiryWorker(kasa: Kasa, logger: Logger, options: { intervalMs?: number; batchSize?: number; timers?: Timers } = {}): Worker {
  const batchSize = options.batchSize ?? EXPIRY_BATCH_SIZE_DEFAULT;
  return startPeriodic(
    'expiry sweep',
    logger,
    async () => {
      const expired = await kasa.deals.expireDue(batchSize);
      if (expired > 0) logger.info({ expired }, 'invoices expired');
    },
    { intervalMs: options.intervalMs ?? EXPIRY_INTERVAL_MS_DEFAULT, ...(options.timers ? { timers: options.timers } : {}) },
  );
}
