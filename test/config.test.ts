import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.ts';
import { kasaCli } from './helpers/cli.ts';
import { startKasa } from './helpers/kasa.ts';

describe('configuration (environment → validated config)', () => {
  test('defaults', () => {
    assert.deepEqual(loadConfig({}), {
      port: 3000,
      host: '0.0.0.0',
      publicUrl: 'http://localhost:3000',
      databaseUrl: null,
      databasePoolSize: 2 * os.availableParallelism() + 1,
      databasePipelines: os.availableParallelism(),
      dataDir: path.resolve('./data'),
      adminToken: null,
      secretKey: null,
      invoiceTtlMinutes: 20,
      logLevel: 'info',
      webhookAllowPrivate: false,
    });
  });

  test('every variable, set', () => {
    const config = loadConfig({
      PORT: '8080',
      HOST: '127.0.0.1',
      PUBLIC_URL: 'https://pay.example.com/',
      DATABASE_URL: 'postgresql://kasa:secret@db:5432/kasa',
      DATABASE_POOL_SIZE: '12',
      DATABASE_PIPELINES: '0',
      DATA_DIR: '/var/lib/kasa',
      ADMIN_TOKEN: 'a-long-enough-admin-token',
      SECRET_KEY: 'a-secret-key-of-at-least-32-characters',
      INVOICE_TTL_MINUTES: '30',
      LOG_LEVEL: 'debug',
      WEBHOOK_ALLOW_PRIVATE: 'true',
    });
    assert.deepEqual(config, {
      port: 8080,
      host: '127.0.0.1',
      publicUrl: 'https://pay.example.com',
      databaseUrl: 'postgresql://kasa:secret@db:5432/kasa',
      databasePoolSize: 12,
      databasePipelines: 0,
      dataDir: '/var/lib/kasa',
      adminToken: 'a-long-enough-admin-token',
      secretKey: 'a-secret-key-of-at-least-32-characters',
      invoiceTtlMinutes: 30,
      logLevel: 'debug',
      webhookAllowPrivate: true,
    });
  });

  test('SECRET_KEY shorter than 32 characters stops start-up', () => {
    assert.throws(() => loadConfig({ SECRET_KEY: 'too-short' }), /SECRET_KEY must be at least 32 characters/);
  });

  test("the demo's defaults (loopback, private webhook targets) give way to what the environment says", () => {
    const demo = { host: '127.0.0.1', webhookAllowPrivate: true };
    assert.equal(loadConfig({}, demo).host, '127.0.0.1');
    assert.equal(loadConfig({ HOST: '0.0.0.0' }, demo).host, '0.0.0.0');
    assert.equal(loadConfig({ WEBHOOK_ALLOW_PRIVATE: 'false' }, demo).webhookAllowPrivate, false);
  });

  test('PUBLIC_URL defaults to the configured port; empty values mean the default', () => {
    assert.equal(loadConfig({ PORT: '4000' }).publicUrl, 'http://localhost:4000');
    assert.deepEqual(
      loadConfig({
        PORT: '',
        LOG_LEVEL: '',
        INVOICE_TTL_MINUTES: '',
        DATABASE_POOL_SIZE: '',
        DATABASE_PIPELINES: '',
        WEBHOOK_ALLOW_PRIVATE: '',
        DATABASE_URL: '',
      }),
      loadConfig({}),
    );
    assert.equal(loadConfig({ DATABASE_URL: 'postgres://localhost/kasa' }).databaseUrl, 'postgres://localhost/kasa');
    for (const value of ['1', 'yes', 'TRUE']) assert.equal(loadConfig({ WEBHOOK_ALLOW_PRIVATE: value }).webhookAllowPrivate, true);
    for (const value of ['0', 'no', 'false']) assert.equal(loadConfig({ WEBHOOK_ALLOW_PRIVATE: value }).webhookAllowPrivate, false);
    for (const ttl of ['1', '1440']) assert.equal(loadConfig({ INVOICE_TTL_MINUTES: ttl }).invoiceTtlMinutes, Number(ttl));
  });

  const bad: [string, string][] = [
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['INVOICE_TTL_MINUTES', '0'],
    ['INVOICE_TTL_MINUTES', '1441'],
    ['INVOICE_TTL_MINUTES', 'twenty'],
    ['LOG_LEVEL', 'loud'],
    ['DATABASE_POOL_SIZE', '0'],
    ['DATABASE_POOL_SIZE', 'many'],
    ['DATABASE_PIPELINES', '65'],
    ['DATABASE_PIPELINES', '-1'],
    ['DATABASE_URL', 'mysql://x'],
    ['DATABASE_URL', 'localhost:5432'],
    ['PUBLIC_URL', 'ftp://x'],
    ['PUBLIC_URL', 'not a url'],
    ['WEBHOOK_ALLOW_PRIVATE', 'maybe'],
    ['ADMIN_TOKEN', 'short'],
  ];
  for (const [name, value] of bad) {
    test(`${name}=${value} → ConfigError naming ${name}`, () => {
      assert.throws(
        () => loadConfig({ [name]: value }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError, `a ConfigError, got ${String(error)}`);
          assert.ok(error.message.includes(name), `"${error.message}" names ${name}`);
          return true;
        },
      );
    });
  }

  test('a bad value stops `kasa serve` before it starts, with the message', async () => {
    // A data directory that must stay untouched: start-up stops before anything is written.
    const dataDir = path.join(os.tmpdir(), `kasa-config-${process.pid}-never-created`);
    const res = await kasaCli(['serve'], { PORT: 'abc', DATA_DIR: dataDir });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /PORT must be a whole number/);
    const ttl = await kasaCli(['serve'], { INVOICE_TTL_MINUTES: '0', DATA_DIR: dataDir });
    assert.equal(ttl.code, 1);
    assert.match(ttl.stderr, /INVOICE_TTL_MINUTES/);
    await assert.rejects(fs.access(dataDir), 'no data directory was created');
  });

  test('INVOICE_TTL_MINUTES and PUBLIC_URL reach the invoices; the admin setting overrides the TTL', async () => {
    const config = loadConfig({ INVOICE_TTL_MINUTES: '35', PUBLIC_URL: 'https://checkout.example.com/' });
    const t = await startKasa({ invoiceTtlMinutes: config.invoiceTtlMinutes, publicUrl: config.publicUrl });
    try {
      const { api_key } = await t.createMerchant();
      assert.equal((await t.admin('GET', '/admin/v1/settings')).json().invoice_ttl_minutes, 35);
      const invoice = (await t.createInvoice(api_key, { external_id: 'ttl-1' })).json();
      assert.equal(Date.parse(invoice.expires_at) - Date.parse(invoice.created_at), 35 * 60_000);
      assert.equal(invoice.payment_link, `https://checkout.example.com/pay/${invoice.invoice_id}`);
      await t.admin('PATCH', '/admin/v1/settings', { invoice_ttl_minutes: 5 });
      const overridden = (await t.createInvoice(api_key, { external_id: 'ttl-2' })).json();
      assert.equal(Date.parse(overridden.expires_at) - Date.parse(overridden.created_at), 5 * 60_000);
    } finally {
      await t.close();
    }
  });
});
