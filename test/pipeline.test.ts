// The pipelined lanes of the hot path's statements (src/db/pipeline.ts) on a real PostgreSQL
// server: many statements in flight on one connection each get their own answer or error, a
// lost lane fails only what it had in flight (as a retryable error, which connect()'s statements
// retry) while the pool serves until it is back, and closing waits for the statements written. (PGlite has no pipelining: skipped
// without DATABASE_URL.)
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { connect, type PreparedQuery } from '../src/db/connect.ts';
import { PIPELINE_APPLICATION_NAME, StatementPipelines } from '../src/db/pipeline.ts';
import { isRetryable } from '../src/db/retry.ts';
import { createPostgresDatabase } from './helpers/database.ts';
import { waitUntil } from './helpers/receiver.ts';

const SERVER_URL = process.env.DATABASE_URL;
const SKIP = SERVER_URL ? false : 'needs DATABASE_URL: pipelining is a PostgreSQL server connection mode';
const LANES = 2;

const DIVIDE = 'SELECT 1000 / $1::int AS quotient, pg_backend_pid() AS pid, current_setting($2) AS app';
type Divided = { quotient: number; pid: number; app: string };
const SLEEP = 'SELECT pg_sleep($1::float8 / 1000), $2::int AS n';

describe('pipelined statements', { skip: SKIP }, () => {
  let url: string;
  let dropDatabase: () => Promise<void> = async () => {};
  let admin: pg.Client;

  before(async () => {
    ({ url, drop: dropDatabase } = await createPostgresDatabase(SERVER_URL!));
    admin = new pg.Client({ connectionString: url });
    await admin.connect();
  });

  after(async () => {
    await admin?.end();
    await dropDatabase();
  });

  const laneBackends = async (): Promise<number[]> =>
    (
      await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1', [
        PIPELINE_APPLICATION_NAME,
      ])
    ).rows.map((r) => r.pid);

  test('sixty statements in flight at once run on the lanes, each with its own answer or error', async () => {
    const database = await connect({ databaseUrl: url, dataDir: null, poolSizeMax: 2, pipelines: LANES });
    try {
      assert.equal((await laneBackends()).length, LANES);
      const divisors = Array.from({ length: 60 }, (_, i) => (i % 7 === 3 ? 0 : i + 1));
      const settled = await Promise.allSettled(divisors.map((d) => database.prepared<Divided>('test_divide', DIVIDE, [d, 'application_name'])));
      settled.forEach((outcome, i) => {
        const divisor = divisors[i]!;
        if (divisor === 0) {
          // division_by_zero in the middle of a pipeline fails that statement only.
          assert.equal(outcome.status, 'rejected');
          assert.equal((outcome as PromiseRejectedResult).reason.code, '22012');
          return;
        }
        assert.equal(outcome.status, 'fulfilled', `statement ${i}`);
        const [row] = (outcome as PromiseFulfilledResult<Divided[]>).value;
        assert.equal(row!.quotient, Math.trunc(1000 / divisor));
        assert.equal(row!.app, PIPELINE_APPLICATION_NAME, 'ran on a lane, not on the pool');
      });
      const pids = new Set(settled.flatMap((o) => (o.status === 'fulfilled' ? [o.value[0]!.pid] : [])));
      assert.ok(pids.size <= LANES, `${pids.size} backends served the statements`);
    } finally {
      await database.close();
    }
  });

  test('a lost lane fails only what it had in flight, retryably; the pool serves until the lane is back', async () => {
    // The lanes themselves, with a pool behind them: connect() adds the retry on top (next test).
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    const pooled: PreparedQuery = async <R>(name: string, text: string, values: unknown[]) =>
      (await pool.query<R & pg.QueryResultRow>({ name, text, values })).rows;
    const pipelines = new StatementPipelines({ connectionString: url }, LANES, pooled);
    await pipelines.opened;
    try {
      // Settled as they end: a rejection while the lanes are being terminated is not left unhandled.
      const inFlight = Promise.allSettled(Array.from({ length: 20 }, (_, n) => pipelines.run<{ n: number }>('test_sleep', SLEEP, [200, n])));
      const lanes = await laneBackends();
      await admin.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [lanes]);
      const settled = await inFlight;
      const lost = settled.filter((o) => o.status === 'rejected') as PromiseRejectedResult[];
      assert.ok(lost.length > 0, 'the terminated lanes had statements in flight');
      for (const outcome of lost) assert.ok(isRetryable(outcome.reason), `not retryable: ${outcome.reason}`);
      settled.forEach((o, n) => o.status === 'fulfilled' && assert.equal(o.value[0]!.n, n));

      // Right away: answered (by the pool, or by a lane already back).
      const next = await Promise.all(Array.from({ length: 10 }, (_, n) => pipelines.run<{ n: number }>('test_sleep', SLEEP, [0, n])));
      assert.deepEqual(
        next.map((rows) => rows[0]!.n),
        [...Array(10).keys()],
      );

      // Statements bring the lanes back: new backends, none of the terminated ones.
      await waitUntil(
        async () => (await laneBackends()).length === LANES,
        'lanes reconnected',
        () => pipelines.run('test_sleep', SLEEP, [0, 0]),
      );
      const back = await laneBackends();
      assert.ok(back.every((pid) => !lanes.includes(pid)));
      const [row] = await pipelines.run<Divided>('test_divide', DIVIDE, [10, 'application_name']);
      assert.equal(row!.app, PIPELINE_APPLICATION_NAME);
    } finally {
      await pipelines.close();
      await pool.end();
    }
  });

  test('through connect(), the statements a lost lane had in flight are retried and answered', async () => {
    const database = await connect({ databaseUrl: url, dataDir: null, poolSizeMax: 2, pipelines: LANES });
    try {
      const inFlight = Promise.allSettled(Array.from({ length: 20 }, (_, n) => database.prepared<{ n: number }>('test_sleep', SLEEP, [200, n])));
      const lanes = await laneBackends();
      await admin.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [lanes]);
      const rows = (await inFlight).map((outcome) => {
        assert.equal(outcome.status, 'fulfilled', outcome.status === 'rejected' ? String(outcome.reason) : '');
        return (outcome as PromiseFulfilledResult<{ n: number }[]>).value;
      });
      assert.deepEqual(
        rows.map((r) => r[0]!.n),
        [...Array(20).keys()],
      );
    } finally {
      await database.close();
    }
  });

  test('closing waits for the statements already written', async () => {
    const database = await connect({ databaseUrl: url, dataDir: null, poolSizeMax: 2, pipelines: LANES });
    const inFlight = Array.from({ length: 10 }, (_, n) => database.prepared<{ n: number }>('test_sleep', SLEEP, [50, n]));
    await database.close();
    const rows = await Promise.all(inFlight);
    assert.deepEqual(
      rows.map((r) => r[0]!.n),
      [...Array(10).keys()],
    );
    // The server drops a backend's activity entry as the backend exits, just after the socket closes.
    await waitUntil(async () => (await laneBackends()).length === 0, 'lane backends gone');
  });
});
