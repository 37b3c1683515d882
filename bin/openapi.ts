// Writes Kasa's OpenAPI document (what GET /openapi.json serves) to a file or stdout, with no
// server and no database: the document is made from the route schemas alone, so the database
// pool below is never used and never connects. `npm run lint:openapi` lints its output.
//   node --import tsx bin/openapi.ts [FILE]
import { writeFile } from 'node:fs/promises';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import pino from 'pino';
import { systemClock } from '../src/clock.ts';
import { loadConfig } from '../src/config.ts';
import { createKasa } from '../src/context.ts';
import type { DB } from '../src/db/schema.ts';
import { buildApp } from '../src/http/app.ts';

const pool = new pg.Pool({ max: 1 });
const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
const kasa = createKasa({ config: loadConfig(process.env), db, engine: 'postgres', clock: systemClock, adminToken: 'openapi-document-only' });
const app = await buildApp(kasa, pino({ level: 'silent' }));
await app.ready();
const document = JSON.stringify(app.swagger(), null, 2) + '\n';
await app.close();
await db.destroy();

const file = process.argv[2];
if (file) await writeFile(file, document);
else process.stdout.write(document);
