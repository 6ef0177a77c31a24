'use strict';
// The control plane on PostgreSQL, driven the way an operator does: the
// `switchboard migrate|tenants|apps` commands against a fresh database,
// and a server on that database whose pusher-js sockets and HTTP API calls
// must follow every change the CLI makes (key rotation, revocation,
// disabling an app, suspending a tenant) — through LISTEN/NOTIFY, since
// the CLI is another process.
//
// Needs psql and the local PostgreSQL (127.0.0.1:5432, user postgres);
// skips without them unless CI=true.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const net = require('node:net');
const { spawnSync } = require('node:child_process');
const { start, binary, freePort, until, sleep, withServerLogs } = require('./lib/server');
const { backend, client, closeAll, connected, states, errors } = require('./lib/clients');
const apps = require('./lib/apps');

const PG = { host: process.env.PGHOST || '127.0.0.1', port: process.env.PGPORT || '5432', user: process.env.PGUSER || 'postgres' };

function psql(sql) {
  return spawnSync('psql', ['-h', PG.host, '-p', PG.port, '-U', PG.user, '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-Atc', sql], { encoding: 'utf8' });
}

function postgresAvailable() {
  const r = psql('SELECT 1');
  return !r.error && r.status === 0;
}

const skip = !postgresAvailable() && process.env.CI !== 'true' ? 'PostgreSQL (psql, 127.0.0.1:5432) not available' : false;

// createDatabase makes an empty database for this file; dropDatabase
// removes it (only ever the one it made).
function createDatabase() {
  const name = 'sb_e2e_' + crypto.randomBytes(6).toString('hex');
  const r = psql(`CREATE DATABASE ${name}`);
  if (r.status !== 0) throw new Error(`CREATE DATABASE: ${r.stderr || r.error}`);
  return { name, url: `postgres://${PG.user}@${PG.host}:${PG.port}/${name}?sslmode=disable` };
}

function dropDatabase(db) {
  if (db) psql(`DROP DATABASE IF EXISTS ${db.name} WITH (FORCE)`);
}

const SECRET_KEY = crypto.randomBytes(32).toString('base64');

// cli runs the binary with the database and key in its environment, as
// an operator's shell would, and returns {code, out, err}.
async function cli(db, args, env = {}) {
  const r = spawnSync(await binary(), args, {
    encoding: 'utf8', timeout: 60000,
    env: { ...process.env, SWITCHBOARD_DATABASE_URL: db ? db.url : '', SWITCHBOARD_SECRET_KEY: SECRET_KEY, ...env },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

async function ok(db, args) {
  const r = await cli(db, args);
  assert.equal(r.code, 0, `switchboard ${args.join(' ')} exited ${r.code}: ${r.err}`);
  return r.out;
}

function field(out, name) {
  const m = new RegExp(`^${name}: (\\S+)$`, 'm').exec(out);
  assert.ok(m, `no ${name} in:\n${out}`);
  return m[1];
}

// refused waits until a pusher-js client has been refused with code and
// has given up (no reconnect on 4001/4003).
// Call watchErrors before the change that cuts the client: the cut may
// come before the CLI process has even exited.
const watchErrors = (p) => { p.seenErrors = errors(p); };

async function refused(p, code) {
  const seen = p.seenErrors || errors(p);
  await until(`pusher:error ${code}`, () => seen.codes().includes(code), 10000);
  await until('pusher-js state disconnected', () => p.connection.state === 'disconnected');
}

async function triggerStatus(sdk) {
  try {
    await sdk.trigger('news', 'ev', 'x');
    return 200;
  } catch (e) {
    return e.status;
  }
}

describe('switchboard migrate', { skip }, () => {
  let db;
  before(() => { db = createDatabase(); });
  after(() => dropDatabase(db));

  it('up, status, down one step at a time; never prompts; exit codes', async () => {
    let r = await cli(db, ['migrate', 'status']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /1\s+pending/);
    assert.match(await ok(db, ['migrate', 'up']), /applied 00001_plans_tenants\.sql/);
    // Every migration file, newest first.
    const versions = require('node:fs').readdirSync(require('node:path').join(__dirname, '..', 'migrations'))
      .filter((f) => /^\d+_.*\.sql$/.test(f)).map((f) => f.slice(0, 5)).sort().reverse();
    assert.match(await ok(db, ['migrate', 'up']), new RegExp(`up to date \\(version ${Number(versions[0])}\\)`));
    assert.doesNotMatch(await ok(db, ['migrate', 'status']), /pending/);
    for (const v of versions) assert.match(await ok(db, ['migrate', 'down']), new RegExp(`rolled back ${v}`));
    r = await cli(db, ['migrate', 'down']);
    assert.equal(r.code, 1);
    assert.match(r.err, /nothing to roll back/);
    r = await cli(null, ['migrate', 'up']);
    assert.equal(r.code, 1);
    assert.match(r.err, /--database-url/);
    r = await cli({ url: 'postgres://postgres@127.0.0.1:1/none?connect_timeout=2' }, ['migrate', 'up']);
    assert.equal(r.code, 1);
    assert.match(r.err, /cannot reach the database/);
  });
});

describe('serve with --database-url', { skip }, () => {
  let db;
  before(() => { db = createDatabase(); });
  after(() => dropDatabase(db));

  it('without SWITCHBOARD_SECRET_KEY: a clear message, exit 1, nothing listening', async () => {
    const port = await freePort();
    const r = await cli(db, ['serve', '--host', '127.0.0.1', '--port', String(port), '--migrate'], { SWITCHBOARD_SECRET_KEY: '' });
    assert.equal(r.code, 1);
    assert.match(r.err, /SWITCHBOARD_SECRET_KEY is not set/);
    const bad = await cli(db, ['serve', '--host', '127.0.0.1', '--port', String(port)], { SWITCHBOARD_SECRET_KEY: 'dG9vIHNob3J0' });
    assert.equal(bad.code, 1);
    assert.match(bad.err, /SWITCHBOARD_SECRET_KEY: decodes to 9 bytes, want 32/);
    // Nothing was migrated by the failed start either.
    assert.match(await ok(db, ['migrate', 'status']), /pending/);
    await new Promise((resolve, reject) => {
      const s = net.createServer().once('error', reject).listen(port, '127.0.0.1', () => s.close(resolve));
    });
  });
});

describe('control plane CLI against a running server', { skip }, () => {
  let db, server, tenant, app, key1, secret1;
  before(async () => {
    db = createDatabase();
    process.env.SWITCHBOARD_SECRET_KEY = SECRET_KEY;
    // --migrate applies the schema; the apps file seeds the default tenant.
    server = await start({ apps: [apps.main], args: ['--database-url', db.url, '--migrate'] });
    const out = await ok(db, ['tenants', 'create', '--name', 'Acme', '--plan', 'pro']);
    tenant = field(out, 'tenant_id');
    assert.match(field(out, 'api_token'), /^sbt_/);
    const a = await ok(db, ['apps', 'create', '--tenant', tenant, '--name', 'Chat']);
    app = field(a, 'app_id');
    key1 = field(a, 'key');
    secret1 = field(a, 'secret');
  });
  after(async () => {
    closeAll();
    if (server) await server.stop();
    delete process.env.SWITCHBOARD_SECRET_KEY;
    dropDatabase(db);
  });

  it('the apps file seeds the default tenant in the database', withServerLogs(async () => {
    const out = await ok(db, ['apps', 'list', '--tenant', 'default']);
    assert.match(out, new RegExp(`${apps.main.id}\\s+default\\s+main\\s+true\\s+${apps.main.key}`));
    await connected(client(server, apps.main));
    assert.equal(await triggerStatus(backend(server, apps.main)), 200);
  }));

  it('key rotation: old and new keys both work until the old is revoked, then only the new; its sockets get 4001', withServerLogs(async () => {
    assert.match(app, /^\d+$/, 'apps the control plane creates get numeric ids');
    const oldApp = { id: app, key: key1, secret: secret1 };
    const onOld = client(server, oldApp);
    await connected(onOld);
    assert.equal(await triggerStatus(backend(server, oldApp)), 200);

    const rot = await ok(db, ['apps', 'rotate-key', '--app', app]);
    const newApp = { id: app, key: field(rot, 'key'), secret: field(rot, 'secret') };
    await until('the new key to connect', async () => {
      const p = client(server, newApp);
      try { await connected(p, 2000); return true; } finally { p.disconnect(); }
    });
    const onNew = client(server, newApp);
    await connected(onNew);
    assert.equal(await triggerStatus(backend(server, newApp)), 200);
    assert.equal(await triggerStatus(backend(server, oldApp)), 200, 'the old key must keep working until revoked');
    assert.equal(onOld.connection.state, 'connected');

    watchErrors(onOld);
    await ok(db, ['apps', 'revoke-key', '--app', app, '--key', key1]);
    await refused(onOld, 4001);
    await until('the HTTP API to refuse the old key', async () => (await triggerStatus(backend(server, oldApp))) === 401);
    assert.equal(await triggerStatus(backend(server, newApp)), 200);
    assert.equal(onNew.connection.state, 'connected');
    // A new socket on the revoked key is refused at the handshake
    // (errors.test.js checks that code); pusher-js gives up.
    const again = client(server, oldApp);
    const seen = states(again);
    await until('pusher-js to give up on the revoked key', () => again.connection.state === 'disconnected');
    assert.ok(!seen.includes('connected'), `a revoked key connected: ${seen.join(' → ')}`);
    onNew.disconnect();
  }));

  it('disable cuts live sockets with 4003 and the HTTP API answers 403; enable lets them back', withServerLogs(async () => {
    const list = await ok(db, ['apps', 'list', '--tenant', tenant]);
    const current = { id: app, key: new RegExp(`^${app}\\s+\\S+\\s+\\S+\\s+\\S+\\s+(\\S+)`, 'm').exec(list)[1].split(',')[0] };
    const rot = await ok(db, ['apps', 'rotate-key', '--app', app, '--revoke-old']);
    const live = { id: app, key: field(rot, 'key'), secret: field(rot, 'secret') };
    assert.notEqual(live.key, current.key);
    await until('the rotated key to connect', async () => {
      const p = client(server, live);
      try { await connected(p, 2000); return true; } finally { p.disconnect(); }
    });
    const p = client(server, live);
    await connected(p);
    watchErrors(p);
    await ok(db, ['apps', 'disable', '--app', app]);
    await refused(p, 4003);
    await until('the HTTP API to answer 403', async () => (await triggerStatus(backend(server, live))) === 403);

    await ok(db, ['apps', 'enable', '--app', app]);
    await until('the app to accept sockets again', async () => {
      const q = client(server, live);
      try { await connected(q, 2000); return true; } finally { q.disconnect(); }
    });
    assert.equal(await triggerStatus(backend(server, live)), 200);
  }));

  it('suspending the tenant disables its apps (4003, 403), not the others; resuming restores them', withServerLogs(async () => {
    const a = await ok(db, ['apps', 'create', '--tenant', tenant, '--name', 'Second']);
    const second = { id: field(a, 'app_id'), key: field(a, 'key'), secret: field(a, 'secret') };
    await until('the new app to connect', async () => {
      const q = client(server, second);
      try { await connected(q, 2000); return true; } finally { q.disconnect(); }
    });
    const p = client(server, second);
    const other = client(server, apps.main);
    await Promise.all([connected(p), connected(other)]);
    watchErrors(p);
    await ok(db, ['tenants', 'suspend', '--tenant', tenant]);
    await refused(p, 4003);
    await until('the HTTP API to answer 403', async () => (await triggerStatus(backend(server, second))) === 403);
    await sleep(300);
    assert.equal(other.connection.state, 'connected', 'another tenant\'s socket was cut');
    await ok(db, ['tenants', 'resume', '--tenant', tenant]);
    await until('the HTTP API to accept again', async () => (await triggerStatus(backend(server, second))) === 200);
    other.disconnect();
  }));
});
