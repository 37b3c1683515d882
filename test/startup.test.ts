// What an operator meets when starting `kasa serve`: what it writes under DATA_DIR (owner-only
// whatever the umask), a DATA_DIR others may write, a port already taken, a database that does
// not answer. Each runs the real program; every wait is for its output or its exit.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { prepareDataDir } from '../src/data-dir.ts';
import { freePort } from './helpers/cli.ts';
import { ServeProcess } from './helpers/kasa-process.ts';

const ADMIN_TOKEN = 'startup-admin-token-0123456789';

/** Every entry under dir (and dir itself) whose mode is not 0700 for a directory, 0600 for a file. */
async function notOwnerOnly(dir: string): Promise<string[]> {
  const wrong: string[] = [];
  let files = 0;
  const visit = async (entry: string) => {
    const stat = await fs.lstat(entry);
    const mode = stat.mode & 0o777;
    if (stat.isDirectory()) {
      if (mode !== 0o700) wrong.push(`${entry} ${mode.toString(8)}`);
      for (const name of await fs.readdir(entry)) await visit(path.join(entry, name));
    } else {
      files++;
      if (mode !== 0o600) wrong.push(`${entry} ${mode.toString(8)}`);
    }
  };
  await visit(dir);
  assert.ok(files > 100, `the embedded database's files are there (${files})`);
  return wrong;
}

describe('kasa serve start-up, as an operator meets it', () => {
  const servers: ServeProcess[] = [];
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kasa-startup-'));
    dirs.push(dir);
    return dir;
  };
  const start = (args: string[], env: Record<string, string>, umask?: string) => {
    const server = new ServeProcess(args, { LOG_LEVEL: 'warn', ...env }, umask ? { umask } : {});
    servers.push(server);
    return server;
  };
  /** Starts `serve` and waits until it answers /readyz (its only stdout line at LOG_LEVEL=warn is none). */
  const ready = async (server: ServeProcess, port: number) => {
    for (;;) {
      if (!server.running) throw new Error(`kasa exited before it was ready:\n${server.stderr}`);
      const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null);
      if (res?.status === 200) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  let usedDataDir = '';

  after(async () => {
    for (const server of servers) server.kill();
    await Promise.all(servers.map((s) => s.exited));
    for (const dir of dirs) await fs.rm(dir, { recursive: true, force: true });
  });

  for (const umask of ['000', '022']) {
    test(`with umask ${umask}, DATA_DIR and every file Kasa writes under it are owner-only`, async () => {
      const dataDir = path.join(await tempDir(), 'nested', 'data');
      const port = await freePort();
      const server = start(['serve', '--demo'], { DATA_DIR: dataDir, PORT: String(port) }, umask);
      await server.waitForOutput(/API reference: \S+/);
      const apiKey = server.stdout.match(/Demo merchant API key: (\S+)/)![1]!;
      // Some writes, so the database creates files of its own at run time too.
      const body = { amount: '1500.00', currency_code: 'UAH', customer_id: 'c1', external_id: `modes-${umask}`, callback_url: 'https://yoursite.com/hook' };
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/create-invoice`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
        body: JSON.stringify(body),
      });
      assert.equal(res.status, 200, await res.text());
      assert.deepEqual(await notOwnerOnly(dataDir), [], 'while running');
      assert.equal(await server.stop(), 0, server.stderr);
      assert.deepEqual(await notOwnerOnly(dataDir), [], 'after shutdown');
      for (const file of ['admin-token', 'demo-api-key', 'demo-trader-key']) await fs.access(path.join(dataDir, file));
      usedDataDir = dataDir;
    });
  }

  test('a DATA_DIR an older Kasa left readable by others is made owner-only at start', async () => {
    assert.ok(usedDataDir, 'runs after a test that made a data directory');
    await fs.chmod(usedDataDir, 0o755);
    await fs.chmod(path.join(usedDataDir, 'admin-token'), 0o644);
    await fs.chmod(path.join(usedDataDir, 'PG_VERSION'), 0o666);
    await fs.chmod(path.join(usedDataDir, 'base'), 0o755);
    const port = await freePort();
    const server = start(['serve'], { DATA_DIR: usedDataDir, PORT: String(port) }, '022');
    await ready(server, port);
    assert.equal(await server.stop(), 0, server.stderr);
    assert.deepEqual(await notOwnerOnly(usedDataDir), []);
    assert.match(server.stdout, /"entries":4,"msg":"DATA_DIR held entries others could read: made them owner-only"/);
  });

  test('a DATA_DIR every user may write: refused with the fix, before anything is written', async () => {
    const dataDir = path.join(await tempDir(), 'open');
    await fs.mkdir(dataDir);
    await fs.chmod(dataDir, 0o777);
    const server = start(['serve'], { DATA_DIR: dataDir, PORT: String(await freePort()) });
    const { code } = await server.exit();
    assert.equal(code, 1, server.stderr);
    assert.ok(server.stderr.includes(`DATA_DIR ${dataDir} is writable by every user of this machine (mode 0777)`), server.stderr);
    assert.ok(server.stderr.includes(`chmod 700 ${dataDir}`), server.stderr);
    assert.deepEqual(await fs.readdir(dataDir), []);
  });

  test('DATA_DIR: group-writable is accepted (a shared service group), others-writable never, sticky or not', async () => {
    const base = await tempDir();
    const cases: [number, boolean][] = [
      [0o700, true],
      [0o750, true],
      [0o770, true],
      [0o757, false],
      [0o777, false],
      [0o1777, false],
    ];
    for (const [mode, accepted] of cases) {
      const dir = path.join(base, mode.toString(8));
      await fs.mkdir(dir);
      await fs.chmod(dir, mode);
      const outcome = await prepareDataDir(dir).then(
        () => true,
        (error: Error) => (assert.match(error.message, /chmod 700/), false),
      );
      assert.equal(outcome, accepted, `mode ${mode.toString(8)}`);
    }
    const file = path.join(base, 'a-file');
    await fs.writeFile(file, '');
    await assert.rejects(prepareDataDir(file), /EEXIST|not a directory/);
  });

  test('a port already taken: a clear message and a non-zero exit, not a process left running', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as net.AddressInfo;
    try {
      const server = start(['serve'], { DATA_DIR: usedDataDir || (await tempDir()), PORT: String(port), HOST: '127.0.0.1' });
      const { code } = await server.exit();
      assert.equal(code, 1, server.stderr);
      assert.ok(server.stderr.includes(`kasa: Cannot listen on 127.0.0.1:${port}: another process already listens on it (EADDRINUSE)`), server.stderr);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  test('a database that does not answer: DATABASE_URL named without its password, and a non-zero exit', async () => {
    const url = `postgres://kasa:secret-password@127.0.0.1:${await freePort()}/kasa`;
    const server = start(['serve'], { DATABASE_URL: url, ADMIN_TOKEN, PORT: String(await freePort()) });
    const { code } = await server.exit();
    assert.equal(code, 1, server.stderr);
    assert.ok(server.stderr.includes(`Cannot connect to the PostgreSQL server of DATABASE_URL (postgres://kasa:***@127.0.0.1:`), server.stderr);
    assert.match(server.stderr, /ECONNREFUSED/);
    assert.ok(!server.stderr.includes('secret-password'), 'the password is never printed');
  });
});
