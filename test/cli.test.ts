// The kasa CLI against a real Kasa over HTTP. Commands run in this process through the CLI's own
// entry (execute(), with their own environment and output); two run the real bin/kasa.js as a
// child process, so the program as installed is covered too.
import assert from 'node:assert/strict';
import { createHmac, createPublicKey, verify as verifySignature } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ADMIN_TOKEN, startKasa, type TestKasa } from './helpers/kasa.ts';
import { assertEnvelope, UUID_V4 } from './helpers/http.ts';
import { freePort, kasaCli, kasaCommand } from './helpers/cli.ts';
import { Receiver } from './helpers/receiver.ts';

describe('kasa CLI, a client of the admin API', () => {
  let t: TestKasa;
  let env: Record<string, string>;
  let seq = 0;
  const unique = () => `cli-${++seq}`;
  const kasa = (...args: string[]) => kasaCommand(args, env);
  const json = async (...args: string[]) => {
    const res = await kasa(...args, '--json');
    assert.equal(res.code, 0, `kasa ${args.join(' ')}: ${res.stderr}`);
    return JSON.parse(res.stdout);
  };

  before(async () => {
    t = await startKasa();
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const address = t.app.server.address();
    assert.ok(address && typeof address === 'object');
    env = { KASA_URL: `http://127.0.0.1:${address.port}`, ADMIN_TOKEN };
  });
  after(() => t.close());

  test('merchant create --json prints the API answer, with a key that works', async () => {
    const created = await json('merchant', 'create', '--name', 'Shop');
    assert.match(created.merchant_id, UUID_V4);
    assert.equal(created.name, 'Shop');
    assert.equal(created.fee_percent, '2.00');
    assert.match(created.webhook_secret, /^whsec_/);
    assert.equal(typeof created.api_key, 'string');
    const invoice = await t.createInvoice(created.api_key, { external_id: unique() });
    assert.equal(invoice.statusCode, 200, invoice.body);
    assert.equal(invoice.json().merchant_usdt, '35.42');
  });

  test('merchant create with a fee and a webhook URL; human output names the key', async () => {
    const res = await kasa('merchant', 'create', '--name', 'Fancy Shop', '--fee', '1.5', '--webhook-url', 'https://fancy.example/hook');
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /api_key\s+kasa_sk_/);
    assert.match(res.stdout, /fee_percent\s+1\.50/);
    assert.match(res.stdout, /shown only now/);
  });

  test('merchant list prints a table', async () => {
    const created = await json('merchant', 'create', '--name', 'Listed Shop');
    const res = await kasa('merchant', 'list');
    assert.equal(res.code, 0, res.stderr);
    const lines = res.stdout.trim().split('\n');
    assert.match(lines[0]!, /^MERCHANT_ID\s+NAME\s+STATUS\s+FEE_PERCENT\s+WEBHOOK_URL$/);
    const row = lines.find((l) => l.startsWith(created.merchant_id));
    assert.ok(row, res.stdout);
    assert.match(row, /Listed Shop\s+active\s+2\.00/);
    assert.ok(res.stdout.includes('Shop'));
    assert.ok(!res.stdout.includes(created.api_key), 'the list never shows a key');
    const listed = await json('merchant', 'list');
    assert.ok(listed.items.some((m: { merchant_id: string }) => m.merchant_id === created.merchant_id));
  });

  test('merchant disable stops its keys at once; enable restores them', async () => {
    const created = await json('merchant', 'create', '--name', 'Disabled Shop');
    const disabled = await json('merchant', 'disable', created.merchant_id);
    assert.equal(disabled.status, 'disabled');
    assertEnvelope(await t.createInvoice(created.api_key, { external_id: unique() }), 401, 'API_KEY_INVALID');
    const enabled = await kasa('merchant', 'enable', created.merchant_id);
    assert.equal(enabled.code, 0, enabled.stderr);
    assert.match(enabled.stdout, /status\s+active/);
    assert.equal((await t.createInvoice(created.api_key, { external_id: unique() })).statusCode, 200);
  });

  test('key create and key revoke', async () => {
    const merchant = await json('merchant', 'create', '--name', 'Keyed Shop');
    const key = await json('key', 'create', merchant.merchant_id);
    assert.match(key.key_id, UUID_V4);
    assert.ok(key.api_key.startsWith(key.prefix));
    assert.equal((await t.createInvoice(key.api_key, { external_id: unique() })).statusCode, 200);

    const listed = await kasa('key', 'list', merchant.merchant_id);
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok(listed.stdout.includes(key.prefix) && !listed.stdout.includes(key.api_key));

    const revoked = await kasa('key', 'revoke', key.key_id);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, new RegExp(`revoked ${key.key_id}`));
    assertEnvelope(await t.createInvoice(key.api_key, { external_id: unique() }), 401, 'API_KEY_INVALID');
    assert.equal((await t.createInvoice(merchant.api_key, { external_id: unique() })).statusCode, 200, 'the other key still works');
  });

  test('currency set creates and updates a currency', async () => {
    const eur = await json('currency', 'set', 'EUR', '--rate', '0.92');
    assert.deepEqual({ code: eur.code, enabled: eur.enabled, rate: eur.rate }, { code: 'EUR', enabled: true, rate: '0.92' });
    const limited = await json('currency', 'set', 'eur', '--min', '10', '--max', '5000');
    assert.equal(limited.code, 'EUR', 'the code is upper-cased');
    assert.equal(limited.rate, '0.92');
    assert.equal(limited.min_amount, '10.00');
    assert.equal(limited.max_amount, '5000.00');
    const listed = await kasa('currency', 'list');
    assert.equal(listed.code, 0);
    assert.match(listed.stdout, /EUR\s+true\s+0\.92\s+10\.00\s+5000\.00/);
    const disabled = await json('currency', 'set', 'EUR', '--disable');
    assert.equal(disabled.enabled, false);
  });

  test('deals disable makes create-invoice answer 503; deals enable restores it', async () => {
    const merchant = await t.createMerchant();
    const off = await kasa('deals', 'disable');
    try {
      assert.equal(off.code, 0, off.stderr);
      assert.equal(off.stdout.trim(), 'deals disabled');
      assertEnvelope(await t.createInvoice(merchant.api_key, { external_id: unique() }), 503, 'DEALS_SYSTEM_DISABLED');
    } finally {
      const on = await kasa('deals', 'enable');
      assert.equal(on.code, 0, on.stderr);
    }
    assert.equal((await t.createInvoice(merchant.api_key, { external_id: unique() })).statusCode, 200);
  });

  test('settings shows and changes the settings', async () => {
    const shown = await json('settings');
    assert.equal(shown.invoice_ttl_minutes, 20);
    const changed = await json('settings', '--ttl', '30', '--per-minute', '12', '--max-pending', '6');
    assert.equal(changed.invoice_ttl_minutes, 30);
    assert.equal(changed.customer_invoices_per_minute, 12);
    assert.equal(changed.customer_max_pending, 6);
    const restored = await json('settings', '--ttl', '20', '--per-minute', '10', '--max-pending', '5');
    assert.equal(restored.invoice_ttl_minutes, 20);
  });

  describe('webhook signing', () => {
    let receiver: Receiver;
    before(async () => {
      receiver = await Receiver.start();
    });
    after(() => receiver.close());

    /** Sends the merchant's test ping and returns the request the receiver got. */
    const ping = async (apiKey: string) => {
      const count = receiver.received.length;
      const res = await t.inject({ method: 'POST', url: '/api/v1/webhooks/test', headers: { 'x-api-key': apiKey } });
      assert.equal(res.statusCode, 200, res.body);
      const request = receiver.received[count];
      assert.ok(request, 'the ping arrived');
      return request;
    };
    const v1 = (secret: string, r: { headers: Record<string, unknown>; body: string }) =>
      'v1,' +
      createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64'))
        .update(`${r.headers['webhook-id']}.${r.headers['webhook-timestamp']}.${r.body}`)
        .digest('base64');

    test('merchant webhook-secret rotates the secret, shows the new one once, and both sign meanwhile', async () => {
      const shop = await json('merchant', 'create', '--name', 'Rotating Shop', '--webhook-url', receiver.url);
      const human = await kasa('merchant', 'webhook-secret', shop.merchant_id);
      assert.equal(human.code, 0, human.stderr);
      const secret = /webhook_secret\s+(whsec_\S+)/.exec(human.stdout)?.[1];
      assert.ok(secret, human.stdout);
      assert.notEqual(secret, shop.webhook_secret);
      assert.match(human.stdout, /previous_secret_valid_until\s+\d{4}-/);
      assert.match(human.stdout, /shown only now/);
      const signatures = String((await ping(shop.api_key)).headers['webhook-signature']).split(' ');
      const request = receiver.received.at(-1)!;
      assert.ok(signatures.includes(v1(secret, request)), 'the new secret signs');
      assert.ok(signatures.includes(v1(shop.webhook_secret, request)), 'the old one too, for the overlap');

      const again = await json('merchant', 'webhook-secret', shop.merchant_id);
      assert.match(again.webhook_secret, /^whsec_/);
      assert.notEqual(again.webhook_secret, secret);
      const missing = await kasa('merchant', 'webhook-secret', '00000000-0000-4000-8000-000000000000');
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /404 MERCHANT_NOT_FOUND/);
    });

    test('merchant webhook-key creates an Ed25519 key whose v1a signature verifies', async () => {
      const shop = await json('merchant', 'create', '--name', 'Ed25519 Shop', '--webhook-url', receiver.url);
      const created = await kasa('merchant', 'webhook-key', shop.merchant_id);
      assert.equal(created.code, 0, created.stderr);
      const publicKey = /public_key\s+(whpk_\S+)/.exec(created.stdout)?.[1];
      assert.ok(publicKey, created.stdout);
      const key = createPublicKey({
        key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(publicKey.slice('whpk_'.length), 'base64')]),
        format: 'der',
        type: 'spki',
      });
      const request = await ping(shop.api_key);
      const v1a = String(request.headers['webhook-signature'])
        .split(' ')
        .find((entry) => entry.startsWith('v1a,'));
      assert.ok(v1a, String(request.headers['webhook-signature']));
      const content = Buffer.from(`${request.headers['webhook-id']}.${request.headers['webhook-timestamp']}.${request.body}`);
      assert.equal(verifySignature(null, content, key, Buffer.from(v1a.slice('v1a,'.length), 'base64')), true);
      assert.equal((await kasa('merchant', 'webhook-key')).code, 2, 'the merchant id is required');
    });
  });

  describe('failures', () => {
    test('a wrong admin token → exit 1 with a clear message', async () => {
      const res = await kasaCommand(['merchant', 'list'], { ...env, ADMIN_TOKEN: 'wrong-token-0123456789' });
      assert.equal(res.code, 1);
      assert.match(res.stderr, /401/);
      assert.match(res.stderr, /UNAUTHORIZED/);
      assert.equal(res.stdout, '');
    });

    test('an API validation error → exit 1 naming the field', async () => {
      const res = await kasa('merchant', 'create', '--name', 'Bad Fee', '--fee', '150');
      assert.equal(res.code, 1);
      assert.match(res.stderr, /422/);
      assert.match(res.stderr, /fee_percent/);
    });

    test('a missing merchant → exit 1 with MERCHANT_NOT_FOUND', async () => {
      const res = await kasa('merchant', 'disable', '00000000-0000-4000-8000-000000000000');
      assert.equal(res.code, 1);
      assert.match(res.stderr, /404 MERCHANT_NOT_FOUND/);
    });

    test('bin/kasa.js: a usage error exits 2 with the usage on stderr', async () => {
      const res = await kasaCli(['frobnicate'], env);
      assert.equal(res.code, 2, res.stderr);
      assert.match(res.stderr, /unknown command "frobnicate"/);
      assert.match(res.stderr, /Usage: kasa/);
      assert.equal(res.stdout, '');
    });

    test('an unknown command, an unknown option or a missing argument → exit 2 with the usage', async () => {
      for (const args of [['frobnicate'], ['merchant', 'explode'], ['merchant', 'list', '--bogus'], ['merchant', 'create'], ['key', 'revoke']]) {
        const res = await kasa(...args);
        assert.equal(res.code, 2, `${args.join(' ')}: ${res.stderr}`);
        assert.match(res.stderr, /Usage: kasa/);
      }
      assert.match((await kasa('frobnicate')).stderr, /unknown command "frobnicate"/);
    });

    test('no command → exit 2 with the usage; --help → exit 0', async () => {
      const none = await kasa();
      assert.equal(none.code, 2);
      assert.match(none.stdout + none.stderr, /Usage: kasa/);
      const help = await kasa('--help');
      assert.equal(help.code, 0);
      assert.match(help.stdout, /Usage: kasa/);
    });

    test('Kasa not reachable → exit 1 naming the URL', async () => {
      const url = `http://127.0.0.1:${await freePort()}`;
      const res = await kasaCommand(['merchant', 'list'], { KASA_URL: url, ADMIN_TOKEN });
      assert.equal(res.code, 1);
      assert.ok(res.stderr.includes(`Cannot reach Kasa at ${url}`), res.stderr);
    });

    test('no admin token anywhere → exit 1 saying where to put one', async () => {
      const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'kasa-cli-'));
      try {
        const res = await kasaCommand(['merchant', 'list'], { KASA_URL: env.KASA_URL, DATA_DIR: dataDir });
        assert.equal(res.code, 1);
        assert.match(res.stderr, /ADMIN_TOKEN/);
      } finally {
        await fs.rm(dataDir, { recursive: true, force: true });
      }
    });

    test('bin/kasa.js: the token is read from DATA_DIR/admin-token when ADMIN_TOKEN is unset', async () => {
      const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'kasa-cli-'));
      try {
        await fs.writeFile(path.join(dataDir, 'admin-token'), ADMIN_TOKEN + '\n', { mode: 0o600 });
        const res = await kasaCli(['merchant', 'list', '--json'], { KASA_URL: env.KASA_URL, DATA_DIR: dataDir });
        assert.equal(res.code, 0, res.stderr);
        assert.ok(Array.isArray(JSON.parse(res.stdout).items));
      } finally {
        await fs.rm(dataDir, { recursive: true, force: true });
      }
    });
  });
});
