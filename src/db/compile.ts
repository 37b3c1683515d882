// Queries fixed at startup are built here with Kysely's types and compiled once; executing them
// is the caller's (as a named prepared statement, see PreparedQuery in connect.ts). This builder
// never runs anything: its driver is Kysely's DummyDriver.
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler } from 'kysely';
import type { DB } from './schema.ts';

export const queryBuilder = new Kysely<DB>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});
