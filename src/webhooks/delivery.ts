// The webhook delivery worker. Deliveries are claimed with a lease (FOR UPDATE SKIP LOCKED in a
// short transaction), sent with no transaction open, and their outcome is written back only by
// the lease holder. A worker that dies mid-send leaves a lease that lapses, and the delivery is
// sent again later: at-least-once, deduplicated by merchants on webhook-id.
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Logger } from 'pino';
import { isoSeconds, type Clock } from '../clock.ts';
import type { DB, DeliveriesTable } from '../db/schema.ts';
import type { Metrics } from '../metrics.ts';
import { signatureHeader, type SigningKeys } from './signer.ts';
import type { AttemptResult, WebhookSender } from './sender.ts';

/** Standard Webhooks' retry schedule: the delay before attempt n+1 after attempt n failed. */
export const RETRY_SCHEDULE_MS = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 50_400_000, 72_000_000, 86_400_000];
/** One attempt at once plus one per scheduled retry. */
export const ATTEMPTS_MAX = RETRY_SCHEDULE_MS.length + 1;
export const RETRY_JITTER_RATIO = 0.1;
export const RETRY_AFTER_MS_MAX = 12 * 3600_000;
/** Longer than an attempt can take, so a live worker never loses its lease mid-send. */
export const LEASE_MS = 60_000;
export const IN_FLIGHT_MAX_DEFAULT = 64;
/** One slow or dead endpoint can hold at most this many of a worker's slots. */
export const PER_TARGET_IN_FLIGHT_MAX = 4;
export const POLL_INTERVAL_MS = 250;
/**
 * How many of the oldest due deliveries a claim ranks. Ranking every due delivery sorted the
 * whole backlog on every claim (about 17 ms per claim at 10,000 pending, linear in it), and a
 * claim runs after every finished send; the head of the due index keeps a claim cheap. Targets
 * this worker has saturated are filtered out before the limit, so they cannot fill it.
 */
export const CLAIM_SCAN_MAX = 1_000;
export const USER_AGENT = 'Kasa-Webhooks/0.1.0';

/** A claimed delivery with its event and the merchant's signing keys (read in the claim: one query less per send). */
type ClaimedDelivery = Selectable<DeliveriesTable> & { type: string; payload: unknown; event_created_at: Date } & Parameters<typeof signingKeysOf>[0];

export interface DeliveryOptions {
  inFlightMax?: number;
  perTargetMax?: number;
  /** Random in [0, 1); tests fix it to make jitter predictable. */
  random?: () => number;
}

/** The exact bytes signed and sent for an event, the same on every attempt. */
export function webhookBody(event: { id: string; type: string; createdAt: Date; payload: unknown }): string {
  return JSON.stringify({ id: event.id, type: event.type, timestamp: isoSeconds(event.createdAt), data: event.payload });
}

export function signingKeysOf(
  m: {
    webhook_secret: string;
    previous_webhook_secret: string | null;
    previous_webhook_secret_expires: Date | null;
    webhook_ed25519_private: string | null;
  },
  now: Date,
): SigningKeys {
  const previousValid = m.previous_webhook_secret && m.previous_webhook_secret_expires && m.previous_webhook_secret_expires > now;
  return { secret: m.webhook_secret, previousSecret: previousValid ? m.previous_webhook_secret : null, ed25519PrivateKey: m.webhook_ed25519_private };
}

export function webhookHeaders(keys: SigningKeys, eventId: string, now: Date, body: string): Record<string, string> {
  const timestamp = Math.floor(now.getTime() / 1000);
  return {
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    'webhook-id': eventId,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signatureHeader(keys, eventId, timestamp, body),
  };
}

export type Outcome = { status: 'delivered' } | { status: 'failed'; reason: 'gone' | 'attempts_exhausted' } | { status: 'pending'; retryInMs: number };

/** What happens after attempt number `attempt` (1-based) came back with `result`. */
export function nextStep(attempt: number, result: AttemptResult, random: () => number): Outcome {
  const code = result.statusCode;
  if (code !== null && code >= 200 && code < 300) return { status: 'delivered' };
  if (code === 410) return { status: 'failed', reason: 'gone' };
  if (attempt >= ATTEMPTS_MAX) return { status: 'failed', reason: 'attempts_exhausted' };
  if ((code === 429 || code === 503) && result.retryAfterSeconds !== null) {
    return { status: 'pending', retryInMs: Math.min(result.retryAfterSeconds * 1000, RETRY_AFTER_MS_MAX) };
  }
  const base = RETRY_SCHEDULE_MS[attempt - 1]!;
  const jitter = (random() * 2 - 1) * RETRY_JITTER_RATIO * base;
  return { status: 'pending', retryInMs: Math.round(base + jitter) };
}

export class DeliveryWorker {
  private readonly inFlight = new Map<string, number>(); // target_host → deliveries in flight
  private inFlightTotal = 0;
  private readonly running = new Set<Promise<void>>();
  private claiming: Promise<unknown> = Promise.resolve();
  private stopped = true;
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlightMax: number;
  private readonly perTargetMax: number;
  private readonly random: () => number;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly clock: Clock,
    private readonly sender: WebhookSender,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    options: DeliveryOptions = {},
  ) {
    this.inFlightMax = options.inFlightMax ?? IN_FLIGHT_MAX_DEFAULT;
    this.perTargetMax = options.perTargetMax ?? PER_TARGET_IN_FLIGHT_MAX;
    this.random = options.random ?? Math.random;
  }

  /**
   * Claims what free slots allow and starts sending; returns how many it claimed. Claims run one
   * at a time: two at once (the poll timer and a finished job's wake-up) both counted the same
   * free slots and together went over inFlightMax and perTargetMax.
   */
  claimAndSend(): Promise<number> {
    const run = this.claiming.then(() => this.claimAndSendNow());
    this.claiming = run.catch(() => undefined);
    return run;
  }

  private async claimAndSendNow(): Promise<number> {
    const free = this.inFlightMax - this.inFlightTotal;
    if (free <= 0) return 0;
    const busy = [...this.inFlight];
    const claimed = await this.claim(free, busy);
    for (const delivery of claimed) {
      this.inFlight.set(delivery.target_host, (this.inFlight.get(delivery.target_host) ?? 0) + 1);
      this.inFlightTotal++;
      const job = this.attempt(delivery)
        .catch((error: unknown) => this.logger.error({ err: error, event_id: delivery.event_id }, 'webhook attempt failed to record'))
        .finally(() => {
          this.inFlight.set(delivery.target_host, (this.inFlight.get(delivery.target_host) ?? 1) - 1);
          if (this.inFlight.get(delivery.target_host) === 0) this.inFlight.delete(delivery.target_host);
          this.inFlightTotal--;
          this.running.delete(job);
          if (!this.stopped) this.wake();
        });
      this.running.add(job);
    }
    return claimed.length;
  }

  /** Sends everything due now and waits for it (tests and tools; the loop does this continuously). */
  async drain(): Promise<void> {
    for (;;) {
      // Done only when a claim made with nothing in flight found nothing: a claim made while
      // sends were running skipped their saturated targets, and those sends may have finished
      // since (returning then left due deliveries behind).
      const idle = this.running.size === 0;
      const claimed = await this.claimAndSend();
      if (claimed === 0 && idle) return;
      if (claimed === 0 && this.running.size > 0) await Promise.race(this.running);
    }
  }

  start(): void {
    this.stopped = false;
    this.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.claiming; // a claim in progress may still start sends: wait for those too
    await Promise.allSettled([...this.running]);
  }

  private wake(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.claimAndSend()
        .catch((error: unknown) => this.logger.error({ err: error }, 'webhook claim failed'))
        .finally(() => {
          // Replaces (not orphans) a timer set meanwhile by a finished job's wake-up, so one
          // poll loop runs, not one more per overlap.
          if (!this.stopped) {
            clearTimeout(this.timer);
            this.timer = setTimeout(() => this.wake(), POLL_INTERVAL_MS);
          }
        });
    }, 0);
  }

  /** busy: this worker's deliveries in flight per target host. */
  private async claim(limit: number, busy: [string, number][]): Promise<ClaimedDelivery[]> {
    const now = this.clock.now();
    const token = randomUUID();
    const leaseUntil = new Date(now.getTime() + LEASE_MS);
    const saturatedHosts = busy.filter(([, n]) => n >= this.perTargetMax).map(([host]) => host);
    // Rank due deliveries per target so one target cannot take every slot, then lock what is
    // still claimable (a concurrent worker's fresh claim fails the re-checked WHERE). A target's
    // share is what its deliveries already in flight leave of perTargetMax: ranking against the
    // full cap let a target with some in flight go over it (e.g. 1 in flight + 2 claimed with a cap of 2).
    // The claim is kasa_claim_deliveries (009_sweeps_without_statistics.sql), planned without
    // sequential scans and sorts so that it reads the head of the due index whatever the statistics.
    const { rows: claimed } = await sql<{ event_id: string }>`
      SELECT event_id FROM kasa_claim_deliveries(${now}::timestamptz, ${token}::uuid, ${leaseUntil}::timestamptz,
        ${busy.map(([host]) => host)}::text[], ${busy.map(([, n]) => n)}::integer[], ${saturatedHosts}::text[],
        ${this.perTargetMax}::integer, ${limit}::integer, ${CLAIM_SCAN_MAX}::integer)`.execute(this.db);
    if (claimed.length === 0) return [];
    // What an attempt needs, by primary keys: the deliveries this claim's token now holds.
    const { rows } = await sql<ClaimedDelivery>`
      SELECT d.*, e.type, e.payload, e.created_at AS event_created_at,
             m.webhook_secret, m.previous_webhook_secret, m.previous_webhook_secret_expires, m.webhook_ed25519_private
        FROM deliveries d JOIN events e ON e.id = d.event_id JOIN merchants m ON m.id = d.merchant_id
       WHERE d.event_id = ANY(${claimed.map((c) => c.event_id)}::uuid[]) AND d.lease_token = ${token}::uuid
       ORDER BY d.next_attempt_at`.execute(this.db);
    return rows;
  }

  private async attempt(delivery: ClaimedDelivery): Promise<void> {
    const now = this.clock.now();
    const body = webhookBody({ id: delivery.event_id, type: delivery.type, createdAt: delivery.event_created_at, payload: delivery.payload });
    const headers = webhookHeaders(signingKeysOf(delivery, now), delivery.event_id, now, body);
    const result = await this.sender.send(delivery.target_url, headers, body);
    const outcome = nextStep(delivery.attempts, result, this.random);
    this.metrics.webhookAttempts.inc({ outcome: outcome.status === 'pending' ? 'retry' : outcome.status });
    this.metrics.webhookAttemptSeconds.observe(result.durationMs / 1000);
    if (result.error) this.logger.warn({ event_id: delivery.event_id, target: delivery.target_host, error: result.error }, 'webhook attempt failed');
    await this.record(delivery, now, result, outcome);
  }

  private async record(delivery: ClaimedDelivery, attemptedAt: Date, result: AttemptResult, outcome: Outcome): Promise<void> {
    const finishedAt = this.clock.now();
    // One statement (the attempt's insert in a CTE), not a transaction of four round trips: the
    // record is on every delivery's path and its round trips bounded a worker's throughput.
    await this.db
      .with('attempt', (db) =>
        db.insertInto('delivery_attempts').values({
          event_id: delivery.event_id,
          merchant_id: delivery.merchant_id,
          attempted_at: attemptedAt,
          status_code: result.statusCode,
          duration_ms: result.durationMs,
          response_body: result.responseBody,
          error: result.error,
        }),
      )
      // Only the lease holder writes the outcome; a worker whose lease lapsed just logs its attempt.
      .updateTable('deliveries')
      .set({
        status: outcome.status,
        failure_reason: outcome.status === 'failed' ? outcome.reason : null,
        next_attempt_at: outcome.status === 'pending' ? new Date(finishedAt.getTime() + outcome.retryInMs) : delivery.next_attempt_at,
        delivered_at: outcome.status === 'delivered' ? finishedAt : null,
        lease_token: null,
        lease_until: null,
        last_status: result.statusCode,
        last_error: result.error,
        updated_at: finishedAt,
      })
      .where('event_id', '=', delivery.event_id)
      .where('lease_token', '=', delivery.lease_token)
      .execute();
  }
}
