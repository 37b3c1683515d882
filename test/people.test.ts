// People, sign-in and sessions through the real HTTP layer: users created by the admin API,
// set-password links with TOTP enrollment, sign-in with the code, session fixation, CSRF,
// lockout counted exactly under parallel wrong passwords, sessions shared by instances and
// ended everywhere, idle timeouts, and the audit log.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { ACCOUNT_FAILURES_MAX, IP_FAILURES_MAX, SIGN_IN_WINDOW_MS } from '../src/people/sign-in.ts';
import { purgePeople } from '../src/workers/people-purge.ts';
import { totpCode } from '../src/people/secrets.ts';
import { CabinetBrowser, csrfOf, injectTransport, setPassword } from './helpers/cabinet.ts';
import { anotherInstance, startKasa, type TestKasa } from './helpers/kasa.ts';

const PASSWORD = 'plum-orchard-71-lantern';
const MINUTE_MS = 60_000;

describe('people: users, sign-in, sessions, audit', () => {
  let t: TestKasa;
  let second: FastifyInstance;
  let ipCounter = 0;
  /** Each test signs in from its own address, so one test's failures never limit another's. */
  const browser = (app: FastifyInstance = t.app, ip?: string) => new CabinetBrowser(injectTransport(app, ip ?? `10.0.0.${++ipCounter}`));

  before(async () => {
    t = await startKasa();
    second = await anotherInstance(t);
  });
  after(async () => {
    await second.close();
    await t.close();
  });

  async function createUser(body: Record<string, unknown>) {
    const res = await t.admin('POST', '/admin/v1/users', body);
    assert.equal(res.statusCode, 201, res.body);
    return res.json() as { user: { user_id: string; email: string; totp_enabled: boolean }; set_password_url: string; set_password_expires_at: string };
  }

  /** A user with a password (and TOTP where the role requires it); returns their TOTP secret. */
  async function person(body: Record<string, unknown>) {
    const created = await createUser(body);
    const { secret, page } = await setPassword(browser(), created.set_password_url, PASSWORD, t.clock.now());
    assert.equal(page.status, 200, page.body);
    // The next code belongs to a later step than the one the enrollment used.
    t.clock.advance(30_000);
    return { ...created, secret };
  }

  test('POST /admin/v1/users answers a one-time link valid 24 h; emails are unique whatever their case; owners are checked', async () => {
    const created = await createUser({ email: 'Olena@Example.com', role: 'operator', name: 'Olena' });
    assert.equal(created.user.email, 'Olena@Example.com');
    assert.match(created.set_password_url, /^https:\/\/pay\.kasa\.test\/set-password\/[\w-]{43}$/);
    assert.equal(Date.parse(created.set_password_expires_at) - t.clock.now().getTime(), 24 * 60 * MINUTE_MS);

    const again = await t.admin('POST', '/admin/v1/users', { email: 'olena@EXAMPLE.com', role: 'operator' });
    assert.equal(again.statusCode, 409);
    assert.equal(again.json().error.code, 'USER_EMAIL_TAKEN');

    const merchant = await t.createMerchant();
    const cases: [Record<string, unknown>, number, string][] = [
      [{ email: 'm1@example.com', role: 'merchant' }, 400, 'USER_OWNER_INVALID'],
      [{ email: 'm2@example.com', role: 'merchant', merchant_id: merchant.merchant_id }, 400, 'USER_OWNER_INVALID'],
      [{ email: 'm3@example.com', role: 'merchant', merchant_id: '00000000-0000-4000-8000-000000000000', merchant_role: 'owner' }, 404, 'MERCHANT_NOT_FOUND'],
      [{ email: 't1@example.com', role: 'trader', trader_id: '00000000-0000-4000-8000-000000000000' }, 404, 'TRADER_NOT_FOUND'],
      [{ email: 'o1@example.com', role: 'operator', merchant_id: merchant.merchant_id }, 400, 'USER_OWNER_INVALID'],
      [{ email: 'not-an-email', role: 'operator' }, 400, 'USER_OWNER_INVALID'],
    ];
    for (const [body, status, code] of cases) {
      const res = await t.admin('POST', '/admin/v1/users', body);
      assert.equal(res.statusCode, status, `${JSON.stringify(body)}: ${res.body}`);
      assert.equal(res.json().error.code, code);
    }
    const invalid = await t.admin('POST', '/admin/v1/users', { email: 'x@example.com', role: 'boss' });
    assert.equal(invalid.statusCode, 422);
    const noToken = await t.inject({ method: 'POST', url: '/admin/v1/users', payload: { email: 'y@example.com', role: 'operator' } });
    assert.equal(noToken.statusCode, 401);
    const listed = (await t.admin('GET', '/admin/v1/users')).json() as { items: { email: string }[] };
    assert.deepEqual(
      listed.items.map((u) => u.email),
      ['Olena@Example.com'],
      'refused creates left nothing behind',
    );
  });

  test('the set-password link: weak passwords refused, TOTP proven by a code for operators and traders, used once, dead after 24 h', async () => {
    const created = await createUser({ email: 'ivan@example.com', role: 'operator' });
    const path = new URL(created.set_password_url).pathname;
    const b = browser();
    const form = await b.get(path);
    assert.equal(form.status, 200);
    const secret = /name="totp_secret" value="([A-Z2-7]+)"/.exec(form.body)![1]!;
    assert.match(form.body, /otpauth:\/\/totp\/Kasa:ivan%40example\.com\?/);
    for (const [fields, message] of [
      [{ password: 'short-pw', confirmation: 'short-pw' }, 'at least 10'],
      [{ password: 'password123', confirmation: 'password123' }, 'too common'],
      [{ password: PASSWORD, confirmation: PASSWORD + 'x' }, 'differ'],
      [{ password: PASSWORD, confirmation: PASSWORD, code: '000000' }, 'does not match'],
      [{ password: PASSWORD, confirmation: PASSWORD }, 'does not match'],
    ] as const) {
      const res = await b.post(`${path}?lang=en`, { ...fields, totp_secret: secret });
      assert.equal(res.status, 400, JSON.stringify(fields));
      assert.ok(res.body.includes(message), `${JSON.stringify(fields)} → ${message}`);
    }
    const user = (await t.admin('GET', `/admin/v1/users/${created.user.user_id}`)).json();
    assert.equal(user.has_password, false, 'nothing was set by the refused forms');

    const done = await b.post(path, { password: PASSWORD, confirmation: PASSWORD, totp_secret: secret, code: totpCode(secret, t.clock.now()) });
    assert.equal(done.status, 200, done.body);
    const codes = [...done.body.matchAll(/<li><code>([a-z0-9-]+)<\/code><\/li>/g)].map((m) => m[1]!);
    assert.equal(codes.length, 10);
    const enrolled = (await t.admin('GET', `/admin/v1/users/${created.user.user_id}`)).json();
    assert.deepEqual([enrolled.has_password, enrolled.totp_enabled], [true, true]);

    assert.equal((await browser().get(path)).status, 404, 'the link works once');
    const later = await createUser({ email: 'late@example.com', role: 'operator' });
    t.clock.advance(24 * 60 * MINUTE_MS);
    assert.equal((await browser().get(new URL(later.set_password_url).pathname)).status, 404, 'expired after 24 h');
    assert.equal((await browser().get('/set-password/not-a-real-token')).status, 404);

    // The database keeps neither the TOTP secret nor a recovery code in plain text.
    const row = await t.database.db
      .selectFrom('users')
      .select(['password_hash', 'totp_secret'])
      .where('id', '=', created.user.user_id)
      .executeTakeFirstOrThrow();
    assert.match(row.password_hash!, /^scrypt\$/);
    assert.ok(!row.totp_secret!.includes(secret));
    const stored = await t.database.db.selectFrom('user_recovery_codes').select('code_hash').where('user_id', '=', created.user.user_id).execute();
    assert.equal(stored.length, 10);
    assert.ok(stored.every((r) => r.code_hash.length === 32));
  });

  test('sign-in asks operators for the code, sends each person to their cabinet, and refuses a code twice', async () => {
    const op = await person({ email: 'op@example.com', role: 'operator' });
    const b = browser();
    await b.get('/login?lang=en');
    assert.match(b.last!.body, /<label for="email">Email<\/label>/);
    assert.match(b.last!.body, /<label for="password">Password<\/label>/);
    assert.match(b.last!.body, />Sign in<\/button>/);
    const first = await b.post('/login', { email: 'OP@example.com', password: PASSWORD });
    assert.equal(first.status, 303);
    assert.equal(first.location, '/login/code');
    const codePage = await b.get('/login/code');
    assert.match(codePage.body, /<label for="code">6-digit code<\/label>/);
    // The half-signed-in session opens no cabinet.
    assert.equal((await b.get('/admin')).location, '/login');
    await b.get('/login/code');
    const code = totpCode(op.secret, t.clock.now());
    const done = await b.post('/login/code', { code });
    assert.equal(done.status, 303);
    assert.equal(done.location, '/admin');
    const console_ = await b.get('/admin');
    assert.equal(console_.status, 200);
    assert.match(console_.body, /op@example\.com/);

    // The same code in another browser: refused (a code works once).
    const other = browser();
    await other.get('/login');
    await other.post('/login', { email: 'op@example.com', password: PASSWORD });
    await other.get('/login/code');
    assert.equal((await other.post('/login/code', { code })).status, 401);

    // Ukrainian by default, and the chosen language carried to the next page by a cookie.
    const uk = browser();
    assert.match((await uk.get('/login')).body, /<html lang="uk">[^]*>Увійти<\/button>/);
    await uk.get('/login?lang=en');
    assert.match((await uk.get('/login')).body, /<html lang="en">/);

    // A trader's session opens /trader, and not the operator console or the merchant cabinet.
    const trader = await t.kasa.traders.create({ name: 'T' });
    const tr = await person({ email: 'trader@example.com', role: 'trader', trader_id: trader.trader.id });
    const tb = browser();
    assert.equal((await tb.signIn('trader@example.com', PASSWORD, tr.secret, t.clock.now())).location, '/trader');
    assert.equal((await tb.get('/admin')).status, 403);
    assert.equal((await tb.get('/merchant')).status, 403);
    assert.equal((await browser().get('/merchant')).location, '/login', 'signed out: to /login');
  });

  test('a recovery code signs in once', async () => {
    const created = await createUser({ email: 'rec@example.com', role: 'operator' });
    const { page } = await setPassword(browser(), created.set_password_url, PASSWORD, t.clock.now());
    const recovery = /<li><code>([a-z0-9-]+)<\/code><\/li>/.exec(page.body)![1]!;
    for (const expected of [303, 401]) {
      const b = browser();
      await b.get('/login');
      await b.post('/login', { email: 'rec@example.com', password: PASSWORD });
      await b.get('/login/code');
      assert.equal((await b.post('/login/code', { code: recovery.toUpperCase() })).status, expected);
    }
  });

  test('session fixation: signing in always makes a new session; a planted or earlier token signs no one in', async () => {
    const merchant = await t.createMerchant();
    await person({ email: 'owner@example.com', role: 'merchant', merchant_id: merchant.merchant_id, merchant_role: 'owner' });
    const b = browser();
    b.cookies.set('kasa_session', 'planted-by-someone-else-0123456789abcdefghijkl');
    await b.get('/login');
    const signedIn = await b.post('/login', { email: 'owner@example.com', password: PASSWORD });
    assert.equal(signedIn.location, '/merchant');
    const first = b.session!;
    assert.notEqual(first, 'planted-by-someone-else-0123456789abcdefghijkl');
    const cookie = String(signedIn.headers['set-cookie']);
    assert.match(cookie, /kasa_session=[\w-]+; Path=\/; HttpOnly; Secure; SameSite=Lax/);

    // Signing in again in the same browser: another new token, and the earlier one is worthless.
    await b.get('/merchant');
    const secondSignIn = await b.post('/login', { email: 'owner@example.com', password: PASSWORD });
    assert.equal(secondSignIn.status, 303);
    assert.notEqual(b.session, first);
    const planted = browser();
    planted.cookies.set('kasa_session', 'planted-by-someone-else-0123456789abcdefghijkl');
    assert.equal((await planted.get('/merchant')).location, '/login');

    // The token is stored only as its hash.
    const rows = await t.database.db.selectFrom('sessions').select('token_hash').execute();
    assert.ok(rows.every((r) => r.token_hash.length === 32 && !r.token_hash.toString('utf8').includes(b.session!)));
  });

  test('CSRF: a form without a token, or with a token of another browser or session, is refused and changes nothing', async () => {
    const merchant = await t.createMerchant();
    await person({ email: 'csrf@example.com', role: 'merchant', merchant_id: merchant.merchant_id, merchant_role: 'viewer' });
    const b = browser();
    await b.get('/login');
    const missing = await b.post('/login', { email: 'csrf@example.com', password: PASSWORD }, { csrf: null });
    assert.equal(missing.status, 403);
    assert.equal(b.session, undefined);

    const foreign = browser();
    await foreign.get('/login');
    const foreignToken = csrfOf(foreign.last!.body)!;
    const forged = await b.post('/login', { email: 'csrf@example.com', password: PASSWORD }, { csrf: foreignToken });
    assert.equal(forged.status, 403, 'a token made for another browser');
    assert.equal(b.session, undefined);

    // Signed in: the sign-out form needs this session's token; the signed-out page's token, or
    // another user's, is refused, and the session lives on.
    await b.get('/login');
    const signedOutToken = csrfOf(b.last!.body)!;
    await b.post('/login', { email: 'csrf@example.com', password: PASSWORD });
    assert.equal((await b.get('/merchant')).status, 200);
    const other = browser();
    await other.signIn('csrf@example.com', PASSWORD);
    await other.get('/merchant');
    const otherSessionToken = csrfOf(other.last!.body)!;
    for (const token of [signedOutToken, otherSessionToken, 'garbage']) {
      const res = await b.post('/logout', {}, { csrf: token });
      assert.equal(res.status, 403, token);
    }
    assert.equal((await b.get('/merchant')).status, 200, 'still signed in');
    const out = await b.post('/logout', {});
    assert.equal(out.status, 200);
    assert.equal((await b.get('/merchant')).location, '/login');
  });

  test(`lockout: of 50 parallel wrong passwords exactly ${ACCOUNT_FAILURES_MAX} are checked; the same for an email no one has`, async () => {
    const target = await person({ email: 'target@example.com', role: 'operator' });
    for (const email of ['target@example.com', 'nobody-has-this@example.com']) {
      const outcomes = await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          // Each from its own address: only the account's limit applies.
          const b = browser(t.app, `10.50.${email.length}.${i}`);
          await b.get('/login?lang=en');
          return b.post('/login', { email, password: `wrong-password-${i}` });
        }),
      );
      const statuses = outcomes.map((o) => o.status);
      assert.equal(statuses.filter((s) => s === 401).length, ACCOUNT_FAILURES_MAX, `${email}: ${statuses.join(',')}`);
      assert.equal(statuses.filter((s) => s === 429).length, 50 - ACCOUNT_FAILURES_MAX);
      const locked = outcomes.find((o) => o.status === 429)!;
      assert.match(locked.body, /Too many attempts\. Wait 15 min/);
      assert.ok(Number(locked.headers['retry-after']) > 0);
      assert.ok(outcomes.filter((o) => o.status === 401).every((o) => o.body.includes('The email or password is wrong.')));
    }
    // The right password waits too, until the window has passed.
    const b = browser();
    assert.equal((await b.signIn('target@example.com', PASSWORD, target.secret, t.clock.now())).status, 429);
    t.clock.advance(SIGN_IN_WINDOW_MS);
    const again = await b.signIn('target@example.com', PASSWORD, target.secret, t.clock.now());
    assert.equal(again.location, '/admin', 'the password is accepted again after the wait');
  });

  test(`lockout per address: ${IP_FAILURES_MAX} wrong passwords for different emails, then the address waits`, async () => {
    const ip = '10.99.0.1';
    const statuses: number[] = [];
    for (let i = 0; i < IP_FAILURES_MAX + 2; i++) {
      const b = browser(t.app, ip);
      await b.get('/login');
      statuses.push((await b.post('/login', { email: `spray-${i}@example.com`, password: 'wrong-password-x' })).status);
    }
    assert.deepEqual(statuses, [...Array(IP_FAILURES_MAX).fill(401), 429, 429]);
  });

  test('sessions live in the database: valid on a second instance, ended everywhere by one sign-out, idle ones end', async () => {
    const trader = await t.kasa.traders.create({ name: 'Idle' });
    const tr = await person({ email: 'phone@example.com', role: 'trader', trader_id: trader.trader.id });
    const phone = browser();
    await phone.signIn('phone@example.com', PASSWORD, tr.secret, t.clock.now());
    t.clock.advance(30_000);
    const laptop = browser();
    await laptop.signIn('phone@example.com', PASSWORD, tr.secret, t.clock.now());
    // The phone's cookie on the other instance.
    const onSecond = new CabinetBrowser(injectTransport(second));
    for (const [k, v] of phone.cookies) onSecond.cookies.set(k, v);
    assert.equal((await onSecond.get('/trader')).status, 200);

    // Sign out everywhere from the laptop, on the second instance: the phone is out on both.
    const laptopOnSecond = new CabinetBrowser(injectTransport(second));
    for (const [k, v] of laptop.cookies) laptopOnSecond.cookies.set(k, v);
    await laptopOnSecond.get('/logout');
    assert.equal((await laptopOnSecond.post('/logout/everywhere', {})).status, 200);
    assert.equal((await phone.get('/trader')).location, '/login');
    assert.equal((await onSecond.get('/trader')).location, '/login');
    assert.equal((await laptop.get('/trader')).location, '/login');

    // Idle: 30 minutes for a trader. Use within them keeps the session; none for 30 ends it.
    t.clock.advance(30_000);
    await phone.signIn('phone@example.com', PASSWORD, tr.secret, t.clock.now());
    t.clock.advance(29 * MINUTE_MS);
    assert.equal((await phone.get('/trader')).status, 200);
    t.clock.advance(29 * MINUTE_MS);
    assert.equal((await phone.get('/trader')).status, 200, 'the last use counted');
    t.clock.advance(30 * MINUTE_MS);
    assert.equal((await phone.get('/trader')).location, '/login');

    // A merchant's session stays 12 h idle.
    const merchant = await t.createMerchant();
    await person({ email: 'desk@example.com', role: 'merchant', merchant_id: merchant.merchant_id, merchant_role: 'developer' });
    const desk = browser();
    await desk.signIn('desk@example.com', PASSWORD);
    t.clock.advance(11 * 60 * MINUTE_MS);
    assert.equal((await desk.get('/merchant')).status, 200);
    t.clock.advance(12 * 60 * MINUTE_MS);
    assert.equal((await desk.get('/merchant')).location, '/login');

    // The purge deletes every session past its end and keeps none that is still open.
    const live = browser();
    await live.signIn('desk@example.com', PASSWORD);
    const ended = await t.database.db.selectFrom('sessions').select('token_hash').where('expires_at', '<=', t.clock.now()).execute();
    assert.ok(ended.length > 0, 'sessions ended above are still stored');
    const purged = await purgePeople(t.kasa);
    assert.equal(purged.sessions, ended.length);
    assert.equal((await t.database.db.selectFrom('sessions').select('token_hash').where('expires_at', '<=', t.clock.now()).execute()).length, 0);
    assert.equal((await live.get('/merchant')).status, 200, 'an open session survives the purge');
  });

  test('pages: strict CSP, no-store, frame-ancestors none, escaped names, small', async () => {
    const created = await createUser({ email: 'x-ss@example.com', role: 'operator', name: '<script>alert(1)</script>"' });
    const b = browser();
    const { secret } = await setPassword(b, created.set_password_url, PASSWORD, t.clock.now());
    t.clock.advance(30_000);
    await b.signIn('x-ss@example.com', PASSWORD, secret, t.clock.now());
    const page = await b.get('/admin');
    assert.equal(page.status, 200);
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(page.headers['cache-control'], 'no-store');
    assert.equal(page.headers['x-frame-options'], 'DENY');
    assert.ok(!page.body.includes('<script>alert'), 'the name is escaped');
    assert.ok(page.body.includes('&lt;script&gt;alert(1)&lt;/script&gt;&quot;'));
    assert.ok(!/<script>|style="|<style/.test(page.body), 'nothing inline');
    assert.ok(Buffer.byteLength(page.body) < 100 * 1024);
    const css = /href="(\/cabinet\/assets\/cabinet\.css\?v=\w+)"/.exec(page.body)![1]!;
    const js = /src="(\/cabinet\/assets\/cabinet\.js\?v=\w+)"/.exec(page.body)![1]!;
    const assets = await Promise.all([css, js].map((url) => t.inject({ method: 'GET', url })));
    assert.deepEqual(
      assets.map((a) => a.statusCode),
      [200, 200],
    );
    assert.ok(Buffer.byteLength(page.body) + assets.reduce((n, a) => n + a.rawPayload.length, 0) < 100 * 1024, 'page with its CSS and JS under 100 KB');
  });

  test('the audit log: every user change and sign-in, with who and where, never a secret; a merchant sees its own rows', async () => {
    const merchant = await t.createMerchant({ name: 'Audited' });
    const created = await createUser({ email: 'aud@example.com', role: 'merchant', merchant_id: merchant.merchant_id, merchant_role: 'owner' });
    const b = browser(t.app, '10.77.0.1');
    await setPassword(b, created.set_password_url, PASSWORD, t.clock.now());
    await b.signIn('aud@example.com', PASSWORD);
    const res = await t.admin('GET', `/admin/v1/audit?merchant_id=${merchant.merchant_id}`);
    assert.equal(res.statusCode, 200);
    const rows = res.json().items as {
      action: string;
      actor_kind: string;
      actor_email: string | null;
      ip: string | null;
      merchant_id: string;
      after: unknown;
    }[];
    assert.deepEqual(
      rows.map((r) => [r.action, r.actor_kind]),
      [
        ['session.sign_in', 'user'],
        ['user.set_password', 'user'],
        ['user.create', 'admin_token'],
      ],
    );
    assert.ok(rows.every((r) => r.merchant_id === merchant.merchant_id));
    assert.equal(rows[0]!.ip, '10.77.0.1');
    assert.equal(rows[0]!.actor_email, 'aud@example.com');
    assert.deepEqual(rows[2]!.after, {
      email: 'aud@example.com',
      role: 'merchant',
      merchant_id: merchant.merchant_id,
      merchant_role: 'owner',
      trader_id: null,
    });
    const all = JSON.stringify((await t.admin('GET', '/admin/v1/audit?limit=100')).json());
    assert.ok(!all.includes(PASSWORD), 'no password in the log');
    assert.ok(!all.includes(new URL(created.set_password_url).pathname.split('/').pop()!), 'no link token in the log');

    // What the domain records: a secret-named field is replaced, whatever the caller passes.
    await t.database.db.transaction().execute((trx) =>
      t.kasa.audit.record(trx, {
        actor: { kind: 'system' },
        ip: null,
        action: 'merchant.update',
        target: `merchant:${merchant.merchant_id}`,
        merchantId: merchant.merchant_id,
        before: { webhook_secret: 'whsec_old', name: 'A' },
        after: { webhook_secret: 'whsec_new', name: 'B', api_key: 'kasa_live_x' },
      }),
    );
    const latest = (await t.admin('GET', `/admin/v1/audit?merchant_id=${merchant.merchant_id}&limit=1`)).json().items[0];
    assert.deepEqual(
      [latest.before, latest.after],
      [
        { webhook_secret: '[redacted]', name: 'A' },
        { webhook_secret: '[redacted]', name: 'B', api_key: '[redacted]' },
      ],
    );
    const page = await t.kasa.audit.list({ merchantId: merchant.merchant_id }, { limit: 2 });
    assert.equal(page.items.length, 2);
    const rest = await t.kasa.audit.list({ merchantId: merchant.merchant_id }, { limit: 10, cursor: page.next_cursor! });
    assert.equal(rest.items.length, 2);
    assert.equal(rest.next_cursor, null);
  });
});
