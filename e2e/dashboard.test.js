'use strict';
// The web dashboard in real Chromium (issue 8/10): sign up, create an app,
// watch its debug console while a pusher-js page (served from another
// origin, with the key read off the dashboard) connects, send an event
// with the event creator and see it in both; rotate a key; a viewer added
// on the Team page never sees the secret; the usage chart shows the
// messages just sent. Screenshots of each page go to e2e/screenshots/.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const crypto = require('node:crypto');
const path = require('node:path');
const fs = require('node:fs');
const { start, until, withServerLogs } = require('./lib/server');
const { launch, browserSkip } = require('./lib/browser');

const pusherJS = fs.readFileSync(path.join(__dirname, 'node_modules/pusher-js/dist/web/pusher.min.js'));
const SHOTS = path.join(__dirname, 'screenshots');

const OWNER = { name: 'Acme Realtime', email: 'owner@acme.test', password: 'a long owner password' };
const VIEWER = { email: 'viewer@acme.test', password: 'a long viewer password' };

// site serves the page that runs pusher-js, as the tenant's own web site.
function site() {
  const srv = http.createServer((req, res) => {
    if (req.url === '/pusher.js') { res.setHeader('Content-Type', 'application/javascript'); res.end(pusherJS); return; }
    res.setHeader('Content-Type', 'text/html');
    res.end('<!doctype html><title>tenant site</title><script src="/pusher.js"></script><pre id="got"></pre>');
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve({ srv, url: `http://127.0.0.1:${srv.address().port}` })));
}

async function shot(page, name, opts = {}) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name), fullPage: !opts.viewportOnly });
}

// hooks is a webhook receiver that keeps each request's key, signature
// and body.
function hooks() {
  const got = [];
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => { got.push({ key: req.headers['x-pusher-key'], signature: req.headers['x-pusher-signature'], body }); res.end('ok'); });
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve({ srv, got, url: `http://127.0.0.1:${srv.address().port}/pusher/webhooks` })));
}

// signIn fills the sign-in form in a fresh context.
async function signIn(browser, base, who) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await ctx.newPage();
  await page.goto(base + '/dashboard/sign-in');
  await page.fill('#email', who.email);
  await page.fill('#password', who.password);
  await Promise.all([page.waitForURL('**/dashboard/apps'), page.click('button[type=submit]:has-text("Sign in")')]);
  return { ctx, page };
}

describe('dashboard in Chromium', { skip: browserSkip }, () => {
  let server, web, browser, owner, receiver;
  // Shared by the tests, in order: the app made by the first.
  const app = { id: '', key: '', secret: '' };
  let sentMessages = 0;

  before(async () => {
    // Webhooks go to a receiver on loopback, which tenant-set URLs may
    // only reach with --webhooks-allow-private.
    server = await start({ args: ['--dashboard-sign-up', '--webhooks-allow-private', '--usage-flush-interval', '1s'] });
    web = await site();
    receiver = await hooks();
    browser = await launch();
  });
  after(async () => {
    if (browser) await browser.close();
    if (web) await new Promise((r) => web.srv.close(r));
    if (receiver) await new Promise((r) => receiver.srv.close(r));
    await server.stop();
  });

  it('signs up, creates an app, and the console and a pusher-js page both see an event from the event creator', withServerLogs(async () => {
    const base = server.base;
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const page = await ctx.newPage();
    const problems = [];
    // Script errors and CSP refusals; the 400 of the bad form below is
    // expected and logged by Chromium as a failed resource.
    page.on('console', (m) => { if (m.type() === 'error' && !/status of 400/.test(m.text())) problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(e.message));
    owner = { ctx, page };

    await page.goto(base + '/dashboard/sign-up');
    await shot(page, 'sign-up.png');
    await page.fill('#name', OWNER.name);
    await page.fill('#email', OWNER.email);
    await page.fill('#password', OWNER.password);
    await Promise.all([page.waitForURL('**/dashboard/apps'), page.click('button:has-text("Create account")')]);

    await page.click('a:has-text("Create app")');
    await page.fill('#name', 'Chat');
    await Promise.all([page.waitForURL(/\/dashboard\/apps\/[^/]+\?done=created/), page.click('button:has-text("Create app")')]);
    app.id = (await page.textContent('#app-id')).trim();
    app.key = (await page.textContent('#key-0')).trim();
    await shot(page, 'dashboard-top.png', { viewportOnly: true }); // for the README: secret still blurred
    await page.click('button[data-reveal="secret-0"]');
    app.secret = (await page.textContent('#secret-0')).trim();
    assert.ok(app.id && app.key && app.secret.length >= 16, 'credentials on the app page');
    await shot(page, 'app.png');
    await page.goto(base + '/dashboard/apps');
    await shot(page, 'apps.png');

    // The console first, so it sees the page connect.
    await page.goto(`${base}/dashboard/apps/${app.id}/console`);
    await page.waitForSelector('#console[data-live="true"]');

    const site = await ctx.newPage();
    await site.goto(web.url + '/');
    await site.evaluate(({ key, port }) => {
      window.got = [];
      const p = new Pusher(key, { cluster: 'e2e', wsHost: '127.0.0.1', wsPort: port, forceTLS: false, enabledTransports: ['ws'], disableStats: true });
      window.p = p;
      const ch = p.subscribe('my-channel');
      ch.bind('pusher:subscription_succeeded', () => { window.subscribed = true; });
      ch.bind('my-event', (d) => { window.got.push(d); document.getElementById('got').textContent = JSON.stringify(window.got); });
    }, { key: app.key, port: server.port });
    await until('the pusher-js page subscribed', () => site.evaluate(() => window.subscribed === true), 20000);

    const row = (type, text = '') => page.locator(`#console-log tr[data-type="${type}"]`, { hasText: text });
    await row('connection').first().waitFor();
    await row('subscribed', 'my-channel').first().waitFor();
    await row('channel_occupied', 'my-channel').first().waitFor();

    await page.fill('#ev-channel', 'my-channel');
    await page.fill('#ev-event', 'my-event');
    await page.fill('#ev-data', '{"hello":"from the console"}');
    await page.click('button:has-text("Send event")');
    await page.waitForSelector('#creator-result.ok');
    sentMessages++;
    await row('api_message', 'from the console').first().waitFor();
    await until('the event in the pusher-js page', () => site.evaluate(() => window.got.length === 1 && window.got[0].hello === 'from the console'), 10000);

    // A bad form names its field, and nothing is sent.
    await page.fill('#ev-data', '{not json');
    await page.click('button:has-text("Send event")');
    await page.waitForSelector('#creator-result.err');
    assert.match(await page.textContent('#creator-result'), /Data must be JSON/);
    assert.equal(await page.getAttribute('#ev-data', 'aria-invalid'), 'true');
    await page.fill('#ev-data', '{"hello":"again"}');

    // Filters hide what does not match; pause holds new rows.
    await page.fill('#filter-event', 'no-such-event');
    assert.equal(await page.locator('#console-log tr:not([hidden])').count(), 0);
    await page.fill('#filter-event', '');
    await page.click('#console-pause');
    assert.equal(await page.getAttribute('#console-pause', 'aria-pressed'), 'true');
    const before = await page.locator('#console-log tr').count();
    await page.click('button:has-text("Send event")');
    await page.waitForSelector('#creator-result.ok');
    sentMessages++;
    await until('the second event in the pusher-js page', () => site.evaluate(() => window.got.length === 2), 10000);
    assert.equal(await page.locator('#console-log tr').count(), before, 'rows added while paused');
    await page.click('#console-pause');
    await row('api_message', 'again').first().waitFor();
    await shot(page, 'console.png');
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot(page, 'console-top.png', { viewportOnly: true });
    await site.close();
    assert.deepEqual(problems, [], 'no script errors (a CSP violation would show here)');
  }));

  it('rotates a key: a new key, then the old one revoked', withServerLogs(async () => {
    const { page } = owner;
    page.on('dialog', (d) => d.accept());
    await page.goto(`${server.base}/dashboard/apps/${app.id}`);
    await Promise.all([page.waitForURL(/done=key/), page.click('button:has-text("Create a new key")')]);
    assert.equal(await page.locator('#keys tbody tr').count(), 2);
    const oldRow = page.locator('#keys tbody tr', { hasText: app.key });
    await Promise.all([page.waitForURL(/done=revoked/), oldRow.locator('button:has-text("Revoke")').click()]);
    assert.match(await page.locator('#keys tbody tr', { hasText: app.key }).textContent(), /revoked/);
    const newKey = (await page.locator('#keys tbody tr', { hasText: 'active' }).locator('code').first().textContent()).trim();
    assert.notEqual(newKey, app.key);
    await shot(page, 'app-rotated.png');
    app.key = newKey;
    await page.click('button[data-reveal]');
    app.secret = (await page.locator('#keys tbody tr', { hasText: 'active' }).locator('code.secret').textContent()).trim();

    // A webhook, and a signed test webhook sent to it from its page.
    await page.goto(`${server.base}/dashboard/apps/${app.id}#webhooks`);
    await page.fill('#hook-url', receiver.url);
    await page.check('input[name="event_types"][value="channel_occupied"]');
    await Promise.all([page.waitForURL(/done=webhook/), page.click('button:has-text("Add webhook")')]);
    await page.goto(`${server.base}/dashboard/apps/${app.id}/webhooks`);
    await page.selectOption('#test-url', receiver.url);
    await Promise.all([page.waitForURL(/webhooks\/test/), page.click('button:has-text("Send test webhook")')]);
    assert.match(await page.textContent('#test-result'), /Status\s*200/);
    assert.equal(receiver.got.length, 1);
    const hook = receiver.got[0];
    assert.equal(hook.key, app.key, 'signed with the primary (new) key');
    assert.equal(hook.signature, crypto.createHmac('sha256', app.secret).update(hook.body).digest('hex'));
    assert.deepEqual(JSON.parse(hook.body).events, [{ name: 'channel_occupied', channel: 'test-webhook' }]);
    await page.goto(`${server.base}/dashboard/apps/${app.id}/webhooks`);
    await page.locator('#deliveries tbody tr', { hasText: receiver.url }).first().waitFor();
    await shot(page, 'webhooks.png');
    await page.goto(`${server.base}/dashboard/account`);
    await shot(page, 'account.png');
  }));

  it('a viewer added on the Team page never sees the secret', withServerLogs(async () => {
    const { page } = owner;
    await page.goto(server.base + '/dashboard/team');
    await page.fill('#email', VIEWER.email);
    await page.selectOption('#role', 'viewer');
    await page.fill('#password', VIEWER.password);
    await Promise.all([page.waitForURL(/done=member/), page.click('button:has-text("Add member")')]);
    await shot(page, 'team.png');

    const v = await signIn(browser, server.base, VIEWER);
    await v.page.goto(`${server.base}/dashboard/apps/${app.id}`);
    const html = await v.page.content();
    assert.ok(html.includes(app.key), 'the viewer sees the key');
    assert.ok(!html.includes(app.secret), 'the viewer is sent the secret');
    assert.ok(html.includes('YOUR_APP_SECRET'));
    assert.equal(await v.page.locator('button:has-text("Create a new key")').count(), 0);
    await shot(v.page, 'app-viewer.png');
    await v.page.goto(`${server.base}/dashboard/apps/${app.id}/console`);
    await v.page.waitForSelector('#console[data-live="true"]');
    assert.equal(await v.page.locator('#event-creator').count(), 0, 'the viewer is offered the event creator');
    assert.ok(!(await v.page.content()).includes(app.secret));
    await v.ctx.close();
  }));

  it('reads well on a phone', withServerLogs(async () => {
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const page = await ctx.newPage();
    await page.goto(server.base + '/dashboard/sign-in');
    await page.fill('#email', OWNER.email);
    await page.fill('#password', OWNER.password);
    await Promise.all([page.waitForURL('**/dashboard/apps'), page.click('button:has-text("Sign in")')]);
    await page.goto(`${server.base}/dashboard/apps/${app.id}/console`);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `the console page is ${width}px wide on a 390px screen`);
    await shot(page, 'console-phone.png');
    await ctx.close();
  }));

  it('the usage chart shows the messages just sent', withServerLogs(async () => {
    const { page } = owner;
    // Metering flushes every few seconds: reload until the hour's bar is there.
    await until('a bar in the hourly messages chart', async () => {
      await page.goto(`${server.base}/dashboard/apps/${app.id}/usage`);
      return (await page.locator('#msg-hour rect.val').count()) > 0;
    }, 60000);
    const total = await page.locator('#msg-hour .hint').textContent();
    const n = Number((/Total ([\d,]+)/.exec(total) || [])[1].replace(/,/g, ''));
    assert.ok(n >= sentMessages, `hourly total ${n}, sent ${sentMessages}`);
    await shot(page, 'usage.png');
    await page.goto(`${server.base}/dashboard/usage`);
    await page.locator('#msg-hour rect.val').first().waitFor();
  }));
});

// The console on node A of two nodes on Redis streams what happens on
// node B (no browser needed: the stream is read with fetch). Each node
// keeps its own in-memory accounts here; the apps file gives both the
// same app, owned by node A's first owner.
const { sharedRedisUp, clearPrefix } = require('./lib/redis');
const { backend, client, closeAll, subscribed } = require('./lib/clients');
const apps = require('./lib/apps');

const noRedis = !sharedRedisUp() && process.env.CI !== 'true' ? 'Redis (redis-cli, 127.0.0.1:6379) not available' : false;

// session is a cookie-keeping fetch against one node's dashboard.
function session(base) {
  const jar = new Map();
  const call = async (path, init = {}) => {
    const headers = { ...(init.headers || {}), Cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
    const res = await fetch(base + path, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [kv] = c.split(';');
      const i = kv.indexOf('=');
      jar.set(kv.slice(0, i), kv.slice(i + 1));
    }
    return res;
  };
  const token = async (path) => /name="csrf" value="([^"]+)"/.exec(await (await call(path)).text())[1];
  const post = async (path, form, headers = {}) => call(path, {
    method: 'POST', body: new URLSearchParams({ csrf: await token(path.startsWith('/dashboard/setup') ? '/dashboard/' : '/dashboard/apps'), ...form }),
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
  });
  return { call, post };
}

// stream reads a console's Server-Sent Events into entries.
async function stream(s, path) {
  const ctrl = new AbortController();
  const res = await s.call(path, { signal: ctrl.signal });
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  const entries = [];
  let ready = false;
  (async () => {
    const dec = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body) {
        buf += dec.decode(chunk, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (block.includes('event: ready')) ready = true;
          const m = /^data: (.*)$/m.exec(block);
          if (m && !block.includes('event:')) entries.push(JSON.parse(m[1]));
        }
      }
    } catch { /* aborted */ }
  })();
  await until('the stream is ready', () => ready, 10000);
  return { entries, close: () => ctrl.abort() };
}

describe('debug console across two nodes on Redis', { skip: noRedis }, () => {
  const prefix = `sbe2e:${crypto.randomBytes(6).toString('hex')}:`;
  let a, b;
  before(async () => {
    const args = ['--redis-url', 'redis://127.0.0.1:6379/0', '--redis-prefix', prefix];
    a = await start({ apps: [apps.main], args });
    b = await start({ apps: [apps.main], args });
  });
  after(async () => {
    closeAll();
    if (a) await a.stop();
    if (b) await b.stop();
    clearPrefix(6379, prefix);
  });

  it('shows node B\'s connection, subscription and API message on node A', withServerLogs(async () => {
    const s = session(a.base);
    const setup = await s.post('/dashboard/setup', { email: 'op@acme.test', password: 'a long operator password' });
    assert.equal(setup.status, 303); // signed in, on to the apps
    const live = await stream(s, `/dashboard/apps/${apps.main.id}/console/stream`);
    try {
      const seen = (pred) => live.entries.find(pred);
      // Node B learns within a watch period that the app is watched; until
      // then its activity is not emitted, so connect again until it shows.
      await until('node B\'s connection in node A\'s console', async () => {
        if (seen((e) => e.type === 'connection')) return true;
        const p = client(b, apps.main);
        await subscribed(p.subscribe('across'));
        p.disconnect();
        return false;
      }, 20000);
      const onB = seen((e) => e.type === 'connection').node;
      await until('the subscription', () => seen((e) => e.type === 'subscribed' && e.channel === 'across'), 10000);
      await backend(b, apps.main).trigger('across', 'hello', { from: 'B' });
      await until('the API message', () => seen((e) => e.type === 'api_message' && e.channel === 'across' && e.event === 'hello' && e.node === onB), 10000);
      assert.ok(!JSON.stringify(live.entries).includes(apps.main.secret), 'an entry holds the secret');
    } finally {
      live.close();
    }
  }));
});
