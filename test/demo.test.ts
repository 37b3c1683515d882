// The `npm start` path, as a newcomer runs it: `kasa serve --demo` on an empty DATA_DIR with no
// DATABASE_URL, then the printed curl, then the CLI against it, then SIGTERM.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { childEnv, freePort, KASA_BIN, kasaCli, REPO_ROOT } from './helpers/cli.ts';
import { UUID_V4 } from './helpers/http.ts';

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

/** A `kasa serve` child process and everything it has printed so far. */
class Server {
  stdout = '';
  stderr = '';
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;

  constructor(args: string[], env: Record<string, string | undefined>) {
    this.child = spawn(process.execPath, [KASA_BIN, ...args], { cwd: REPO_ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.stdout += chunk));
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exit = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves once stdout matches, fails if the process exits first or the time runs out. */
  async waitForOutput(pattern: RegExp, timeoutMs = START_TIMEOUT_MS): Promise<RegExpMatchArray> {
    let timer: NodeJS.Timeout | undefined;
    let onData: (() => void) | undefined;
    try {
      return await Promise.race([
        new Promise<RegExpMatchArray>((resolve) => {
          onData = () => {
            const match = this.stdout.match(pattern);
            if (match) resolve(match);
          };
          this.child.stdout!.on('data', onData);
          onData();
        }),
        this.exit.then(({ code, signal }) => {
          throw new Error(`kasa exited (code ${code}, signal ${signal}) before printing ${pattern}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      if (onData) this.child.stdout!.off('data', onData);
    }
  }

  /** Sends SIGTERM; resolves with the exit code, or fails if the process outlives the timeout. */
  async stop(timeoutMs = STOP_TIMEOUT_MS): Promise<number | null> {
    if (!this.running) return (await this.exit).code;
    this.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    try {
      const { code } = await Promise.race([
        this.exit,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`kasa still running ${timeoutMs} ms after SIGTERM`)), timeoutMs);
        }),
      ]);
      return code;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Last resort in cleanup: this test's own child, by its handle. */
  kill(): void {
    if (this.running) this.child.kill('SIGKILL');
  }
}

const BANNER_END = /API reference: \S+/;

describe('npm start: kasa serve --demo on an empty DATA_DIR', () => {
  const servers: Server[] = [];
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kasa-demo-'));
    dirs.push(dir);
    return dir;
  };
  const start = (args: string[], env: Record<string, string>) => {
    const server = new Server(args, env);
    servers.push(server);
    return server;
  };

  after(async () => {
    for (const server of servers) server.kill();
    await Promise.all(servers.map((s) => s.exit));
    for (const dir of dirs) await fs.rm(dir, { recursive: true, force: true });
  });

  test('seeds the demo, prints a curl that creates an invoice, serves the CLI, stops on SIGTERM', async () => {
    const dataDir = await tempDir();
    const port = await freePort();
    const server = start(['serve', '--demo'], { DATA_DIR: dataDir, PORT: String(port) });
    await server.waitForOutput(BANNER_END);

    // The banner: the demo merchant's key and a ready-to-paste curl.
    const apiKey = server.stdout.match(/Demo merchant API key: (\S+)/)?.[1];
    assert.ok(apiKey, server.stdout);
    const curl = /curl -X POST "([^"]+)" \\\n((?:\s+-H "[^"]+" \\\n)+)\s+-d '([^']+)'/.exec(server.stdout);
    assert.ok(curl, `a curl in:\n${server.stdout}`);
    const [, url, headerLines, body] = curl;
    assert.equal(url, `http://localhost:${port}/api/v1/create-invoice`);
    const headers = Object.fromEntries([...headerLines!.matchAll(/-H "([^:]+): ([^"]+)"/g)].map((m) => [m[1]!.toLowerCase(), m[2]!]));
    assert.deepEqual(headers, { 'content-type': 'application/json', 'x-api-key': apiKey });
    const seedBody = JSON.parse(body!);
    assert.equal(seedBody.amount, '1500.00');
    assert.equal(seedBody.currency_code, 'UAH');

    // Pasting the curl: a pending invoice at the seed's numbers.
    const created = await fetch(url!, { method: 'POST', headers, body: body! });
    const invoice = (await created.json()) as Record<string, unknown>;
    assert.equal(created.status, 200, JSON.stringify(invoice));
    assert.match(String(invoice.invoice_id), UUID_V4);
    assert.equal(invoice.status, 'pending');
    assert.equal(invoice.amount, '1500.00');
    assert.equal(invoice.conversion_rate, '41.50');
    assert.equal(invoice.merchant_usdt, '35.42');
    assert.equal(invoice.payment_link, `http://localhost:${port}/pay/${invoice.invoice_id}`);
    assert.equal(Date.parse(String(invoice.expires_at)) - Date.parse(String(invoice.created_at)), 20 * 60_000);

    // The admin token was generated into DATA_DIR/admin-token, readable by its owner only.
    const tokenFile = path.join(dataDir, 'admin-token');
    const stat = await fs.stat(tokenFile);
    assert.equal(stat.mode & 0o777, 0o600, `mode ${(stat.mode & 0o777).toString(8)}`);
    const token = (await fs.readFile(tokenFile, 'utf8')).trim();
    assert.ok(token.length >= 16);
    assert.ok(!server.stdout.includes(token), 'the token itself is not printed');
    const merchants = await fetch(`http://127.0.0.1:${port}/admin/v1/merchants`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(merchants.status, 200);
    const names = ((await merchants.json()) as { items: { name: string; fee_percent: string }[] }).items;
    assert.deepEqual(names.map((m) => [m.name, m.fee_percent]), [['Demo Shop', '2.00']]);

    // `npm run kasa -- merchant create --name Shop --json` on the same machine: token from DATA_DIR.
    const cli = await kasaCli(['merchant', 'create', '--name', 'Shop', '--json'], { DATA_DIR: dataDir, PORT: String(port) });
    assert.equal(cli.code, 0, cli.stderr);
    const shop = JSON.parse(cli.stdout) as { name: string; api_key: string };
    assert.equal(shop.name, 'Shop');
    const shopInvoice = await fetch(url!, { method: 'POST', headers: { ...headers, 'x-api-key': shop.api_key }, body: body! });
    assert.equal(shopInvoice.status, 200);

    // SIGTERM: a clean exit.
    assert.equal(await server.stop(), 0, server.stderr);

    // Started again on the same DATA_DIR: nothing is seeded twice, the demo key is shown again.
    const again = start(['serve', '--demo'], { DATA_DIR: dataDir, PORT: String(port) });
    await again.waitForOutput(BANNER_END);
    assert.ok(again.stdout.includes(`Demo merchant API key: ${apiKey}`), again.stdout);
    const after = await fetch(`http://127.0.0.1:${port}/admin/v1/merchants`, { headers: { authorization: `Bearer ${token}` } });
    assert.deepEqual(((await after.json()) as { items: { name: string }[] }).items.map((m) => m.name).sort(), ['Demo Shop', 'Shop']);
    const read = await fetch(`http://127.0.0.1:${port}/api/v1/invoices/${invoice.invoice_id}`, { headers: { 'x-api-key': apiKey } });
    assert.equal(read.status, 200, 'the embedded database kept the invoice');
    assert.equal(await again.stop(), 0, again.stderr);
  });

  test('kasa serve without --demo never seeds', async () => {
    const dataDir = await tempDir();
    const port = await freePort();
    const server = start(['serve'], { DATA_DIR: dataDir, PORT: String(port) });
    await server.waitForOutput(/kasa started/);
    assert.ok(!server.stdout.includes('API key'), server.stdout);
    const token = (await fs.readFile(path.join(dataDir, 'admin-token'), 'utf8')).trim();
    for (const route of ['merchants', 'currencies']) {
      const res = await fetch(`http://127.0.0.1:${port}/admin/v1/${route}`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200);
      assert.deepEqual(((await res.json()) as { items: unknown[] }).items, [], route);
    }
    assert.equal(await server.stop(), 0, server.stderr);
  });
});
