// Bounds on test pings in flight. A ping is sent while the merchant's request waits, outside the
// delivery worker and its caps, so without a bound of its own 60 parallel pings from one merchant
// opened 60 and more connections to one receiver. The bounds hold per Kasa instance, as the
// worker's per-target cap holds per worker.
import { PER_TARGET_IN_FLIGHT_MAX } from './delivery.ts';
import { DELIVERY_TIMEOUT_MS } from './sender.ts';

/**
 * Test pings one merchant may have in flight at once. A ping is someone checking their endpoint:
 * one at a time is the need, two leave room for a double click or a dashboard and a script.
 */
export const TEST_PINGS_IN_FLIGHT_MAX = 2;
/**
 * Test pings in flight at once to one target host, whichever merchants send them (many shops of
 * one platform share its host): the same bound the delivery worker keeps per target. Counted
 * apart from the worker's deliveries, so a backlog being sent to a host does not refuse its
 * merchant's ping, and pings never take the worker's slots.
 */
export const TEST_PINGS_PER_TARGET_IN_FLIGHT_MAX = PER_TARGET_IN_FLIGHT_MAX;

export type Slot = { release: () => void } | { retryAfterSeconds: number };

/** Pings in flight per key (a merchant, a target host), with when each started. */
export class PingsInFlight {
  private readonly started = new Map<string, number[]>(); // key → start times (ms) of its pings in flight

  constructor(readonly max: number) {}

  /**
   * A slot for a ping starting at `now`, or how long until one is sure to be free: a ping ends
   * within DELIVERY_TIMEOUT_MS, so the oldest one in flight is done by then.
   */
  take(key: string, now: Date): Slot {
    const at = now.getTime();
    const times = this.started.get(key) ?? [];
    if (times.length >= this.max) {
      const oldest = Math.min(...times);
      return { retryAfterSeconds: Math.max(1, Math.ceil((oldest + DELIVERY_TIMEOUT_MS - at) / 1000)) };
    }
    times.push(at);
    this.started.set(key, times);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        times.splice(times.indexOf(at), 1);
        if (times.length === 0) this.started.delete(key);
      },
    };
  }
}
