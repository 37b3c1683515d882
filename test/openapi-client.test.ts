// A merchant generates a client from Kasa's live /openapi.json: openapi-typescript makes the
// types, openapi-fetch the client. The client's code must type-check against them, wrong calls
// must not, and the same client must then work against Kasa listening on a port.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';
import { SEED_BODY, startKasa, type TestKasa } from './helpers/kasa.ts';
import { UUID_V4 } from './helpers/http.ts';

const REPO_ROOT = path.resolve(import.meta.dirname, '..');

/** What a merchant writes: the seed's create-invoice call, then reading it back two ways. */
const CLIENT = `
import createClient from 'openapi-fetch';
import type { paths } from './schema.ts';

export async function run(baseUrl: string, apiKey: string) {
  const client = createClient<paths>({ baseUrl, headers: { 'X-Api-Key': apiKey } });
  const created = await client.POST('/api/v1/create-invoice', { body: ${JSON.stringify(SEED_BODY)} });
  if (!created.data) throw new Error('create-invoice answered ' + created.response.status);
  const invoiceId: string = created.data.invoice_id;
  const status: 'pending' | 'success' | 'expired' | 'cancelled' = created.data.status;
  const paidAt: string | null = created.data.paid_at;
  const read = await client.GET('/api/v1/invoices/{invoice_id}', { params: { path: { invoice_id: invoiceId } } });
  const listed = await client.GET('/api/v1/invoices', { params: { query: { status, limit: 10 } } });
  const nextCursor: string | null | undefined = listed.data?.next_cursor;
  return { created: created.data, read: read.data, listed: listed.data, paidAt, nextCursor };
}
`;

/** Calls the generated types must refuse; each unused @ts-expect-error is itself an error. */
const MISUSE = `
import createClient from 'openapi-fetch';
import type { paths } from './schema.ts';

const client = createClient<paths>({ baseUrl: 'http://kasa.invalid' });
// @ts-expect-error amount is required
void client.POST('/api/v1/create-invoice', { body: { currency_code: 'UAH', customer_id: 'c', external_id: 'e' } });
// @ts-expect-error the invoice id is a path parameter that must be given
void client.GET('/api/v1/invoices/{invoice_id}', {});
// @ts-expect-error no such status
void client.GET('/api/v1/invoices', { params: { query: { status: 'paid' } } });
// @ts-expect-error no such route
void client.GET('/api/v1/invoice');
export async function fields() {
  const { data } = await client.GET('/api/v1/invoices/{invoice_id}', { params: { path: { invoice_id: 'x' } } });
  // @ts-expect-error amount is a decimal string, never a number
  const amount: number | undefined = data?.amount;
  return amount;
}
`;

describe('a client generated from /openapi.json', () => {
  let t: TestKasa;
  let apiKey: string;
  let dir: string;
  let baseUrl: string;

  before(async () => {
    t = await startKasa();
    apiKey = (await t.createMerchant()).api_key;
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kasa-openapi-client-'));
    // The client resolves openapi-fetch (and the compiler its types) from Kasa's own dependencies.
    await fs.symlink(path.join(REPO_ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    await fs.writeFile(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const address = t.app.server.address();
    assert.ok(address && typeof address === 'object');
    baseUrl = `http://127.0.0.1:${address.port}`;

    const document = (await (await fetch(`${baseUrl}/openapi.json`)).json()) as Parameters<typeof openapiTS>[0];
    await fs.writeFile(path.join(dir, 'schema.ts'), astToString(await openapiTS(document)));
    await fs.writeFile(path.join(dir, 'client.ts'), CLIENT);
    await fs.writeFile(path.join(dir, 'misuse.ts'), MISUSE);
  });
  after(async () => {
    await t.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('type-checks the seed call, the read and the list, and refuses wrong calls', async () => {
    const program = ts.createProgram([path.join(dir, 'client.ts'), path.join(dir, 'misuse.ts')], {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      strict: true,
      noUncheckedIndexedAccess: true,
      allowImportingTsExtensions: true,
      noEmit: true,
      skipLibCheck: true,
      lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
      types: [],
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file ? `${path.basename(d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : '';
      return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    assert.deepEqual(diagnostics, []);
  });

  test('the same client creates, reads and lists invoices against Kasa on a port', async () => {
    const client = (await import(pathToFileURL(path.join(dir, 'client.ts')).href)) as {
      run(
        baseUrl: string,
        apiKey: string,
      ): Promise<{ created: Record<string, unknown>; read: Record<string, unknown>; listed: { items: Record<string, unknown>[]; next_cursor: string | null } }>;
    };
    const { created, read, listed } = await client.run(baseUrl, apiKey);
    assert.match(String(created.invoice_id), UUID_V4);
    assert.equal(created.amount, '1500.00');
    assert.equal(created.merchant_usdt, '35.42');
    assert.equal(created.status, 'pending');
    assert.equal(created.created_at, '2026-02-25T12:00:00Z');
    // A read is the created invoice and what only a paid or ended invoice fills in.
    const pendingRead = { ...created, paid_amount: null, status_detail: null };
    assert.deepEqual(read, pendingRead);
    assert.deepEqual(listed.items, [pendingRead]);
    assert.equal(listed.next_cursor, null);
  });
});
