// Deletes sessions past their idle end and sign-in counters whose window closed. Neither is read
// once past its time (a session is checked against expires_at, a counter against its window), so
// this only keeps both tables small; any number of instances may run it at once.
import type { Logger } from 'pino';
import type { Kasa } from '../context.ts';
import { startPeriodic, type Timers, type Worker } from './periodic.ts';

export const PEOPLE_PURGE_INTERVAL_MS_DEFAULT = 60_000;

/** One pass: how many sessions and sign-in counters were deleted. */
export async function purgePeople(kasa: Kasa): Promise<{ sessions: number; signInCounters: number }> {
  return { sessions: await kasa.sessions.purgeExpired(), signInCounters: await kasa.signIn.purgeStale() };
}

export function startPeoplePurge(kasa: Kasa, logger: Logger, options: { intervalMs?: number; timers?: Timers } = {}): Worker {
  return startPeriodic(
    'session and sign-in counter purge',
    logger,
    async () => {
      const purged = await purgePeople(kasa);
      if (purged.sessions + purged.signInCounters > 0) logger.info(purged, 'ended sessions and closed sign-in counters purged');
    },
    { intervalMs: options.intervalMs ?? PEOPLE_PURGE_INTERVAL_MS_DEFAULT, ...(options.timers ? { timers: options.timers } : {}) },
  );
}
