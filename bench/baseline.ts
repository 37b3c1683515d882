// The baseline of `npm run bench`: the least any create-invoice could do — parse the same JSON,
// one INSERT of the same row, return it — on bare Fastify and pg, with nothing else. Kasa's
// numbers are read as ratios to this server's on the same machine in the same run.
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import pg from 'pg';

const port = Number(process.env.PORT ?? 3901);
// The bench starts Kasa and this server with the same DATABASE_POOL_SIZE.
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.DATABASE_POOL_SIZE) });

await pool.query(`CREATE TABLE IF NOT EXISTS baseline_invoices (
  id uuid PRIMARY KEY, external_id text NOT NULL, customer_id text NOT NULL, amount numeric(18, 2) NOT NULL,
  currency text NOT NULL, purpose text, callback_url text, success_url text, fail_url text,
  created_at timestamptz NOT NULL, expires_at timestamptz NOT NULL)`);

const app = Fastify({ logger: false });
app.post('/api/v1/create-invoice', async (request) => {
  const b = request.body as Record<string, string>;
  const created = new Date();
  const { rows } = await pool.query(
    `INSERT INTO baseline_invoices (id, external_id, customer_id, amount, currency, purpose, callback_url, success_url, fail_url, created_at, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *`,
    [
      randomUUID(),
      b.external_id,
      b.customer_id,
      b.amount,
      b.currency_code,
      b.purpose,
      b.callback_url,
      b.success_url,
      b.fail_url,
      created,
      new Date(created.getTime() + 1_200_000),
    ],
  );
  return rows[0];
});
await app.listen({ port, host: '127.0.0.1' });
process.on(
  'SIGTERM',
  () =>
    void app
      .close()
      .then(() => pool.end())
      .then(() => process.exit(0)),
);
