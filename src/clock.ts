// Business time is a parameter: everything that depends on "now" (expiry, rate windows) asks a
// Clock, and tests move a manual one instead of sleeping.
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** Whole seconds: API timestamps carry second precision, so stored ones do too. */
export function truncateToSecond(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

/** ISO 8601 UTC with second precision and Z, as in the API documentation: 2026-02-25T12:00:00Z. */
export function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
