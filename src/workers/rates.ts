// The rate worker: every interval, fetches the http_json rate sources that are due. Any number
// of instances may run it at once: each currency's source is leased in its row, so one
// instance at a time fetches it (see src/rates/sources.ts). Claimed sources whose pass failed
// are fetched again once their lease expires.
import type { Logger } from 'pino';
import type { Kasa } from '../context.ts';
import { startPeriodic, type Timers, type Worker } from './periodic.ts';

/** How often due sources are looked for; a source's own refresh_seconds (≥ 5) sets how often it is fetched. */
export const RATE_INTERVAL_MS_DEFAULT = 1_000;

export function startRateWorker(kasa: Kasa, logger: Logger, options: { intervalMs?: number; timers?: Timers; fetchTimeoutMs?: number } = {}): Worker {
  return startPeriodic(
    'rate pass',
    logger,
    async () => {
      const result = await kasa.rateSources.pass(options.fetchTimeoutMs === undefined ? {} : { fetchTimeoutMs: options.fetchTimeoutMs });
      // The source URL is not logged: it may carry the operator's key for the price service.
      if (result.refused > 0) logger.warn(result, 'rate quotes refused: the last good rates stay');
      else if (result.accepted > 0) logger.debug(result, 'rate quotes accepted');
    },
    { intervalMs: options.intervalMs ?? RATE_INTERVAL_MS_DEFAULT, ...(options.timers ? { timers: options.timers } : {}) },
  );
}
