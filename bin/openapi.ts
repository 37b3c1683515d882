// Writes Kasa's OpenAPI document (what GET /openapi.json serves) to a file or stdout, with no
// server: the app is built over an embedded database in memory, migrated (the payment page's
// form key is read from it), and the document is made from the route schemas.
// `npm run lint:openapi` lints its output.
//   node --import tsx bin/openapi.ts [FILE]
import { writeFile } from 'node:fs/promises';
import pino from 'pino';
import { systemClock } from '../src/clock.ts';
import { loadConfig } from '../src/config.ts';
import { buildApp, createKasa } from '../src/context.ts';
import { connect } from '../src/db/connect.ts';
import { migrate } from '../src/db/migrate.ts';

const database = await connect({ databaseUrl: null, dataDir: null });
await migrate(database.db);
const kasa = createKasa({ config: loadConfig(process.env), db: database.db, engine: database.engine, clock: systemClock, adminToken: 'openapi-document-only' });
const app = await buildApp(kasa, pino({ level: 'silent' }));
await app.ready();
const document = JSON.stringify(app.swagger(), null, 2) + '\n';
await app.close();
await database.close();

const file = process.argv[2];
if (file) await writeFile(file, document);
else process.stdout.write(document);
