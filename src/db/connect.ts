// One database module for both engines: a PostgreSQL server when DATABASE_URL is set, the
// embedded PGlite otherwise. Same SQL, same migrations, same Kysely interface above them.
import { Kysely, PostgresDialect, type Dialect } from 'kysely';
import pg from 'pg';
import { defaultPipelines, defaultPoolSize } from '../config.ts';
import { prepareDataDir, tightenDataDir } from '../data-dir.ts';
import type { DB } from './schema.ts';
import { PGliteDialect } from './pglite-dialect.ts';
import { StatementPipelines } from './pipeline.ts';
import { kyselyPrepared, retried, type PreparedQuery } from './prepared.ts';

export type { PreparedQuery };
export { kyselyPrepared };

export type Engine = 'postgres' | 'pglite';

export interface Database {
  db: Kysely<DB>;
  /** What db was made from; another Kysely on the same connections can be made from it. */
  dialect: Dialect;
  engine: Engine;
  prepared: PreparedQuery;
  close(): Promise<void>;
  /** PGlite only: the data directory as a tarball, to start other instances from. */
  dump?: () => Promise<Blob>;
}

/** The PostgreSQL server of DATABASE_URL did not answer a first statement. */
export class DatabaseUnreachable extends Error {
  override name = 'DatabaseUnreachable';
  constructor(url: string, cause: Error) {
    super(
      `Cannot connect to the PostgreSQL server of DATABASE_URL (${withoutPassword(url)}): ${cause.message || (cause as NodeJS.ErrnoException).code || String(cause)}`,
      { cause },
    );
  }
}

/** The URL as it may be printed: any password replaced by ***, in the userinfo or the query. */
export function withoutPassword(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'an unparsable URL';
  }
  if (parsed.password) parsed.password = '***';
  if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
  return parsed.toString();
}

export interface ConnectOptions {
  /** PostgreSQL server URL; null selects PGlite. */
  databaseUrl: string | null;
  /** PGlite data directory; null keeps the embedded database in memory (tests). */
  dataDir: string | null;
  /** An in-memory PGlite starts from this dump of a data directory (tests: skips initdb). */
  pgliteTemplate?: Blob;
  /** Default: DATABASE_POOL_SIZE's default (see defaultPoolSize in config.ts). */
  poolSizeMax?: number;
  /** Pipelined connections for prepared statements (0: through the pool). Default: DATABASE_PIPELINES's. */
  pipelines?: number;
}

const CONNECT_TIMEOUT_MS = 5_000;
const PG_TYPE_INT8 = 20;
const PG_TYPE_NUMERIC = 1700;

// BIGINT holds micro-USDT: parse it as an exact bigint. NUMERIC stays a decimal string.
const parseBigint = (value: string) => BigInt(value);
const keepText = (value: string) => value;

export async function connect(options: ConnectOptions): Promise<Database> {
  if (options.databaseUrl) {
    return connectPostgres(options.databaseUrl, options.poolSizeMax ?? defaultPoolSize(), options.pipelines ?? defaultPipelines());
  }
  return connectPglite(options.dataDir, options.pgliteTemplate);
}

async function connectPostgres(url: string, poolSizeMax: number, pipelines: number): Promise<Database> {
  const connection: pg.ClientConfig = {
    connectionString: url,
    application_name: 'kasa',
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    types: {
      getTypeParser: ((oid: number, format?: string) => {
        if (oid === PG_TYPE_INT8) return parseBigint;
        if (oid === PG_TYPE_NUMERIC) return keepText;
        return pg.types.getTypeParser(oid, format as 'text');
      }) as typeof pg.types.getTypeParser,
    },
  };
  const pool = new pg.Pool({ ...connection, max: poolSizeMax });
  // An idle connection dropped by the server (restart, failover) must not crash the process:
  // the pool discards it and opens a new one on the next checkout.
  pool.on('error', () => {});
  // One statement first, so a server that is down, a wrong password or a missing database stops
  // start-up with a message naming DATABASE_URL, not a bare "connect ECONNREFUSED" later.
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => {});
    throw new DatabaseUnreachable(url, error as Error);
  }
  const dialect = new PostgresDialect({ pool });
  const db = new Kysely<DB>({ dialect });
  const pooled: PreparedQuery = async <R>(name: string, text: string, values: unknown[]) =>
    (await pool.query<R & pg.QueryResultRow>({ name, text, values })).rows;
  const lanes = pipelines > 0 ? new StatementPipelines(connection, pipelines, pooled) : null;
  // Ready before the first request; a lane that cannot connect now leaves its share to the pool.
  await lanes?.opened;
  return {
    db,
    dialect,
    engine: 'postgres',
    prepared: retried(lanes ? lanes.run : pooled),
    close: async () => {
      await lanes?.close();
      await db.destroy();
    },
  };
}

async function connectPglite(dataDir: string | null, template?: Blob): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite');
  if (dataDir) await prepareDataDir(dataDir);
  const client = new PGlite({
    ...(dataDir ? { dataDir } : {}),
    ...(template && !dataDir ? { loadDataDir: template } : {}),
    parsers: { [PG_TYPE_INT8]: parseBigint, [PG_TYPE_NUMERIC]: keepText },
  });
  await client.waitReady;
  // initdb's files arrive with mode 0666 whatever the umask.
  if (dataDir) await tightenDataDir(dataDir);
  const dialect = new PGliteDialect(client);
  const db = new Kysely<DB>({ dialect });
  return {
    db,
    dialect,
    engine: 'pglite',
    prepared: kyselyPrepared(db),
    close: () => db.destroy(),
    dump: () => client.dumpDataDir('none'),
  };
}
