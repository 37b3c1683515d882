// `kasa <command>`: serve and migrate run in process; every other command is a client of the
// running server's admin API (KASA_URL, ADMIN_TOKEN or DATA_DIR/admin-token).
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.ts';
import { adminClient } from './client.ts';
import { record, table } from './format.ts';

const USAGE = `Usage: kasa <command> [options]

Server:
  serve [--demo] [--role api|worker|all] run Kasa (--demo seeds an empty database; role: HTTP API,
                                         background workers, or both — the default)
  migrate                                apply pending database migrations

Admin (client of the running server):
  merchant create --name NAME [--fee 2.00] [--webhook-url URL]
  merchant list
  merchant get ID
  merchant disable ID | merchant enable ID
  merchant webhook-secret ID             rotate the webhook signing secret (whsec_…, shown once);
                                         the old one keeps signing for 24 h
  merchant webhook-key ID                create (or replace) the Ed25519 webhook key: webhooks then
                                         also carry a v1a signature; prints the whpk_ public key
  key create MERCHANT_ID [--scopes invoices,withdrawals] | key list MERCHANT_ID | key revoke KEY_ID
  currency set CODE [--rate 41.50] [--min 10.00] [--max 100000.00] [--disable]
  currency list
  deals enable | deals disable
  settings [--ttl MINUTES] [--per-minute N] [--max-pending N] [--withdrawal-min USDT]
           [--withdrawal-fee USDT] [--withdrawal-auto-approve-below USDT]
           [--set NAME=VALUE]…           any other setting by its name in GET /admin/v1/settings,
                                         e.g. --set late_confirm_minutes=60
  trader create --name NAME [--reward 1.00]
  user create --email EMAIL --role operator|merchant|trader [--name NAME]
              [--merchant-id ID --merchant-role owner|developer|viewer] [--trader-id ID]
                                         prints a one-time set-password link (valid 24 h)
  user list
  trader list
  trader disable ID | trader enable ID
  trader deposit ID --amount 1000.00 --reference REF
  trader key ID
  trader insurance ID AMOUNT             move AMOUNT of available USDT into insurance; a negative
                                         AMOUNT (e.g. -50.00) releases it
  topup list [--status pending|confirmed|rejected]
  topup confirm TOPUP_ID                 credit the trader (check the transfer on chain first)
  topup reject TOPUP_ID --reason TEXT
  deal list [--status awaiting_payment|customer_paid|completed|expired|cancelled|rejected|disputed]
  deal confirm DEAL_ID [--received AMOUNT]  the fiat that arrived, when not the invoice amount
  dispute list [--status awaiting_trader|awaiting_operator|trader_accepted|resolved_merchant|resolved_trader|cancelled]
  dispute show DISPUTE_ID                   with its timeline, files and messages
  dispute resolve DISPUTE_ID --outcome merchant|trader [--amount AMOUNT]
  invoice history INVOICE_ID             created, then every status change, in order
  withdrawal list [--status requested|approved|completed|rejected|cancelled] [--owner merchant|trader]
  withdrawal approve ID
  withdrawal complete ID --tx-hash HASH  the USDT was sent in this chain transaction
  withdrawal reject ID --reason TEXT     the amount returns to the owner's balance
  ledger verify                          exits 1 if any balance is off
  ledger accounts

Options:
  --json                                 print the API's JSON answer
Environment: KASA_URL (default http://localhost:$PORT), ADMIN_TOKEN, DATA_DIR`;

type Values = Record<string, string | string[] | boolean | undefined>;

/** What a command reads and writes besides the network: the process's, or a test's. */
export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdout(text: string): void;
  stderr(text: string): void;
}

const processIo: CliIo = {
  env: process.env,
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
};

/** Runs one command; resolves with its exit code, or -1 for a server that keeps running. */
export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const isNegativeNumber = (a: string) => /^-\d/.test(a);
  const negatives = argv.filter(isNegativeNumber);
  const { values, positionals } = parseArgs({
    args: argv.filter((a) => !isNegativeNumber(a)),
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: 'boolean' },
      demo: { type: 'boolean' },
      role: { type: 'string' },
      reward: { type: 'string' },
      amount: { type: 'string' },
      reference: { type: 'string' },
      status: { type: 'string' },
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
      scopes: { type: 'string' },
      owner: { type: 'string' },
      'tx-hash': { type: 'string' },
      reason: { type: 'string' },
      'withdrawal-min': { type: 'string' },
      'withdrawal-fee': { type: 'string' },
      'withdrawal-auto-approve-below': { type: 'string' },
      set: { type: 'string', multiple: true },
      received: { type: 'string' },
      email: { type: 'string' },
      'merchant-id': { type: 'string' },
      'merchant-role': { type: 'string' },
      'trader-id': { type: 'string' },
      outcome: { type: 'string' },
    },
  });
  // A negative amount ("-50.00") reads as an option to parseArgs: such arguments are taken out
  // before parsing and put back after the other positionals.
  positionals.push(...negatives);
  const [command, sub, arg] = positionals;
  if (values.help || !command) {
    io.stdout(USAGE + '\n');
    return command || values.help ? 0 : 2;
  }

  if (command === 'serve') {
    const role = (values.role ?? 'all') as string;
    if (role !== 'api' && role !== 'worker' && role !== 'all') throw new UsageError('--role must be api, worker or all');
    const demo = values.demo === true;
    // The demo runs on one machine: its webhooks may target a receiver on localhost, so it
    // listens on loopback only unless HOST says otherwise.
    // Loaded only here: the server and the database drivers take seconds to load, which every
    // admin command (a small HTTP client) would otherwise pay.
    const { serve } = await import('../server.ts');
    await serve(loadConfig(io.env, demo ? { webhookAllowPrivate: true, host: '127.0.0.1' } : {}), { demo, role });
    return -1; // keeps running
  }
  if (command === 'migrate') {
    const config = loadConfig(io.env);
    const [{ connect }, { migrate }, { restrictNewFiles }] = await Promise.all([
      import('../db/connect.ts'),
      import('../db/migrate.ts'),
      import('../data-dir.ts'),
    ]);
    restrictNewFiles();
    const database = await connect({
      databaseUrl: config.databaseUrl,
      dataDir: config.databaseUrl ? null : config.dataDir,
      poolSizeMax: config.databasePoolSize,
      pipelines: 0,
    });
    try {
      const applied = await migrate(database.db);
      io.stdout(applied.length ? `applied: ${applied.join(', ')}\n` : 'up to date\n');
    } finally {
      await database.close();
    }
    return 0;
  }
  return admin(command, sub, arg, values, io, positionals[3]);
}

async function admin(command: string, sub: string | undefined, arg: string | undefined, values: Values, io: CliIo, arg2: string | undefined): Promise<number> {
  const api = await adminClient(io.env);
  const json = values.json === true;
  const print = (data: unknown, human: () => string) => io.stdout((json ? JSON.stringify(data, null, 2) : human()) + '\n');
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
      const page = await api.listAll<Row>('/admin/v1/merchants');
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
    case 'merchant webhook-secret': {
      const rotated = await api.request<Row>('POST', `/admin/v1/merchants/${encodeURIComponent(need('ID', arg))}/webhook-secret`);
      print(
        rotated,
        () =>
          record(rotated) + '\n\nThe webhook secret is shown only now: give it to the merchant. The old one keeps signing until previous_secret_valid_until.',
      );
      return 0;
    }
    case 'merchant webhook-key': {
      const key = await api.request<Row>('POST', `/admin/v1/merchants/${encodeURIComponent(need('ID', arg))}/webhook-keys`);
      print(key, () => record(key) + '\n\nWebhooks now also carry a v1a signature: verify it with this public key.');
      return 0;
    }
    case 'key create': {
      const scopes = typeof values.scopes === 'string' ? { scopes: values.scopes.split(',').map((s) => s.trim()) } : undefined;
      const key = await api.request<Row>('POST', `/admin/v1/merchants/${encodeURIComponent(need('MERCHANT_ID', arg))}/api-keys`, scopes);
      print(key, () => record(key) + '\n\nThe API key is shown only now: store it.');
      return 0;
    }
    case 'key list': {
      const page = await api.listAll<Row>(`/admin/v1/merchants/${encodeURIComponent(need('MERCHANT_ID', arg))}/api-keys`);
      print(page, () => table(page.items, ['key_id', 'prefix', 'scopes', 'created_at', 'revoked_at']));
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
      const page = await api.listAll<Row>('/admin/v1/currencies');
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
      if (values['withdrawal-min']) patch.withdrawal_min_usdt = values['withdrawal-min'];
      if (values['withdrawal-fee']) patch.withdrawal_fee_usdt = values['withdrawal-fee'];
      if (values['withdrawal-auto-approve-below']) patch.withdrawal_auto_approve_below_usdt = values['withdrawal-auto-approve-below'];
      // Any other setting by its API name, typed as the API shows it; the API validates the value.
      if (Array.isArray(values.set) && values.set.length) {
        const current = await api.request<Row>('GET', '/admin/v1/settings');
        for (const assignment of values.set) {
          const at = assignment.indexOf('=');
          const name = assignment.slice(0, at);
          if (at <= 0 || !(name in current) || name === 'updated_at') throw new UsageError(`--set takes NAME=VALUE with a setting's name, got ${assignment}`);
          const value = assignment.slice(at + 1);
          const kind = typeof current[name];
          patch[name] = kind === 'number' ? Number(value) : kind === 'boolean' ? value === 'true' : value;
        }
      }
      const settings = Object.keys(patch).length
        ? await api.request<Row>('PATCH', '/admin/v1/settings', patch)
        : await api.request<Row>('GET', '/admin/v1/settings');
      print(settings, () => record(settings));
      return 0;
    }
    case 'user create': {
      const body: Row = { email: need('--email', values.email as string | undefined), role: need('--role', values.role as string | undefined) };
      if (values.name) body.name = values.name;
      if (values['merchant-id']) body.merchant_id = values['merchant-id'];
      if (values['merchant-role']) body.merchant_role = values['merchant-role'];
      if (values['trader-id']) body.trader_id = values['trader-id'];
      const created = await api.request<{ user: Row; set_password_url: string; set_password_expires_at: string }>('POST', '/admin/v1/users', body);
      print(
        created,
        () =>
          record(created.user) +
          `\n\nSet-password link (once, until ${created.set_password_expires_at}); give it to the person only:\n${created.set_password_url}`,
      );
      return 0;
    }
    case 'user list': {
      const page = await api.listAll<Row>('/admin/v1/users');
      print(page, () => table(page.items, ['user_id', 'email', 'role', 'merchant_id', 'merchant_role', 'trader_id', 'status', 'totp_enabled']));
      return 0;
    }
    case 'trader create': {
      const body: Row = { name: need('--name', values.name as string | undefined) };
      if (values.reward) body.reward_percent = values.reward;
      const created = await api.request<Row>('POST', '/admin/v1/traders', body);
      print(created, () => record(created) + '\n\nThe API key is shown only now: give it to the trader.');
      return 0;
    }
    case 'trader list': {
      const page = await api.listAll<Row & { balance: Row }>('/admin/v1/traders');
      print(page, () =>
        table(
          page.items.map((t) => ({ ...t, available: t.balance.available, locked: t.balance.locked })),
          ['trader_id', 'name', 'status', 'reward_percent', 'available', 'locked'],
        ),
      );
      return 0;
    }
    case 'trader disable':
    case 'trader enable': {
      const status = sub === 'disable' ? 'disabled' : 'active';
      const trader = await api.request<Row>('PATCH', `/admin/v1/traders/${encodeURIComponent(need('ID', arg))}`, { status });
      print(trader, () => record(trader));
      return 0;
    }
    case 'trader deposit': {
      const body = {
        amount_usdt: need('--amount', values.amount as string | undefined),
        reference: need('--reference', values.reference as string | undefined),
      };
      const deposit = await api.request<Row>('POST', `/admin/v1/traders/${encodeURIComponent(need('ID', arg))}/deposits`, body);
      print(deposit, () => record(deposit));
      return 0;
    }
    case 'trader key': {
      const key = await api.request<Row>('POST', `/admin/v1/traders/${encodeURIComponent(need('ID', arg))}/api-keys`);
      print(key, () => record(key) + '\n\nThe API key is shown only now: give it to the trader.');
      return 0;
    }
    case 'trader insurance': {
      const id = need('ID', arg);
      const moved = await api.request<Row & { balance: Row }>('POST', `/admin/v1/traders/${encodeURIComponent(id)}/insurance`, {
        amount_usdt: need('AMOUNT', arg2),
      });
      print(moved, () => record({ trader_id: moved.trader_id, amount_usdt: moved.amount_usdt, ...moved.balance }));
      return 0;
    }
    case 'topup list': {
      const query = values.status ? `?status=${encodeURIComponent(values.status as string)}` : '';
      const page = await api.listAll<Row>(`/admin/v1/topups${query}`);
      print(page, () => table(page.items, ['topup_id', 'trader_id', 'status', 'amount_usdt', 'network', 'tx_hash', 'created_at']));
      return 0;
    }
    case 'topup confirm': {
      const topup = await api.request<Row>('POST', `/admin/v1/topups/${encodeURIComponent(need('TOPUP_ID', arg))}/confirm`);
      print(topup, () => record(topup));
      return 0;
    }
    case 'topup reject': {
      const body = { reason: need('--reason', values.reason as string | undefined) };
      const topup = await api.request<Row>('POST', `/admin/v1/topups/${encodeURIComponent(need('TOPUP_ID', arg))}/reject`, body);
      print(topup, () => record(topup));
      return 0;
    }
    case 'deal list': {
      const query = values.status ? `?status=${encodeURIComponent(values.status as string)}` : '';
      const page = await api.listAll<Row>(`/admin/v1/deals${query}`);
      print(page, () => table(page.items, ['deal_id', 'status', 'amount', 'currency', 'card_number', 'merchant_usdt', 'opened_at']));
      return 0;
    }
    case 'deal confirm': {
      const body = typeof values.received === 'string' ? { received_amount: values.received } : undefined;
      const deal = await api.request<Row>('POST', `/admin/v1/deals/${encodeURIComponent(need('DEAL_ID', arg))}/confirm`, body);
      print(deal, () => record(deal));
      return 0;
    }
    case 'dispute list': {
      const query = values.status ? `?status=${encodeURIComponent(values.status as string)}` : '';
      const page = await api.listAll<Row>(`/admin/v1/disputes${query}`);
      print(page, () => table(page.items, ['dispute_id', 'status', 'invoice_id', 'reason', 'claimed_amount', 'covered', 'respond_by']));
      return 0;
    }
    case 'dispute show': {
      const dispute = await api.request<Row & { timeline: Row[] }>('GET', `/admin/v1/disputes/${encodeURIComponent(need('DISPUTE_ID', arg))}`);
      print(dispute, () => `${record(dispute)}\n\n${table(dispute.timeline, ['at', 'from_status', 'status', 'actor'])}`);
      return 0;
    }
    case 'dispute resolve': {
      const body = {
        outcome: need('--outcome', values.outcome as string | undefined),
        ...(typeof values.amount === 'string' ? { amount: values.amount } : {}),
      };
      const dispute = await api.request<Row>('POST', `/admin/v1/disputes/${encodeURIComponent(need('DISPUTE_ID', arg))}/resolve`, body);
      print(dispute, () => record(dispute));
      return 0;
    }
    case 'invoice history': {
      const history = await api.request<{ items: Row[] }>('GET', `/admin/v1/invoices/${encodeURIComponent(need('INVOICE_ID', arg))}/history`);
      print(history, () => table(history.items, ['at', 'from_status', 'status', 'status_detail', 'actor']));
      return 0;
    }
    case 'withdrawal list': {
      const query = new URLSearchParams();
      if (typeof values.status === 'string') query.set('status', values.status);
      if (typeof values.owner === 'string') query.set('owner_kind', values.owner);
      const page = await api.listAll<Row>(`/admin/v1/withdrawals${query.size ? `?${query}` : ''}`);
      print(page, () => table(page.items, ['withdrawal_id', 'status', 'owner_kind', 'owner_id', 'amount_usdt', 'net_usdt', 'address', 'created_at']));
      return 0;
    }
    case 'withdrawal approve': {
      const withdrawal = await api.request<Row>('POST', `/admin/v1/withdrawals/${encodeURIComponent(need('ID', arg))}/approve`);
      print(withdrawal, () => record(withdrawal));
      return 0;
    }
    case 'withdrawal complete': {
      const body = { tx_hash: need('--tx-hash', values['tx-hash'] as string | undefined) };
      const withdrawal = await api.request<Row>('POST', `/admin/v1/withdrawals/${encodeURIComponent(need('ID', arg))}/complete`, body);
      print(withdrawal, () => record(withdrawal));
      return 0;
    }
    case 'withdrawal reject': {
      const body = { reason: need('--reason', values.reason as string | undefined) };
      const withdrawal = await api.request<Row>('POST', `/admin/v1/withdrawals/${encodeURIComponent(need('ID', arg))}/reject`, body);
      print(withdrawal, () => record(withdrawal));
      return 0;
    }
    case 'ledger verify': {
      const report = await api.request<Row & { ok: boolean; mismatched: Row[]; negative: Row[] }>('GET', '/admin/v1/ledger/verify');
      print(report, () => {
        const lines = [
          report.ok ? 'ledger OK' : 'LEDGER INCONSISTENT',
          `accounts ${report.accounts}, transfers ${report.transfers}, sum of balances ${report.total}`,
        ];
        for (const m of report.mismatched) lines.push(`balance mismatch: ${m.account} stored ${m.balance}, from transfers ${m.computed}`);
        for (const n of report.negative) lines.push(`negative balance: ${n.account} ${n.balance}`);
        return lines.join('\n');
      });
      return report.ok ? 0 : 1;
    }
    case 'ledger accounts': {
      const page = await api.listAll<Row>('/admin/v1/ledger/accounts');
      print(page, () => table(page.items, ['account', 'balance']));
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${[command, sub].filter(Boolean).join(' ')}"`);
  }
}

class UsageError extends Error {}

/** Runs one command and turns a failure into its message and exit code (2: usage, 1: anything else). */
export async function execute(argv: string[], io: CliIo = processIo): Promise<number> {
  try {
    return await main(argv, io);
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`kasa: ${(error as Error).message}\n\n${USAGE}\n`);
      return 2;
    }
    io.stderr(`kasa: ${(error as Error).message}\n`);
    return 1;
  }
}

/**
 * The `kasa` program. A failed command ends the process at once: a server that could not start
 * (its port taken, its database unreachable) may still hold connections or timers, and a
 * process left running would look healthy to its supervisor.
 */
export async function run(argv: string[]): Promise<void> {
  const code = await execute(argv);
  if (code < 0) return;
  process.exitCode = code;
  // Once what was written has reached stdout and stderr (pipes are asynchronous on some systems).
  if (code > 0) process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}
