// The expiry worker: every interval, moves pending invoices past expires_at to expired (their
// deals expire and release their locks, each gets its event). Any number of instances may run
// it at once: batches are claimed with FOR UPDATE SKIP LOCKED.
import type { Logger } from 'pino';
import type { Kasa } from '../context.ts';
import { EXPIRY_BATCH_SIZE_DEFAULT } from '../deals/service.ts';

export const EXPIRY_INTERVAL_MS_DEFAULT = 1_000;

/** The timer functions the loop schedules itself with; tests pass a manual pair. */
export interface Timers {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const systemTimers: Timers = {
  set: (callback, ms) => setTimeout(callback, ms),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface Worker {
  /** Stops scheduling and waits for the run in progress. */
  stop(): Promise<void>;
}

export function startExpiryWorker(kasa: Kasa, logger: Logger, options: { intervalMs?: number; batchSize?: number; timers?: Timers } = {}): Worker {
  const intervalMs = options.intervalMs ?? EXPIRY_INTERVAL_MS_DEFAULT;
  const batchSize = options.batchSize ?? EXPIRY_BATCH_SIZE_DEFAULT;
  const timers = options.timers ?? systemTimers;
  let stopped = false;
  let timer: unknown;
  let running: Promise<void> = Promise.resolve();

  const tick = async () => {
    try {
      const expired = await kasa.deals.expireDue(batchSize);
      if (expired > 0) logger.info({ expired }, 'invoices expired');
    } catch (error) {
      // A failed sweep is retried on the next tick; its transaction rolled back whole.
      logger.error({ err: error }, 'expiry sweep failed');
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = timers.set(() => {
      running = tick().finally(schedule);
    }, intervalMs);
  };
  schedule();

  return {
    async stop() {
      stopped = true;
      timers.clear(timer);
      await running;
    },
  };
}
