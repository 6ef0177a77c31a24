'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { start, until } = require('./lib/server');
const { closeAll, client, connected, raw, sleep, disconnectAll, once } = require('./lib/clients');
const apps = require('./lib/apps');

describe('connection', () => {
  let server;
  before(async () => { server = await start({ apps: apps.all }); });
  after(async () => { closeAll(); await server.stop(); });

  it('pusher-js connects and its socket_id is the server\'s', async () => {
    const r = raw(server, `/app/${apps.main.key}?protocol=7&client=js&version=8.6.0&flash=false`);
    const f = await r.next((x) => x.event === 'pusher:connection_established');
    assert.equal(typeof f.data, 'string', 'connection_established data is a JSON string');
    const d = JSON.parse(f.data);
    assert.match(d.socket_id, /^\d+\.\d+$/);
    assert.equal(d.activity_timeout, 120);
    r.ws.close();

    const a = client(server, apps.main);
    const b = client(server, apps.main);
    const [ida, idb] = await Promise.all([connected(a), connected(b)]);
    assert.match(ida, /^\d+\.\d+$/);
    assert.notEqual(ida, idb);
    disconnectAll(a, b);
  });

  for (const [name, key, code] of [['unknown app key', 'no-such-key', 4001], ['disabled app', apps.disabled.key, 4003]]) {
    it(`${name}: pusher:error ${code}, close ${code}, pusher-js stops`, async () => {
      const r = raw(server, `/app/${key}?protocol=7&client=js&version=8.6.0`);
      const f = await r.next((x) => x.event === 'pusher:error');
      assert.equal(f.data.code, code);
      assert.equal(await r.closed, code);

      const p = client(server, { key });
      const states = [];
      p.connection.bind('state_change', (s) => states.push(s.current));
      await until('disconnected', () => p.connection.state === 'disconnected');
      await sleep(1500);
      assert.equal(p.connection.state, 'disconnected', `retried: ${states.join(',')}`);
      assert.deepEqual(states, ['disconnected'], 'pusher-js tried again after a 40xx refusal');
      p.disconnect();
    });
  }

  it('over the connection quota: 4004', async () => {
    const first = client(server, apps.single);
    await connected(first);
    const r = raw(server, `/app/${apps.single.key}?protocol=7`);
    const f = await r.next((x) => x.event === 'pusher:error');
    assert.equal(f.data.code, 4004);
    assert.equal(await r.closed, 4004);
    const second = client(server, apps.single);
    await until('disconnected', () => second.connection.state === 'disconnected');
    disconnectAll(first, second);
  });

  it('protocol version checks: 99 → 4007, missing → 4008', async () => {
    const bad = raw(server, `/app/${apps.main.key}?protocol=99&client=js`);
    assert.equal((await bad.next((x) => x.event === 'pusher:error')).data.code, 4007);
    assert.equal(await bad.closed, 4007);
    const missing = raw(server, `/app/${apps.main.key}?client=js&version=8.6.0`);
    assert.equal((await missing.next((x) => x.event === 'pusher:error')).data.code, 4008);
    assert.equal(await missing.closed, 4008);
  });

  it('wrong path is 404 before the upgrade', async () => {
    const res = await fetch(`${server.base}/not/a/pusher/path`);
    assert.equal(res.status, 404);
  });

  it('ping/pong, invalid JSON and unknown events keep the connection open', async () => {
    const r = raw(server, `/app/${apps.main.key}?protocol=7`);
    await r.socketId();
    r.send({ event: 'pusher:ping', data: {} });
    const pong = await r.next((x) => x.event === 'pusher:pong');
    assert.equal(pong.channel, undefined);
    r.send('this is not json');
    const err = await r.next((x) => x.event === 'pusher:error');
    assert.equal(err.data.code, null);
    r.send({ event: 'pusher:foo', data: {} });
    const before = r.frames.length;
    r.send({ event: 'pusher:ping', data: {} });
    await r.next((x, i) => x.event === 'pusher:pong' && r.frames.indexOf(x) >= before);
    assert.equal(r.closeCode, null);
    r.ws.close();
  });

  it('the server pings a silent client and closes it with 4201 without a pong', async () => {
    const s = await start({ apps: [apps.main], args: ['--activity-timeout', '1s', '--pong-timeout', '1s'] });
    try {
      const silent = raw(s, `/app/${apps.main.key}?protocol=7`);
      const responsive = raw(s, `/app/${apps.main.key}?protocol=7`);
      responsive.ws.on('message', (m) => {
        if (JSON.parse(m.toString()).event === 'pusher:ping') responsive.send({ event: 'pusher:pong', data: {} });
      });
      await silent.next((x) => x.event === 'pusher:ping', 5000);
      assert.equal(await silent.closed, 4201);
      await sleep(3500); // three activity timeouts, answering pings
      assert.equal(responsive.closeCode, null);
      responsive.ws.close();
    } finally {
      await s.stop();
    }
  });
});
