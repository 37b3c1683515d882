// The customer's side of the payment page, as a browser without JavaScript does it: the page's
// CSRF cookie and token, "I have paid", and multipart forms (the receipt upload).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { TestKasa } from './kasa.ts';

/** The page's CSRF cookie and token, as a browser holds them after one view. */
export async function pageForm(t: TestKasa, invoiceId: string) {
  const page = await t.inject({ method: 'GET', url: `/pay/${invoiceId}` });
  const cookie = ([page.headers['set-cookie'] ?? []].flat().find((c) => c.startsWith('kasa_csrf=')) ?? '').split(';')[0] as string;
  const token = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1];
  return { page, cookie, token };
}

/** "I have paid", the page's own form; the answer must be the redirect back to the page. */
export async function pressPaid(t: TestKasa, invoiceId: string): Promise<void> {
  const { cookie, token } = await pageForm(t, invoiceId);
  assert.ok(token, 'the page has the "I have paid" form');
  const res = await t.inject({
    method: 'POST',
    url: `/pay/${invoiceId}/paid`,
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
    payload: `_csrf=${encodeURIComponent(token)}`,
  });
  assert.equal(res.statusCode, 303, res.body);
}

export interface Part {
  name: string;
  value: string | Buffer;
  filename?: string;
  type?: string;
}

/** A multipart/form-data body, as a browser's form sends it. */
export function multipart(parts: Part[]): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----kasa${randomUUID().replaceAll('-', '')}`;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disposition = `form-data; name="${p.name}"${p.filename ? `; filename="${p.filename}"` : ''}`;
    const head = `--${boundary}\r\nContent-Disposition: ${disposition}\r\n${p.filename ? `Content-Type: ${p.type ?? 'application/octet-stream'}\r\n` : ''}\r\n`;
    chunks.push(Buffer.from(head), Buffer.isBuffer(p.value) ? p.value : Buffer.from(p.value), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}
