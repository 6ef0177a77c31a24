'use strict';
// Gap-fill (issue 9/10, docs/history.md): pusher-js with the sdk/js
// add-on, disconnected mid-stream and reconnected, receives every event
// exactly once and in order; plain pusher-js on the same server gets
// Pusher's frames and keeps working; a position the server no longer has
// calls onRecoveryFailed.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { start, until, sleep, withServerLogs } = require('./lib/server');
const { backend, client, closeAll, connected, subscribed, record, raw, QUERY } = require('./lib/clients');
const { withRecovery } = require('../sdk/js');
const apps = require('./lib/apps');
const crypto = require('node:crypto');
const { balance } = require('./lib/balancer');
const { sharedRedisUp, clearPrefix } = require('./lib/redis');

describe('gap-fill on reconnect', () => {
  let server, sdk;
  before(async () => {
    server = await start({ apps: [apps.main, apps.counting] }); // main opts in to history
    sdk = backend(server, apps.main);
  });
  after(async () => { closeAll(); await server.stop(); });

  it('pusher-js with the add-on, cut off mid-stream, receives every event once, in order', withServerLogs(async () => {
    const p = client(server, apps.main);
    const failed = [];
    withRecovery(p, { onRecoveryFailed: (ch, info) => failed.push({ ch, info }) });
    const ch = await subscribed(p.subscribe('gapfill'));
    const got = record(ch, 'n');
    const plain = await subscribed(client(server, apps.main).subscribe('gapfill'));
    const plainGot = record(plain, 'n');

    const total = 60;
    let sent = 0;
    const publishing = (async () => {
      while (sent < total) {
        await sdk.trigger('gapfill', 'n', { i: ++sent });
        await sleep(15);
      }
    })();
    await until('some events before the cut', () => got.length >= 10);
    p.disconnect(); // events keep coming while it is away
    await sleep(300);
    p.connect();
    await connected(p);
    await publishing;
    await until(`all ${total} events`, () => got.length >= total, 10000);
    await sleep(200);
    assert.deepEqual(got.map((e) => e.data.i), Array.from({ length: total }, (_, i) => i + 1));
    assert.deepEqual(failed, []);
    // The plain client saw everything (it never left) and no extra fields
    // reached its handlers.
    assert.equal(plainGot.length, total);
  }));

  it('a subscriber that does not ask for positions gets Pusher\'s frame byte for byte', withServerLogs(async () => {
    const r = raw(server, `/app/${apps.main.key}?${QUERY}`);
    await r.socketId();
    await r.subscribe('plain-frames');
    await sdk.trigger('plain-frames', 'x', { a: 1 });
    const f = await r.next((x) => x.event === 'x');
    assert.deepEqual(Object.keys(f).sort(), ['channel', 'data', 'event']);
  }));

  it('a position the server no longer has: onRecoveryFailed, then live events', withServerLogs(async () => {
    const p = client(server, apps.main);
    // As if it had seen position 5 of an epoch the server lost: wrapped
    // under the add-on, which finds no position of its own to send.
    const origSend = p.send_event;
    p.send_event = function send(event, data, channel) {
      if (event === 'pusher:subscribe') data = { ...data, position: { epoch: 'lost-epoch', seq: 5 } };
      return origSend.call(this, event, data, channel);
    };
    const failed = [];
    const rec = withRecovery(p, { onRecoveryFailed: (ch, info) => failed.push({ ch, info }) });
    await connected(p);
    const ch = p.subscribe('gone');
    await subscribed(ch);
    await until('onRecoveryFailed', () => failed.length === 1);
    assert.equal(failed[0].ch, 'gone');
    assert.equal(failed[0].info.from, 5);
    const got = record(ch, 'live');
    await sdk.trigger('gone', 'live', { ok: true });
    await until('the live event', () => got.length === 1);
    assert.equal(rec.position('gone').seq >= 1, true);
  }));

  it('history is per app: an app without it cannot be gap-filled, and its history endpoint says so', withServerLogs(async () => {
    const off = backend(server, apps.counting);
    const p = client(server, apps.counting);
    const failed = [];
    withRecovery(p, { onRecoveryFailed: (ch, info) => failed.push({ ch, info }) });
    const ch = await subscribed(p.subscribe('no-history'));
    const got = record(ch, 'n');
    await off.trigger('no-history', 'n', { i: 1 });
    await until('the first event', () => got.length === 1);
    p.disconnect();
    await off.trigger('no-history', 'n', { i: 2 }); // missed, and not kept
    p.connect();
    await connected(p);
    await until('onRecoveryFailed', () => failed.length === 1);
    assert.deepEqual([failed[0].ch, failed[0].info.from, failed[0].info.oldest], ['no-history', 1, 0]);
    await off.trigger('no-history', 'n', { i: 3 });
    await until('the live event', () => got.length === 2);
    assert.deepEqual(got.map((e) => e.data.i), [1, 3]);

    let status, body;
    try { await off.get({ path: '/channels/no-history/history' }); } catch (err) { ({ status, body } = err); }
    assert.equal(status, 404);
    assert.equal(JSON.parse(body).code, 'history_disabled');
    await sdk.trigger('kept', 'n', { i: 1 });
    const page = await (await sdk.get({ path: '/channels/kept/history' })).json();
    assert.deepEqual(page.events.map((e) => [e.seq, JSON.parse(e.data).i]), [[1, 1]]);
  }));
});

describe('gap-fill across a drain, three nodes on Redis', { skip: !sharedRedisUp() && process.env.CI !== 'true' ? 'Redis not available' : false }, () => {
  const prefix = `sbe2e:${crypto.randomBytes(6).toString('hex')}:`;
  const nodes = [];
  let lb;
  before(async () => {
    const args = ['--redis-url', 'redis://127.0.0.1:6379/0', '--redis-prefix', prefix];
    for (let i = 0; i < 3; i++) nodes.push(await start({ apps: [apps.main], args }));
    lb = await balance(nodes);
  });
  after(async () => {
    closeAll();
    if (lb) await lb.close();
    for (const n of nodes) await n.stop();
    clearPrefix(6379, prefix);
  });

  it('a client whose node is drained mid-stream resumes on another and receives every event once, in order', withServerLogs(async () => {
    const clients = [];
    for (let i = 0; i < 3; i++) {
      const p = client(lb, apps.main);
      withRecovery(p);
      const ch = await subscribed(p.subscribe('deploy-feed'));
      clients.push({ p, got: record(ch, 'n'), id: await connected(p) });
    }
    const sdk = backend(nodes[2], apps.main);
    const total = 80;
    let sent = 0;
    const publishing = (async () => {
      while (sent < total) {
        await sdk.trigger('deploy-feed', 'n', { i: ++sent });
        await sleep(15);
      }
    })();
    await until('events flowing', () => clients.every((c) => c.got.length >= 5));
    await nodes[0].stop('SIGTERM', 15000);
    await publishing;
    await until(`every client has all ${total}`, () => clients.every((c) => c.got.length >= total), 20000);
    await sleep(200);
    const moved = clients.filter((c) => c.p.connection.socket_id !== c.id);
    assert.ok(moved.length >= 1, 'no client was on the drained node');
    for (const c of clients) {
      assert.deepEqual(c.got.map((e) => e.data.i), Array.from({ length: total }, (_, i) => i + 1));
    }
  }));
});
