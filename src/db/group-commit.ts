// Group commit in the application ("smart batching"): requests that arrive while earlier batches
// are in flight queue up, and the next free slot sends everything queued as one batch — one
// statement, one transaction, one commit for all of them. There is no timer: at low load a batch
// is one request sent at once, and batches grow only as far as the database is the bottleneck.
//
// Each request gets its own answer. A batch that fails is retried whole by its runner where
// PostgreSQL says a retry can succeed (see retry.ts); once that gives up, each of its requests
// gets the runner's "unavailable" error. Any other failure splits the batch in halves, each run
// again, until the request that fails is alone with its own error: no request gets another's.
import { isRetryable } from './retry.ts';

/** Requests per batch at most: one statement's arrays stay small and one batch's locks short. */
export const BATCH_SIZE_MAX = 256;

export interface GroupCommitOptions<I, O> {
  /**
   * Runs one batch in one transaction: one answer per item, in the items' order. Retries itself
   * where a retry can succeed; a re-run must answer each item as its first run would have.
   */
  run: (items: I[]) => Promise<O[]>;
  /** Batches sent at once; a request arriving while all are busy waits for the next batch. */
  batchesInFlightMax: number;
  /** The error every request of a batch gets when the database could not be reached. */
  unavailable: (cause: unknown) => Error;
  /** Observes each batch's size as it is sent. */
  onBatch?: (size: number) => void;
  /**
   * Settles when the database could take a statement now (PGlite: its one session is free). A
   * slot's batch is taken only then, so whatever queued while the database was busy goes in it.
   */
  whenFree?: () => Promise<void>;
}

interface Queued<I, O> {
  item: I;
  resolve: (answer: O) => void;
  reject: (error: unknown) => void;
}

export class GroupCommit<I, O> {
  readonly #options: GroupCommitOptions<I, O>;
  #queue: Queued<I, O>[] = [];
  #inFlight = 0;
  #drainScheduled = false;

  constructor(options: GroupCommitOptions<I, O>) {
    if (!(options.batchesInFlightMax >= 1)) throw new Error('GroupCommit: batchesInFlightMax must be at least 1');
    this.#options = options;
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#scheduleDrain();
    });
  }

  /**
   * A free slot is taken after this turn of the event loop, not at once: the requests whose
   * bodies were read in the same turn go together. setImmediate runs right after the current
   * I/O callbacks, so a lone request waits microseconds, never a timer's period.
   */
  #scheduleDrain(): void {
    if (this.#drainScheduled || this.#inFlight >= this.#options.batchesInFlightMax) return;
    this.#drainScheduled = true;
    setImmediate(() => {
      this.#drainScheduled = false;
      this.#drain();
    });
  }

  #drain(): void {
    while (this.#inFlight < this.#options.batchesInFlightMax && this.#queue.length > 0) {
      this.#inFlight++;
      void this.#slot().finally(() => {
        this.#inFlight--;
        // Whatever queued while this batch ran is the next batch.
        this.#drain();
      });
    }
  }

  async #slot(): Promise<void> {
    if (this.#options.whenFree) await this.#options.whenFree().catch(() => undefined);
    const batch = this.#queue.splice(0, BATCH_SIZE_MAX);
    if (batch.length === 0) return;
    this.#options.onBatch?.(batch.length);
    await this.#execute(batch);
  }

  async #execute(batch: Queued<I, O>[]): Promise<void> {
    let answers: O[];
    try {
      answers = await this.#options.run(batch.map((queued) => queued.item));
    } catch (error) {
      if (isRetryable(error)) {
        const unavailable = this.#options.unavailable(error);
        for (const queued of batch) queued.reject(unavailable);
      } else if (batch.length === 1) {
        batch[0]!.reject(error);
      } else {
        // One after the other: two requests of one customer keep their order across the halves.
        const middle = Math.ceil(batch.length / 2);
        await this.#execute(batch.slice(0, middle));
        await this.#execute(batch.slice(middle));
      }
      return;
    }
    if (answers.length !== batch.length) {
      const error = new Error(`a batch of ${batch.length} returned ${answers.length} answers`);
      for (const queued of batch) queued.reject(error);
      return;
    }
    batch.forEach((queued, i) => queued.resolve(answers[i]!));
  }
}
