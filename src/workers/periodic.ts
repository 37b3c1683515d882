// The loop every periodic worker runs: a task, then a pause of intervalMs, until stopped. A
// failed run is logged and the next one tries again: each run's transaction rolled back whole.
import type { Logger } from 'pino';

/** The timer functions the loop schedules itself with; tests pass a manual pair. */
export interface Timers {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const systemTimers: Timers = {
  set: (callback, ms) => setTimeout(callback, ms),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface Worker {
  /** Stops scheduling and waits for the run in progress. */
  stop(): Promise<void>;
}

export function startPeriodic(name: string, logger: Logger, task: () => Promise<void>, options: { intervalMs: number; timers?: Timers }): Worker {
  const timers = options.timers ?? systemTimers;
  let stopped = false;
  let timer: unknown;
  let running: Promise<void> = Promise.resolve();

  const tick = async () => {
    try {
      await task();
    } catch (error) {
      logger.error({ err: error }, `${name} failed`);
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = timers.set(() => {
      running = tick().finally(schedule);
    }, options.intervalMs);
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
