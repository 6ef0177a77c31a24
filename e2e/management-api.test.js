'use strict';
// The /api/v1 management API, as a tenant's own tooling drives it: a
// tenant (made with the operator CLI on PostgreSQL) creates an app over
// the API, connects pusher-js with its key and publishes with the official
// server SDK; rotating, revoking and disabling through the API reach the
// live sockets (4001 / 4003) and the HTTP API (401 / 403) within seconds.
//
// Needs psql and the local PostgreSQL (127.0.0.1:5432, user postgres);
// skips without them unless CI=true.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { spawnSync } = require('node:child_process');
const { start, binary, until, withServerLogs } = require('./lib/server');
const { backend, client, closeAll, connected, errors } = require('./lib/clients');

const PG = { host: process.env.PGHOST || '127.0.0.1', port: process.env.PGPORT || '5432', user: process.env.PGUSER || 'postgres' };
const psql = (sql) => spawnSync('psql', ['-h', PG.host, '-p', PG.port, '-U', PG.user, '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-Atc', sql], { encoding: 'utf8' });
const pgUp = (() => { const r = psql('SELECT 1'); return !r.error && r.status === 0; })();
const skip = !pgUp && process.env.CI !== 'true' ? 'PostgreSQL (psql, 127.0.0.1:5432) not available' : false;
const SECRET_KEY = crypto.randomBytes(32).toString('base64');

describe('management API', { skip }, () => {
  let db, server, token;
  const api = async (method, path, body) => {
    const res = await fetch(`http://127.0.0.1:${server.port}/api/v1${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: text && res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : text };
  };
  const triggerStatus = async (app) => {
    try { await backend(server, app).trigger('news', 'ev', 'x'); return 200; } catch (e) { return e.status; }
  };
  // watch starts recording a client's pusher:error codes; call it before
  // the change that should cut the client, which may be faster than the
  // API's answer.
  const watch = (p) => {
    const seen = errors(p);
    return (code) => until(`pusher:error ${code}`, () => seen.codes().includes(code), 10000);
  };

  before(async () => {
    db = { name: 'sb_e2e_' + crypto.randomBytes(6).toString('hex') };
    db.url = `postgres://${PG.user}@${PG.host}:${PG.port}/${db.name}?sslmode=disable`;
    assert.equal(psql(`CREATE DATABASE ${db.name}`).status, 0);
    process.env.SWITCHBOARD_SECRET_KEY = SECRET_KEY;
    server = await start({ args: ['--database-url', db.url, '--migrate'] });
    const r = spawnSync(await binary(), ['tenants', 'create', '--name', 'Acme', '--plan', 'pro'], {
      encoding: 'utf8', env: { ...process.env, SWITCHBOARD_DATABASE_URL: db.url },
    });
    assert.equal(r.status, 0, r.stderr);
    token = /^api_token: (\S+)$/m.exec(r.stdout)[1];
  });
  after(async () => {
    closeAll();
    if (server) await server.stop();
    delete process.env.SWITCHBOARD_SECRET_KEY;
    if (db) psql(`DROP DATABASE IF EXISTS ${db.name} WITH (FORCE)`);
  });

  it('create, rotate, revoke and disable an app; live pusher-js sockets follow', withServerLogs(async () => {
    assert.equal((await fetch(`http://127.0.0.1:${server.port}/api/v1/apps`)).status, 401);
    const created = await api('POST', '/apps', { name: 'Chat', enable_client_messages: true });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const first = { id: created.body.id, key: created.body.key, secret: created.body.secret };
    assert.match(first.id, /^\d+$/);

    const onFirst = client(server, first);
    await connected(onFirst);
    assert.equal(await triggerStatus(first), 200);

    const rotated = await api('POST', `/apps/${first.id}/keys`);
    assert.equal(rotated.status, 201);
    const second = { id: first.id, key: rotated.body.key, secret: rotated.body.secret };
    const onSecond = client(server, second);
    await connected(onSecond, 5000);
    assert.equal(await triggerStatus(second), 200);
    assert.equal(await triggerStatus(first), 200, 'the old key works until it is revoked');

    const firstCut = watch(onFirst);
    assert.equal((await api('DELETE', `/apps/${first.id}/keys/${first.key}`)).status, 204);
    await firstCut(4001);
    await until('the HTTP API to refuse the revoked key', async () => (await triggerStatus(first)) === 401);
    assert.equal(onSecond.connection.state, 'connected');
    assert.equal(await triggerStatus(second), 200);
    assert.equal((await api('DELETE', `/apps/${first.id}/keys/${second.key}`)).status, 409, 'the last key stays');

    const secondCut = watch(onSecond);
    const off = await api('PATCH', `/apps/${first.id}`, { enabled: false });
    assert.equal(off.status, 200);
    await secondCut(4003);
    await until('the HTTP API to refuse the disabled app', async () => (await triggerStatus(second)) === 403);

    const audit = await api('GET', '/audit?limit=20');
    const actions = audit.body.entries.map((e) => e.action);
    for (const a of ['app.create', 'key.create', 'key.revoke', 'app.update']) assert.ok(actions.includes(a), `audit lacks ${a}: ${actions}`);
    assert.ok(!JSON.stringify(audit.body).includes(first.secret), 'the audit log shows a secret');
  }));
});
