'use strict';
// Two nodes on one Redis (--redis-url) behave as one service: an event
// published through either node reaches pusher-js clients on both,
// presence members on different nodes see each other, and the HTTP API
// of either node counts the other's subscribers.
//
// Needs the local Redis (127.0.0.1:6379); skips without it unless
// CI=true. Keys and channels live under a random prefix, deleted after.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { spawnSync } = require('node:child_process');
const { start, until, withServerLogs } = require('./lib/server');
const { backend, client, closeAll, subscribed, record, waitFor } = require('./lib/clients');
const apps = require('./lib/apps');

const redisCli = (...args) => spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', '6379', ...args], { encoding: 'utf8' });
const redisUp = (() => { const r = redisCli('PING'); return !r.error && r.stdout.trim() === 'PONG'; })();
const skip = !redisUp && process.env.CI !== 'true' ? 'Redis (redis-cli, 127.0.0.1:6379) not available' : false;

describe('two nodes on Redis', { skip }, () => {
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
    const keys = redisCli('--scan', '--pattern', `${prefix}*`).stdout.split('\n').filter(Boolean);
    if (keys.length) redisCli('DEL', ...keys);
  });

  it('an event published on node A reaches subscribers on both nodes, once', withServerLogs(async () => {
    const onA = await subscribed(client(a, apps.main).subscribe('news'));
    const onB = await subscribed(client(b, apps.main).subscribe('news'));
    const gotA = record(onA, 'ev');
    const gotB = record(onB, 'ev');
    await backend(a, apps.main).trigger('news', 'ev', { n: 1 });
    await backend(b, apps.main).trigger('news', 'ev', { n: 2 });
    await waitFor(gotA, 2);
    await waitFor(gotB, 2);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(gotA.map((e) => e.data.n), [1, 2]);
    assert.deepEqual(gotB.map((e) => e.data.n), [1, 2]);
    // Either node's HTTP API counts both nodes' subscribers.
    for (const node of [a, b]) {
      const info = await (await backend(node, apps.main).get({ path: '/channels/news', params: { info: 'subscription_count' } })).json();
      assert.equal(info.subscription_count, 2);
    }
  }));

  it('presence members on different nodes see each other', withServerLogs(async () => {
    const alice = client(a, apps.main, { presence: { user_id: 'alice', user_info: { name: 'Alice' } } });
    const ca = await subscribed(alice.subscribe('presence-room'));
    const added = record(ca, 'pusher:member_added', 'pusher:member_removed');
    const bob = client(b, apps.main, { presence: { user_id: 'bob', user_info: { name: 'Bob' } } });
    const cb = await subscribed(bob.subscribe('presence-room'));
    assert.equal(cb.members.count, 2);
    assert.deepEqual(cb.members.get('alice').info, { name: 'Alice' });
    await waitFor(added);
    assert.equal(added[0].event, 'pusher:member_added');
    assert.equal(added[0].data.id, 'bob');
    await until('the users endpoint of node B to list both', async () => {
      const r = await (await backend(b, apps.main).get({ path: '/channels/presence-room/users' })).json();
      return r.users.length === 2;
    });
  }));
});
