// The dispute timer: every interval, moves disputes whose respond_by passed while they waited for
// their trader to awaiting_operator. Any number of instances may run it at once: each batch is
// claimed with FOR UPDATE SKIP LOCKED in the transaction that moves it, so a dispute moves once,
// and a restart loses nothing (the deadline is a column, not a process's timer).
import type { Logger } from 'pino';
import type { Kasa } from '../context.ts';
import { DISPUTE_TIMER_BATCH_SIZE } from '../disputes/service.ts';
import { startPeriodic, type Timers, type Worker } from './periodic.ts';

/** respond_by is counted in hours: a pass every few seconds is on time. */
export const DISPUTE_TIMER_INTERVAL_MS_DEFAULT = 5_000;

export function startDisputeTimers(kasa: Kasa, logger: Logger, options: { intervalMs?: number; timers?: Timers } = {}): Worker {
  return startPeriodic(
    'dispute timers',
    logger,
    async () => {
      const moved = await kasa.disputes.timeoutDue(DISPUTE_TIMER_BATCH_SIZE);
      if (moved > 0) logger.info({ moved }, 'disputes past respond_by handed to an operator');
    },
    { intervalMs: options.intervalMs ?? DISPUTE_TIMER_INTERVAL_MS_DEFAULT, ...(options.timers ? { timers: options.timers } : {}) },
  );
}
