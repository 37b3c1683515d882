// `kasa <command>`: serve and migrate run in process; every other command is a client of the
// running server's admin API (KASA_URL, ADMIN_TOKEN or DATA_DIR/admin-token).
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.ts';
import { connect } from '../db/connect.ts';
import { migrate } from '../db/migrate.ts';
import { serve } from '../server.ts';
import { adminClient, ApiError } from './client.ts';
import { record, table } from './format.ts';

const USAGE = `Usage: kasa <command> [options]

Server:
  serve [--demo]                         run the HTTP API (--demo seeds an empty database)
  migrate                                apply pending database migrations

Admin (client of the running server):
  merchant create --name NAME [--fee 2.00] [--webhook-url URL]
  merchant list
  merchant get ID
  merchant disable ID | merchant enable ID
  key create MERCHANT_ID | key list MERCHANT_ID | key revoke KEY_ID
  currency set CODE [--rate 41.50] [--min 10.00] [--max 100000.00] [--disable]
  currency list
  deals enable | deals disable
  settings [--ttl MINUTES] [--per-minute N] [--max-pending N]

Options:
  --json                                 print the API's JSON answer
Environment: KASA_URL (default http://localhost:$PORT), ADMIN_TOKEN, DATA_DIR`;

type Values = Record<string, string | boolean | undefined>;

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: 'boolean' },
      demo: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      name: { type: 'string' },
      fee: { type: 'string' },
      'webhook-url': { type: 'string' },
      rate: { type: 'string' },
      min: { type: 'string' },
      max: { type: 'string' },
      disable: { type: 'boolean' },
      ttl: { type: 'string' },
      'per-minute': { type: 'string' },
      'max-pending': { type: 'string' },
    },
  });
  const [command, sub, arg] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE + '\n');
    return command || values.help ? 0 : 2;
  }

  if (command === 'serve') {
    await serve(loadConfig(), { demo: values.demo === true });
    return -1; // keeps running
  }
  if (command === 'migrate') {
    const config = loadConfig();
    const database = await connect({ databaseUrl: config.databaseUrl, dataDir: config.databaseUrl ? null : config.dataDir });
    try {
      const applied = await migrate(database.db);
      process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'up to date\n');
    } finally {
      await database.close();
    }
    return 0;
  }
  return admin(command, sub, arg, values);
}

async function admin(command: string, sub: string | undefined, arg: string | undefined, values: Values): Promise<number> {
  const api = await adminClient();
  const json = values.json === true;
  const print = (data: unknown, human: () => string) => process.stdout.write((json ? JSON.stringify(data, null, 2) : human()) + '\n');
  const need = (what: string, value: string | undefined): string => {
    if (!value) throw new UsageError(`missing ${what}`);
    return value;
  };
  const merchantColumns = ['merchant_id', 'name', 'status', 'fee_percent', 'webhook_url'];
  type Row = Record<string, unknown>;

  switch (`${command} ${sub ?? ''}`.trim()) {
    case 'merchant create': {
      const body: Row = { name: need('--name', values.name as string | undefined) };
      if (values.fee) body.fee_percent = values.fee;
      if (values['webhook-url']) body.webhook_url = values['webhook-url'];
      const created = await api.request<Row>('POST', '/admin/v1/merchants', body);
      print(created, () => record(created) + '\n\nThe API key and webhook secret are shown only now: store them.');
      return 0;
    }
    case 'merchant list': {
      const page = await api.request<{ items: Row[] }>('GET', '/admin/v1/merchants');
      print(page, () => table(page.items, merchantColumns));
      return 0;
    }
    case 'merchant get': {
      const merchant = await api.request<Row>('GET', `/admin/v1/merchants/${encodeURIComponent(need('ID', arg))}`);
      print(merchant, () => record(merchant));
      return 0;
    }
    case 'merchant disable':
    case 'merchant enable': {
      const status = sub === 'disable' ? 'disabled' : 'active';
      const merchant = await api.request<Row>('PATCH', `/admin/v1/merchants/${encodeURIComponent(need('ID', arg))}`, { status });
      print(merchant, () => record(merchant));
      return 0;
    }
    case 'key create': {
      const key = await api.request<Row>('POST', `/admin/v1/merchants/${encodeURIComponent(need('MERCHANT_ID', arg))}/api-keys`);
      print(key, () => record(key) + '\n\nThe API key is shown only now: store it.');
      return 0;
    }
    case 'key list': {
      const page = await api.request<{ items: Row[] }>('GET', `/admin/v1/merchants/${encodeURIComponent(need('MERCHANT_ID', arg))}/api-keys`);
      print(page, () => table(page.items, ['key_id', 'prefix', 'created_at', 'revoked_at']));
      return 0;
    }
    case 'key revoke': {
      const keyId = need('KEY_ID', arg);
      await api.request('DELETE', `/admin/v1/api-keys/${encodeURIComponent(keyId)}`);
      print({ key_id: keyId, revoked: true }, () => `revoked ${keyId}`);
      return 0;
    }
    case 'currency set': {
      const code = need('CODE', arg).toUpperCase();
      const body: Row = { enabled: values.disable !== true };
      if (values.rate) body.rate = values.rate;
      if (values.min) body.min_amount = values.min;
      if (values.max) body.max_amount = values.max;
      const currency = await api.request<Row>('PUT', `/admin/v1/currencies/${encodeURIComponent(code)}`, body);
      print(currency, () => record(currency));
      return 0;
    }
    case 'currency list': {
      const page = await api.request<{ items: Row[] }>('GET', '/admin/v1/currencies');
      print(page, () => table(page.items, ['code', 'enabled', 'rate', 'min_amount', 'max_amount']));
      return 0;
    }
    case 'deals enable':
    case 'deals disable': {
      const settings = await api.request<Row>('PATCH', '/admin/v1/settings', { deals_enabled: sub === 'enable' });
      print(settings, () => `deals ${settings.deals_enabled ? 'enabled' : 'disabled'}`);
      return 0;
    }
    case 'settings': {
      const patch: Row = {};
      if (values.ttl) patch.invoice_ttl_minutes = values.ttl;
      if (values['per-minute']) patch.customer_invoices_per_minute = values['per-minute'];
      if (values['max-pending']) patch.customer_max_pending = values['max-pending'];
      const settings = Object.keys(patch).length
        ? await api.request<Row>('PATCH', '/admin/v1/settings', patch)
        : await api.request<Row>('GET', '/admin/v1/settings');
      print(settings, () => record(settings));
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${[command, sub].filter(Boolean).join(' ')}"`);
  }
}

class UsageError extends Error {}

export async function run(argv: string[]): Promise<void> {
  try {
    const code = await main(argv);
    if (code >= 0) process.exitCode = code;
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`kasa: ${(error as Error).message}\n\n${USAGE}\n`);
      process.exitCode = 2;
    } else if (error instanceof ApiError || error instanceof ConfigError) {
      process.stderr.write(`kasa: ${error.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`kasa: ${(error as Error).message}\n`);
      process.exitCode = 1;
    }
  }
}
