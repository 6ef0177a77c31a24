'use strict';
// Usage metering, quotas and billing (issue 7/10) on two nodes sharing
// Redis and PostgreSQL, with Stripe played by stripe-mock: pusher-js
// subscribers split across the nodes and the pusher server SDK publishing,
// then the hourly rollup read back through the management API to the
// message; a hard-capped plan refusing publishes (403
// max_messages_per_day), client events (pusher:error 4303) and the
// socket past max_connections (4004); a node killed between flushes
// losing only its unflushed counts, a drained one flushing them; a
// soft-capped plan serving on and
// showing overage; a Stripe invoice.payment_failed webhook making the
// tenant past_due, suspended after the grace period (4003, 403
// tenant_suspended), and invoice.paid restoring it.
//
// Needs psql and PostgreSQL (127.0.0.1:5432), Redis (127.0.0.1:6379) and
// stripe-mock (`go install github.com/stripe/stripe-mock@v0.203.0`, as
// .ci/run does); skips without them unless CI=true.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync, execFile } = require('node:child_process');
const { start, binary, freePort, until, sleep, withServerLogs } = require('./lib/server');
const { sharedRedisUp, clearPrefix } = require('./lib/redis');
const { QUERY, backend, client, closeAll, connected, subscribed, record, errors, raw, states, waitFor } = require('./lib/clients');

const PG = { host: process.env.PGHOST || '127.0.0.1', port: process.env.PGPORT || '5432', user: process.env.PGUSER || 'postgres' };
const psqlArgs = (sql) => ['-h', PG.host, '-p', PG.port, '-U', PG.user, '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-Atc', sql];
const psql = (sql) => spawnSync('psql', psqlArgs(sql), { encoding: 'utf8' });

// stripeMockBin finds stripe-mock on PATH or in $(go env GOPATH)/bin.
function stripeMockBin() {
  const which = spawnSync('which', ['stripe-mock'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) return which.stdout.trim();
  const gopath = spawnSync('go', ['env', 'GOPATH'], { encoding: 'utf8' }).stdout.trim();
  const bin = path.join(gopath, 'bin', 'stripe-mock');
  return fs.existsSync(bin) ? bin : null;
}

const pgUp = (() => { const r = psql('SELECT 1'); return !r.error && r.status === 0; })();
const mockBin = stripeMockBin();
const missing = [!pgUp && 'PostgreSQL (psql, 127.0.0.1:5432)', !sharedRedisUp() && 'Redis (127.0.0.1:6379)', !mockBin && 'stripe-mock'].filter(Boolean);
const skip = missing.length && process.env.CI !== 'true' ? `${missing.join(', ')} not available` : false;

const SECRET_KEY = crypto.randomBytes(32).toString('base64');
const WEBHOOK_SECRET = 'whsec_e2e_billing';
const GRACE = '1s';

// The plans of this suite, written into the store by --plans-file at
// start: free is hard-capped (30 messages a day, 3 connections per app),
// pro soft-capped at 20 a day and billed through Stripe.
const PLANS = [
  { id: 'unlimited', name: 'Unlimited' },
  { id: 'free', name: 'Free', max_apps: 3, max_connections: 3, max_messages_per_day: 30, max_presence_members: 100, max_payload_kb: 10 },
  {
    id: 'pro', name: 'Pro', max_apps: 20, max_connections: 100, max_messages_per_day: 20, max_presence_members: 100, max_payload_kb: 100,
    billing: { soft_cap: true, overage_cents_per_million: 80, stripe_price_id: 'price_pro', stripe_metered_price_id: 'price_messages' },
  },
];

// cli runs the binary against the database; only in before(), while no
// pusher-js client runs (spawnSync would starve their timers).
async function cli(db, args) {
  const r = spawnSync(await binary(), args, {
    encoding: 'utf8', timeout: 60000,
    env: { ...process.env, SWITCHBOARD_DATABASE_URL: db.url, SWITCHBOARD_SECRET_KEY: SECRET_KEY },
  });
  assert.equal(r.status, 0, `switchboard ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function field(out, name) {
  const m = new RegExp(`^${name}: (\\S+)$`, 'm').exec(out);
  assert.ok(m, `no ${name} in:\n${out}`);
  return m[1];
}

// tenantWithApp creates a tenant on plan with one app.
async function tenantWithApp(db, name, plan) {
  const t = await cli(db, ['tenants', 'create', '--name', name, '--plan', plan]);
  const tenant = field(t, 'tenant_id');
  const a = await cli(db, ['apps', 'create', '--tenant', tenant, '--name', name]);
  return {
    tenant, token: field(t, 'api_token'),
    app: { id: field(a, 'app_id'), key: field(a, 'key'), secret: field(a, 'secret'), name },
  };
}

// manage calls the management API with a tenant's token.
async function manage(node, t, method, p, body) {
  const res = await fetch(node.base + p, {
    method, headers: { Authorization: `Bearer ${t.token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* CSV */ }
  return { status: res.status, json, text };
}

function sum(rows) {
  const s = { messages: 0, published: 0, delivered: 0 };
  for (const r of rows) { s.messages += r.messages; s.published += r.published; s.delivered += r.delivered; }
  return s;
}

// stripeEvent posts a Stripe event signed as Stripe signs
// (Stripe-Signature: t=<unix>,v1=<HMAC-SHA256 of "t.body">).
async function stripeEvent(node, type, object) {
  const body = JSON.stringify({ id: `evt_${crypto.randomBytes(6).toString('hex')}`, object: 'event', api_version: '2023-10-16', type, data: { object } });
  const t = Math.floor(Date.now() / 1000);
  const v1 = crypto.createHmac('sha256', WEBHOOK_SECRET).update(`${t}.${body}`).digest('hex');
  const res = await fetch(node.base + '/billing/stripe/webhook', { method: 'POST', headers: { 'Stripe-Signature': `t=${t},v1=${v1}` }, body });
  return res.status;
}

// refusedWith checks that a new socket of app on node is refused with
// code: the pusher:error frame and close code on a bare socket, and a
// pusher-js client that ends disconnected without having connected.
async function refusedWith(node, app, code) {
  const r = raw(node, `/app/${app.key}?${QUERY}`);
  const f = await r.next((x) => x.event === 'pusher:error' || x.event === 'pusher:connection_established');
  assert.equal(f.event, 'pusher:error', `admitted instead of ${code}`);
  assert.equal(f.data.code, code);
  assert.equal(await r.closedWithin(), code);
  const p = client(node, app);
  const seen = states(p);
  await until('pusher-js state disconnected', () => p.connection.state === 'disconnected');
  assert.ok(!seen.includes('connected'), `pusher-js connected: ${seen.join(' → ')}`);
}

// status resolves with the HTTP status (and body) a server SDK call got.
async function outcome(promise) {
  try {
    const r = await promise;
    return { status: r.status, body: await r.text() };
  } catch (e) {
    if (e.status) return { status: e.status, body: e.body };
    throw e;
  }
}

describe('billing on two nodes (Redis + PostgreSQL + stripe-mock)', { skip }, () => {
  const prefix = `sbe2e:${crypto.randomBytes(6).toString('hex')}:`;
  let db;
  let mock;
  let nodes = [];
  let meter; let hard; let soft; let crash;
  let args;

  before(async () => {
    const name = 'sb_e2e_' + crypto.randomBytes(6).toString('hex');
    const r = psql(`CREATE DATABASE ${name}`);
    if (r.status !== 0) throw new Error(`CREATE DATABASE: ${r.stderr || r.error}`);
    db = { name, url: `postgres://${PG.user}@${PG.host}:${PG.port}/${name}?sslmode=disable` };
    await cli(db, ['migrate', 'up']);
    meter = await tenantWithApp(db, 'Meter', 'unlimited');
    hard = await tenantWithApp(db, 'Hard', 'free');
    soft = await tenantWithApp(db, 'Soft', 'pro');
    crash = await tenantWithApp(db, 'Crash', 'unlimited');

    const mockPort = await freePort();
    // Its HTTPS listener on a port of its own: by default it takes :12112,
    // which another stripe-mock (a Go test running at the same time) holds.
    mock = spawn(mockBin, ['-http-addr', `127.0.0.1:${mockPort}`, '-https-addr', '127.0.0.1:0'], { stdio: 'ignore' });
    const plans = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sb-e2e-plans-')), 'plans.json');
    fs.writeFileSync(plans, JSON.stringify(PLANS));
    args = [
      '--database-url', db.url, '--secret-key', SECRET_KEY,
      '--redis-url', 'redis://127.0.0.1:6379/0', '--redis-prefix', prefix,
      '--plans-file', plans,
      '--usage-flush-interval', '100ms', '--usage-rollup-interval', '200ms', '--quota-refresh-interval', '100ms',
      '--stripe-key', 'sk_test_e2e', '--stripe-api-base', `http://127.0.0.1:${mockPort}`,
      '--stripe-webhook-secret', WEBHOOK_SECRET, '--billing-grace-period', GRACE,
    ];
    await until('stripe-mock listening', async () => { try { await fetch(`http://127.0.0.1:${mockPort}/`); return true; } catch { return false; } });
    nodes = [await start({ args }), await start({ args })];
    for (const t of [meter, hard]) {
      const p = await manage(nodes[0], t, 'PATCH', `/api/v1/apps/${t.app.id}`, { enable_client_messages: true });
      assert.equal(p.status, 200, p.text);
    }
  });

  after(async () => {
    closeAll();
    for (const n of nodes) await n.stop();
    if (mock) { mock.kill('SIGKILL'); }
    clearPrefix(6379, prefix);
    if (db) psql(`DROP DATABASE IF EXISTS ${db.name} WITH (FORCE)`);
  });

  it('the hourly rollup equals published + delivered, to the message, across both nodes', withServerLogs(async () => {
    const [a, b] = nodes;
    const subs = [a, b, a, b].map((n) => client(n, meter.app));
    const channels = await Promise.all(subs.map((p) => subscribed(p.subscribe('private-metered'))));
    const got = channels.map((ch) => record(ch, 'ev', 'client-hi'));
    const EVENTS = 6;
    const CLIENT_EVENTS = 3;
    for (let i = 0; i < EVENTS; i++) {
      const r = await outcome(backend(nodes[i % 2], meter.app).trigger('private-metered', 'ev', { i }));
      assert.equal(r.status, 200, r.body);
    }
    for (let i = 0; i < CLIENT_EVENTS; i++) channels[0].trigger('client-hi', { i });
    // Every subscriber has every API event; the 3 others each client event.
    await Promise.all(got.map((g, i) => waitFor(g, EVENTS + (i === 0 ? 0 : CLIENT_EVENTS))));
    const published = EVENTS + CLIENT_EVENTS;
    const delivered = EVENTS * 4 + CLIENT_EVENTS * 3;
    for (const n of nodes) {
      await until(`hourly rollup on :${n.port} = ${published} + ${delivered}`, async () => {
        const r = await manage(n, meter, 'GET', `/api/v1/apps/${meter.app.id}/usage?granularity=hour`);
        const s = sum(r.json.usage);
        return s.published === published && s.delivered === delivered && s.messages === published + delivered;
      }, 15000);
    }
    // Further rollups overwrite, never add: still exact a few intervals on.
    await sleep(700);
    const again = sum((await manage(b, meter, 'GET', `/api/v1/apps/${meter.app.id}/usage`)).json.usage);
    assert.deepEqual(again, { messages: published + delivered, published, delivered });
    const csv = await manage(a, meter, 'GET', '/api/v1/usage?format=csv');
    assert.match(csv.text, new RegExp(`,${meter.app.id},${published + delivered},${published},${delivered},`));
    closeAll();
  }));

  it('a node killed between flushes loses only what it counted since its last flush; a drained node flushes the rest', withServerLogs(async () => {
    const [a] = nodes;
    const usage = async () => sum((await manage(a, crash, 'GET', `/api/v1/apps/${crash.app.id}/usage`)).json.usage);
    // A node that never flushes on its own (1 h), so everything it
    // counts is "since its last flush".
    const slow = () => start({ args: [...args, '--usage-flush-interval', '1h'] });

    const killed = await slow();
    let ch = await subscribed(client(killed, crash.app).subscribe('crash'));
    let got = record(ch, 'ev');
    for (let i = 0; i < 5; i++) assert.equal((await outcome(backend(killed, crash.app).trigger('crash', 'ev', { i }))).status, 200);
    // Two more through a normal node: published there (flushed), delivered
    // on the slow one (not flushed).
    for (let i = 0; i < 2; i++) assert.equal((await outcome(backend(a, crash.app).trigger('crash', 'ev', { i }))).status, 200);
    await waitFor(got, 7);
    closeAll();
    await killed.stop('SIGKILL');
    await until('the normal node\'s 2 publishes rolled up', async () => (await usage()).messages === 2, 15000);
    await sleep(700); // a few more flushes and rollups: nothing of the killed node's appears
    assert.deepEqual(await usage(), { messages: 2, published: 2, delivered: 0 },
      'the killed node lost exactly what it had not flushed: its 5 publishes and 7 deliveries');

    const drained = await slow();
    ch = await subscribed(client(drained, crash.app).subscribe('crash'));
    got = record(ch, 'ev');
    for (let i = 0; i < 3; i++) assert.equal((await outcome(backend(drained, crash.app).trigger('crash', 'ev', { i }))).status, 200);
    await waitFor(got, 3);
    closeAll();
    await drained.stop('SIGTERM');
    // The drain flushed once more and rolled it up: 3 published + 3 delivered.
    await until('the drained node\'s usage rolled up', async () => (await usage()).messages === 8, 15000);
    assert.deepEqual(await usage(), { messages: 8, published: 5, delivered: 3 });
  }));

  it('a hard-capped plan: 403 max_messages_per_day at the SDK, pusher:error 4303 for a client event, 4004 past max_connections', withServerLogs(async () => {
    const [a, b] = nodes;
    const p1 = client(a, hard.app);
    const p2 = client(b, hard.app);
    const chs = await Promise.all([p1, p2].map((p) => subscribed(p.subscribe('private-capped'))));
    // Each publish is 3 messages (1 + 2 deliveries); the plan allows 30 a day.
    let refused;
    for (let i = 0; i < 40 && !refused; i++) {
      const r = await outcome(backend(nodes[i % 2], hard.app).trigger('private-capped', 'ev', { i }));
      if (r.status === 403) refused = r;
      else assert.equal(r.status, 200, r.body);
      await sleep(50); // let the 100 ms refreshes see the count: the bound is one refresh + one flush
    }
    assert.ok(refused, 'no publish was refused past the daily limit');
    const body = JSON.parse(refused.body);
    assert.equal(body.code, 'max_messages_per_day');
    assert.match(body.error, /max_messages_per_day/);

    const seen = errors(p1);
    await until('pusher:error 4303 for a client event', () => {
      chs[0].trigger('client-over', {});
      return seen.codes().includes(4303);
    }, 10000);
    assert.equal(p1.connection.state, 'connected', 'a refused client event must not close the socket');

    // max_connections 3 per app, across the cluster: a third socket
    // connects, the fourth is refused with 4004.
    const p3 = client(b, hard.app);
    await connected(p3);
    await refusedWith(a, hard.app, 4004);

    const billing = await manage(a, hard, 'GET', '/api/v1/billing');
    assert.deepEqual(billing.json.notifications.map((n) => n.percent).sort(), [100, 80]);
    closeAll();
  }));

  it('a soft-capped plan keeps serving past its limit and shows the overage', withServerLogs(async () => {
    const [a, b] = nodes;
    const sub = await subscribed(client(b, soft.app).subscribe('soft'));
    const got = record(sub, 'ev');
    // 15 publishes × (1 + 1 delivery) = 30 messages against 20 a day.
    for (let i = 0; i < 15; i++) {
      const r = await outcome(backend(nodes[i % 2], soft.app).trigger('soft', 'ev', { i }));
      assert.equal(r.status, 200, r.body);
    }
    await waitFor(got, 15);
    await until('current period shows 30 messages, 10 over', async () => {
      const r = await manage(a, soft, 'GET', '/api/v1/usage/current');
      const app = r.json.apps.find((x) => x.app_id === soft.app.id);
      return app && app.messages === 30 && app.overage === 10 && app.soft_cap === true && app.message_limit === 20;
    }, 15000);
    closeAll();
  }));

  it('invoice.payment_failed → past_due → suspended after the grace period (4003, 403 tenant_suspended) → invoice.paid restores', withServerLogs(async () => {
    const [a, b] = nodes;
    // The tenant's Stripe customer, made by the nodes at start.
    const customer = await until('the Stripe customer of the soft tenant', () => accountOf(db, soft.tenant), 15000);
    assert.match(customer, /^cus_/);
    const invoice = { id: 'in_e2e', object: 'invoice', customer };

    assert.equal(await stripeEvent(a, 'invoice.payment_failed', invoice), 200);
    const state = await manage(b, soft, 'GET', '/api/v1/billing');
    assert.ok(['past_due', 'suspended'].includes(state.json.status), state.text);
    await until('suspended after the grace period', async () => (await manage(b, soft, 'GET', '/api/v1/billing')).json.status === 'suspended', 15000);

    for (const n of nodes) {
      await until(`403 tenant_suspended on :${n.port}`, async () => {
        const r = await outcome(backend(n, soft.app).trigger('soft', 'ev', {}));
        return r.status === 403 && JSON.parse(r.body).code === 'tenant_suspended';
      });
      await refusedWith(n, soft.app, 4003);
    }
    closeAll();

    assert.equal(await stripeEvent(b, 'invoice.paid', invoice), 200);
    for (const n of nodes) {
      await until(`publishing again on :${n.port}`, async () => (await outcome(backend(n, soft.app).trigger('soft', 'ev', {}))).status === 200);
      await connected(client(n, soft.app), 10000);
    }
    assert.equal((await manage(a, soft, 'GET', '/api/v1/billing')).json.status, 'active');
    closeAll();
  }));
});

// accountOf reads a tenant's Stripe customer id (async: clients are running).
function accountOf(db, tenant) {
  return new Promise((resolve) => {
    const args = ['-h', PG.host, '-p', PG.port, '-U', PG.user, '-d', db.name, '-v', 'ON_ERROR_STOP=1', '-Atc',
      `SELECT customer_id FROM billing_accounts WHERE tenant_id = '${tenant}'`];
    execFile('psql', args, { encoding: 'utf8' }, (err, out) => resolve(err ? null : out.trim() || null));
  });
}
