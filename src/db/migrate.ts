// Versioned SQL migrations, identical for PostgreSQL and PGlite. Files are named NNN_name.sql
// and never edited once released; a new change is a new file. All pending files apply in one
// transaction under a transaction-level advisory lock, so instances starting together apply
// each migration exactly once.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql, type Kysely } from 'kysely';
import type { DB } from './schema.ts';

const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');
/** Arbitrary constant naming the migration lock. */
const MIGRATION_LOCK_KEY = 7_263_615_442;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await fs.readdir(dir)).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (file) => ({
      version: Number(file.slice(0, 3)),
      name: file.replace(/\.sql$/, ''),
      sql: await fs.readFile(path.join(dir, file), 'utf8'),
    })),
  );
}

/** Applies every pending migration; returns the names applied. */
export async function migrate(db: Kysely<DB>): Promise<string[]> {
  const migrations = await loadMigrations();
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`.execute(trx);
    await sql`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`.execute(trx);
    const applied = new Set((await trx.selectFrom('schema_migrations').select('version').execute()).map((r) => r.version));
    const names: string[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.version)) continue;
      await sql.raw(migration.sql).execute(trx);
      await trx.insertInto('schema_migrations').values({ version: migration.version, name: migration.name }).execute();
      names.push(migration.name);
    }
    return names;
  });
}
