// create-invoice's 422s against real Pydantic 2: every body of the fixture (generated once by
// test/fixtures/pydantic-422.py from a Pydantic model mirroring src/invoices/schema.ts) is posted,
// and the answer must be FastAPI's, issue for issue, key order included.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { startKasa, type TestKasa } from './helpers/kasa.ts';

interface Fixture {
  pydantic: string;
  decisions: { probe: string; pydantic: string; kasa: string }[];
  cases: { name: string; body: unknown; detail: Record<string, unknown>[] | null }[];
}

const fixture = JSON.parse(readFileSync(new URL('./fixtures/pydantic-422.json', import.meta.url), 'utf8')) as Fixture;

describe(`create-invoice answers as FastAPI over Pydantic ${fixture.pydantic}`, () => {
  let t: TestKasa;
  let apiKey: string;

  before(async () => {
    t = await startKasa();
    apiKey = (await t.createMerchant()).api_key;
    await t.admin('PATCH', '/admin/v1/settings', { customer_invoices_per_minute: 100000, customer_max_pending: 100000 });
  });
  after(() => t.close());

  test('the fixture probes the documented decisions and both outcomes', () => {
    assert.ok(fixture.cases.length >= 36, `${fixture.cases.length} cases`);
    assert.ok(fixture.cases.some((c) => c.detail === null) && fixture.cases.some((c) => c.detail !== null));
    for (const decision of ['1', '2', '3'])
      assert.ok(
        fixture.cases.some((c) => c.name.includes(`(decision ${decision})`)),
        `decision ${decision}`,
      );
  });

  for (const { name, body, detail } of fixture.cases) {
    test(`${name} → ${detail === null ? 'accepted' : detail.map((issue) => issue.type).join(', ')}`, async () => {
      const res = await t.inject({
        method: 'POST',
        url: '/api/v1/create-invoice',
        headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
        payload: JSON.stringify(body),
      });
      if (detail === null) {
        assert.equal(res.statusCode, 200, res.body);
        return;
      }
      assert.equal(res.statusCode, 422, res.body);
      const answer = res.json() as { detail: Record<string, unknown>[] };
      assert.deepEqual(answer, { detail });
      assert.deepEqual(
        answer.detail.map((issue) => Object.keys(issue)),
        detail.map((issue) => Object.keys(issue)),
      );
    });
  }
});
