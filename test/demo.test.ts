// The `npm start` path, as a newcomer runs it: `kasa serve --demo` on an empty DATA_DIR with no
// DATABASE_URL, then the printed curl (twice), then the CLI from another shell with what the
// banner says to export, then SIGTERM. Every wait is for what Kasa prints, never for a guess.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, describe, test } from 'node:test';
import { CabinetBrowser, fetchTransport } from './helpers/cabinet.ts';
import { freePort, HANG_MS, kasaCli, kasaCommand } from './helpers/cli.ts';
import { UUID_V4 } from './helpers/http.ts';
import { ServeProcess } from './helpers/kasa-process.ts';

const BANNER_END = /API reference: \S+/;
const run = promisify(execFile);

/** An IPv4 address of this machine other than loopback, if it has one. */
function externalAddress(): string | null {
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return null;
}

/** Whether a TCP connection to host:port is accepted. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

describe('npm start: kasa serve --demo on an empty DATA_DIR', () => {
  const servers: ServeProcess[] = [];
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kasa-demo-'));
    dirs.push(dir);
    return dir;
  };
  const start = (args: string[], env: Record<string, string>) => {
    const server = new ServeProcess(args, env);
    servers.push(server);
    return server;
  };

  after(async () => {
    for (const server of servers) server.kill();
    await Promise.all(servers.map((s) => s.exited));
    for (const dir of dirs) await fs.rm(dir, { recursive: true, force: true });
  });

  test('seeds the demo, prints a curl that creates an invoice at each paste, serves the CLI, stops on SIGTERM', async () => {
    const dataDir = path.join(await tempDir(), 'data');
    const port = await freePort();
    const server = start(['serve', '--demo'], { DATA_DIR: dataDir, PORT: String(port) });
    await server.waitForOutput(BANNER_END);

    // The demo listens on loopback only: it allows webhooks to private addresses.
    assert.match(server.stdout, /"host":"127\.0\.0\.1","port":\d+,"msg":"kasa started"/);
    const external = externalAddress();
    if (external) assert.equal(await accepts(external, port), false, `not reachable on ${external}`);

    // The banner: the demo merchant's key and webhook secret, what to export for the CLI, a curl.
    const apiKey = server.stdout.match(/Demo merchant API key: (\S+)/)?.[1];
    assert.ok(apiKey, server.stdout);
    const webhookSecret = server.stdout.match(/Demo webhook secret: (whsec_\S+)/)?.[1];
    assert.ok(webhookSecret, server.stdout);
    const exported = server.stdout.match(/^ {2}export (.+)$/m)?.[1];
    assert.equal(exported, `KASA_URL=http://127.0.0.1:${port} DATA_DIR=${dataDir}`);
    const cliEnv = Object.fromEntries(exported.split(' ').map((pair) => pair.split('=') as [string, string]));
    const curl = /^curl -X POST "[^"]+" \\\n(?: {2}-H "[^"]+" \\\n)+ {2}-d '[^]*?\n}'$/m.exec(server.stdout)?.[0];
    assert.ok(curl, `a curl in:\n${server.stdout}`);
    assert.ok(curl.startsWith(`curl -X POST "http://localhost:${port}/api/v1/create-invoice"`), curl);
    assert.ok(curl.includes(`-H "X-Api-Key: ${apiKey}"`), curl);

    // The three demo sign-ins, one a line, with TOTP off for them only (the banner says so).
    const signIns = [...server.stdout.matchAll(/^(operator|merchant|trader): (\S+@\S+) (\S{10,})$/gm)];
    assert.deepEqual(
      signIns.map((m) => m[1]),
      ['operator', 'merchant', 'trader'],
      server.stdout,
    );
    assert.match(server.stdout, /TOTP two-factor sign-in is off for these demo users only/);
    for (const [, role, email, password] of signIns) {
      const browser = new CabinetBrowser(fetchTransport(`http://127.0.0.1:${port}`));
      const signedIn = await browser.signIn(email!, password!);
      assert.equal(signedIn.location, { operator: '/admin', merchant: '/merchant', trader: '/trader' }[role!], `${role}: ${signedIn.status}`);
      assert.equal((await browser.get(signedIn.location!)).status, 200);
    }

    // Pasting the curl into a shell, twice: two pending invoices at the seed's numbers.
    const paste = async () => JSON.parse((await run('bash', ['-c', `${curl} --silent`], { timeout: HANG_MS })).stdout) as Record<string, unknown>;
    const invoice = await paste();
    const second = await paste();
    for (const created of [invoice, second]) {
      assert.match(String(created.invoice_id), UUID_V4, JSON.stringify(created));
      assert.equal(created.status, 'pending');
      assert.equal(created.amount, '1500.00');
      assert.equal(created.conversion_rate, '41.50');
      assert.equal(created.merchant_usdt, '35.42');
      assert.equal(created.payment_link, `http://localhost:${port}/pay/${created.invoice_id}`);
      assert.match(String(created.external_id), /^order-\d+-\d*$/);
      assert.equal(Date.parse(String(created.expires_at)) - Date.parse(String(created.created_at)), 20 * 60_000);
    }
    assert.notEqual(second.external_id, invoice.external_id, 'each paste makes its own external_id');
    assert.notEqual(second.invoice_id, invoice.invoice_id);

    // The admin token was generated into DATA_DIR/admin-token, readable by its owner only.
    const tokenFile = path.join(dataDir, 'admin-token');
    const stat = await fs.stat(tokenFile);
    assert.equal(stat.mode & 0o777, 0o600, `mode ${(stat.mode & 0o777).toString(8)}`);
    const token = (await fs.readFile(tokenFile, 'utf8')).trim();
    assert.ok(token.length >= 16);
    assert.ok(!server.stdout.includes(token), 'the token itself is not printed');

    // `npm run kasa -- …` from another shell with only what the banner said to export (no PORT).
    const cli = await kasaCli(['merchant', 'create', '--name', 'Shop', '--json'], cliEnv);
    assert.equal(cli.code, 0, cli.stderr);
    const shop = JSON.parse(cli.stdout) as { name: string; api_key: string };
    assert.equal(shop.name, 'Shop');
    const listed = await kasaCommand(['merchant', 'list', '--json'], cliEnv);
    const merchants = (JSON.parse(listed.stdout) as { items: { merchant_id: string; name: string; fee_percent: string }[] }).items;
    assert.deepEqual(
      merchants.map((m) => [m.name, m.fee_percent]),
      [
        ['Demo Shop', '2.00'],
        ['Shop', '2.00'],
      ],
    );

    // The demo merchant's webhook secret rotated with the CLI: the next start shows the new one.
    const rotated = await kasaCommand(['merchant', 'webhook-secret', merchants[0]!.merchant_id, '--json'], cliEnv);
    assert.equal(rotated.code, 0, rotated.stderr);
    const newSecret = (JSON.parse(rotated.stdout) as { webhook_secret: string }).webhook_secret;
    assert.notEqual(newSecret, webhookSecret);

    // SIGTERM: a clean exit.
    assert.equal(await server.stop(), 0, server.stderr);

    // Started again on the same DATA_DIR: nothing is seeded twice, the demo key is shown again.
    const again = start(['serve', '--demo'], { DATA_DIR: dataDir, PORT: String(port) });
    await again.waitForOutput(BANNER_END);
    assert.ok(again.stdout.includes(`Demo merchant API key: ${apiKey}`), again.stdout);
    assert.ok(again.stdout.includes(`Demo webhook secret: ${newSecret}`), again.stdout);
    for (const [line] of signIns) assert.ok(again.stdout.includes(line), `the sign-in is shown again: ${line}`);
    const afterRestart = await kasaCommand(['merchant', 'list', '--json'], cliEnv);
    assert.deepEqual((JSON.parse(afterRestart.stdout) as { items: { name: string }[] }).items.map((m) => m.name).sort(), ['Demo Shop', 'Shop']);
    const read = await fetch(`http://127.0.0.1:${port}/api/v1/invoices/${invoice.invoice_id}`, { headers: { 'x-api-key': apiKey } });
    assert.equal(read.status, 200, 'the embedded database kept the invoice');
    assert.equal(await again.stop(), 0, again.stderr);
  });

  test('kasa serve without --demo never seeds, and listens on every address', async () => {
    const dataDir = await tempDir();
    const port = await freePort();
    const server = start(['serve'], { DATA_DIR: dataDir, PORT: String(port) });
    await server.waitForOutput(/kasa started/);
    assert.match(server.stdout, /"host":"0\.0\.0\.0"/);
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
