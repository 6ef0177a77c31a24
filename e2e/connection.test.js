'use strict';
// Connection lifecycle (protocol doc §1, checklist 1–3, 9–14, 81).
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { start, until, sleep, withServerLogs } = require('./lib/server');
const { QUERY, backend, client, closeAll, connected, subscribed, raw, rawClient, record, disconnectAll } = require('./lib/clients');
const apps = require('./lib/apps');

describe('connection', () => {
  let server;
  before(async () => { server = await start({ apps: apps.all }); });
  after(async () => { closeAll(); await server.stop(); });

  it('the first frame is pusher:connection_established with a string data of socket_id and activity_timeout', withServerLogs(async () => {
    const r = raw(server, `/app/${apps.main.key}?${QUERY}`);
    await r.next((x) => x.event === 'pusher:connection_established');
    const f = r.frames[0];
    assert.equal(f.event, 'pusher:connection_established', 'not the first frame');
    assert.equal(typeof f.data, 'string', 'data must be a JSON string');
    const d = JSON.parse(f.data);
    assert.match(d.socket_id, /^\d+\.\d+$/);
    assert.equal(d.activity_timeout, 120);
    assert.ok(Number.isInteger(d.activity_timeout));
  }));

  it('pusher-js reaches connected; its socket_id is the server\'s and differs per connection', withServerLogs(async () => {
    const a = client(server, apps.main), b = client(server, apps.main);
    const [ida, idb] = await Promise.all([connected(a), connected(b)]);
    assert.match(ida, /^\d+\.\d+$/);
    assert.notEqual(ida, idb);
    // The server excludes exactly this socket_id from a trigger: it is the
    // id the server knows the connection by.
    const sdk = backend(server, apps.main);
    const [ca, cb] = await Promise.all([subscribed(a.subscribe('conn-ids')), subscribed(b.subscribe('conn-ids'))]);
    const ga = record(ca, 'hello', 'after'), gb = record(cb, 'hello', 'after');
    await sdk.trigger('conn-ids', 'hello', {}, { socket_id: ida });
    await sdk.trigger('conn-ids', 'after', {});
    await until('after on both', () => ga.of('after').length === 1 && gb.of('after').length === 1);
    assert.equal(ga.of('hello').length, 0, 'the socket_id pusher-js reported is not the one the server excludes');
    assert.equal(gb.of('hello').length, 1);
    disconnectAll(a, b);
  }));

  it('pusher:ping gets pusher:pong without a channel; unknown pusher:* events are ignored', withServerLogs(async () => {
    const r = await rawClient(server, apps.main);
    r.send({ event: 'pusher:ping', data: {} });
    const pong = await r.next((x) => x.event === 'pusher:pong');
    assert.equal(pong.channel, undefined);
    assert.deepEqual(typeof pong.data === 'string' ? JSON.parse(pong.data) : pong.data, {});
    // data absent and "{}" are accepted too
    let next = r.after();
    r.send({ event: 'pusher:ping' });
    await next((x) => x.event === 'pusher:pong');
    next = r.after();
    r.send({ event: 'pusher:ping', data: '{}' });
    await next((x) => x.event === 'pusher:pong');

    const from = r.frames.length;
    r.send({ event: 'pusher:foo', data: { x: 1 } });
    r.send({ event: 'pusher:ping', data: {} });
    await r.next((x) => x.event === 'pusher:pong', 5000, from);
    assert.deepEqual(r.frames.slice(from).map((x) => x.event), ['pusher:pong'], 'pusher:foo got a reply');
    assert.equal(r.closeCode, null);
  }));

  it('a binary frame does not crash the server (closed or ignored)', withServerLogs(async () => {
    const r = await rawClient(server, apps.main);
    r.ws.send(Buffer.from([0, 1, 2, 3]), { binary: true });
    r.send({ event: 'pusher:ping', data: {} });
    await until('pong or close', () => r.closeCode !== null || r.count((x) => x.event === 'pusher:pong') > 0);
    // The server keeps serving others either way.
    const other = await rawClient(server, apps.main);
    assert.ok(other.id);
  }));
});

describe('activity timeout', () => {
  let server;
  before(async () => { server = await start({ apps: [apps.main], args: ['--activity-timeout', '1s', '--pong-timeout', '1s'] }); });
  after(async () => { closeAll(); await server.stop(); });

  it('the server pings a silent client, closes it with 4201 without a pong, keeps responsive ones', withServerLogs(async () => {
    const silent = raw(server, `/app/${apps.main.key}?${QUERY}`);
    const responsive = raw(server, `/app/${apps.main.key}?${QUERY}`);
    responsive.ws.on('message', (m) => {
      if (JSON.parse(m.toString()).event === 'pusher:ping') responsive.send({ event: 'pusher:pong', data: {} });
    });
    const established = JSON.parse((await responsive.next((x) => x.event === 'pusher:connection_established')).data);
    assert.equal(established.activity_timeout, 1);
    const p = client(server, apps.main);
    await connected(p);
    const ping = await silent.next((x) => x.event === 'pusher:ping', 5000);
    assert.equal(ping.channel, undefined);
    assert.equal(await silent.closedWithin(5000), 4201);
    // Three more activity timeouts: both responsive clients stay.
    await sleep(3500);
    assert.equal(responsive.closeCode, null, 'a client that answers pings was closed');
    assert.ok(responsive.count((x) => x.event === 'pusher:ping') >= 2, 'the server stopped pinging');
    assert.equal(p.connection.state, 'connected');
    disconnectAll(p);
  }));
});

describe('embedded defaults', () => {
  let server;
  before(async () => { server = await start(); }); // no apps file
  after(async () => { closeAll(); await server.stop(); });

  it('without an apps file the dev app (app-id / app-key / app-secret) works end to end; /healthz and /readyz answer 200', withServerLogs(async () => {
    const dev = { id: 'app-id', key: 'app-key', secret: 'app-secret' };
    assert.equal((await fetch(`${server.base}/healthz`)).status, 200);
    assert.equal((await fetch(`${server.base}/readyz`)).status, 200);
    const p = client(server, dev);
    const ch = await subscribed(p.subscribe('private-dev'));
    const got = record(ch, 'hello');
    await backend(server, dev).trigger('private-dev', 'hello', { dev: true });
    await until('the event', () => got.length === 1);
    assert.deepEqual(got[0].data, { dev: true });
    disconnectAll(p);
  }));
});
