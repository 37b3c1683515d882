// The rate worker: every interval, fetches the http_json rate sources that are due. Any number
// of instances may run it at once: each currency's source is leased in its row, so one
// instance at a time fetches it (see src/rates/sources.ts).
import type { Logger } from 'pino';
import type { Kasa } from '../context.ts';
import type { Timers, Worker } from './expiry.ts';

/** How often due sources are looked for; a source's own refresh_seconds (≥ 5) sets how often it is fetched. */
export const RATE_INTERVAL_MS_DEFAULT = 1_000;

const systemTimers: Timers = {
  set: (callback, ms) => setTimeout(callback, ms),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export function startRateWorker(kasa: Kasa, logger: Logger, options: { intervalMs?: number; timers?: Timers; fetchTimeoutMs?: number } = {}): Worker {
  const intervalMs = options.intervalMs ?? RATE_INTERVAL_MS_DEFAULT;
  const timers = options.timers ?? systemTimers;
  let stopped = false;
  let timer: unknown;
  let running: Promise<void> = Promise.resolve();

  const tick = async () => {
    try {
      const result = await kasa.rateSources.pass(options.fetchTimeoutMs === undefined ? {} : { fetchTimeoutMs: options.fetchTimeoutMs });
      // The source URL is not logged: it may carry the operator's key for the price service.
      if (result.refused > 0) logger.warn(result, 'rate quotes refused: the last good rates stay');
      else if (result.accepted > 0) logger.debug(result, 'rate quotes accepted');
    } catch (error) {
      // Claimed sources whose pass failed are fetched again once their lease expires.
      logger.error({ err: error }, 'rate pass failed');
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
