'use strict';
// Three nodes on one Redis behave as one service (issue 5/10): fan-out
// across nodes, the HTTP API answered from any node, presence and
// terminate_connections across nodes, cluster-wide connection and rate
// limits, a node killed with SIGKILL cleaned up after --node-timeout, a
// drained node's clients resuming on the others through a load balancer,
// and a Redis restart: 503 while it is down, recovery after.
//
// The first group uses the shared Redis (127.0.0.1:6379) under a random
// key prefix; the Redis restart starts a redis-server of its own on a
// free port and restarts only that one.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { start, until, freePort, withServerLogs } = require('./lib/server');
const { sharedRedisUp, clearPrefix, ownRedis } = require('./lib/redis');
const { QUERY, backend, client, closeAll, connected, subscribed, record, errors, raw, waitFor, mark } = require('./lib/clients');
const { balance } = require('./lib/balancer');
const apps = require('./lib/apps');

const skip = !sharedRedisUp() && process.env.CI !== 'true' ? 'Redis (redis-cli, 127.0.0.1:6379) not available' : false;

const NODE_TIMEOUT_MS = 2000;
// Cluster-wide limits: two connections, and five HTTP events a second.
const pair = { id: '201', key: 'key-pair', secret: 'secret-pair', name: 'pair', max_connections: 2 };
const fiveASecond = { id: '202', key: 'key-five', secret: 'secret-five', name: 'five', max_backend_events_per_second: 5 };
const clusterApps = [apps.main, pair, fiveASecond];

async function startNodes(n, redisPort, prefix, extra = []) {
  const args = ['--redis-url', `redis://127.0.0.1:${redisPort}/0`, '--redis-prefix', prefix, '--node-timeout', `${NODE_TIMEOUT_MS}ms`, ...extra];
  const nodes = [];
  for (let i = 0; i < n; i++) nodes.push(await start({ apps: clusterApps, args }));
  return nodes;
}

async function usersOf(node, channel) {
  const r = await (await backend(node, apps.main).get({ path: `/channels/${channel}/users` })).json();
  return r.users.map((u) => u.id).sort();
}

describe('three nodes on Redis', { skip }, () => {
  const prefix = `sbe2e:${crypto.randomBytes(6).toString('hex')}:`;
  let nodes = [];
  before(async () => { nodes = await startNodes(3, 6379, prefix); });
  after(async () => {
    closeAll();
    for (const n of nodes) await n.stop();
    clearPrefix(6379, prefix);
  });

  it('an event published on A reaches subscribers on B and C once, in order; any node answers channel queries', withServerLogs(async () => {
    const [a, b, c] = nodes;
    const subs = await Promise.all([b, c, c].map((n) => subscribed(client(n, apps.main).subscribe('fanout'))));
    const got = subs.map((ch) => record(ch, 'ev'));
    const sdk = backend(a, apps.main);
    for (let i = 1; i <= 20; i++) await sdk.trigger('fanout', 'ev', { i });
    await mark(sdk, 'fanout', ...subs);
    for (const g of got) assert.deepEqual(g.map((e) => e.data.i), Array.from({ length: 20 }, (_, i) => i + 1));
    for (const n of nodes) {
      const info = await (await backend(n, apps.main).get({ path: '/channels/fanout', params: { info: 'subscription_count' } })).json();
      assert.deepEqual(info, { occupied: true, subscription_count: 3 });
      const list = await (await backend(n, apps.main).get({ path: '/channels', params: { filter_by_prefix: 'fan' } })).json();
      assert.deepEqual(Object.keys(list.channels), ['fanout']);
    }
  }));

  it('a cache channel\'s last event, published on A, greets a subscriber on C', withServerLogs(async () => {
    const [a, , c] = nodes;
    await backend(a, apps.main).trigger('cache-cluster', 'state', { v: 7 });
    const ch = client(c, apps.main).subscribe('cache-cluster');
    const got = record(ch, 'state', 'pusher:cache_miss');
    await subscribed(ch);
    await waitFor(got);
    assert.deepEqual(got.map((e) => [e.event, e.data]), [['state', { v: 7 }]]);
  }));

  it('presence: one member_added per user however many nodes it joins from, member_removed when its last socket leaves', withServerLogs(async () => {
    const [a, b, c] = nodes;
    const watch = await subscribed(client(a, apps.main, { presence: { user_id: 'watcher' } }).subscribe('presence-lobby'));
    const seen = record(watch, 'pusher:member_added', 'pusher:member_removed');
    const annB = client(b, apps.main, { presence: { user_id: 'ann', user_info: { on: 'b' } } });
    const annC = client(c, apps.main, { presence: { user_id: 'ann', user_info: { on: 'c' } } });
    await subscribed(annB.subscribe('presence-lobby'));
    const onC = await subscribed(annC.subscribe('presence-lobby'));
    assert.deepEqual(Object.keys(onC.members.members).sort(), ['ann', 'watcher']);
    for (const n of nodes) assert.deepEqual(await usersOf(n, 'presence-lobby'), ['ann', 'watcher']);
    annB.disconnect();
    const sdk = backend(a, apps.main);
    await new Promise((r) => setTimeout(r, 800)); // past the 500 ms grace
    await mark(sdk, 'presence-lobby', watch);
    assert.deepEqual(seen.map((e) => `${e.event}:${e.data.id}`), ['pusher:member_added:ann']);
    annC.disconnect();
    await waitFor(seen, 2);
    assert.deepEqual(seen.map((e) => `${e.event}:${e.data.id}`), ['pusher:member_added:ann', 'pusher:member_removed:ann']);
    await until('node C to stop counting ann', async () => (await usersOf(c, 'presence-lobby')).length === 1);
  }));

  it('server-to-user events and terminate_connections reach a user\'s sockets on every node', withServerLogs(async () => {
    const [a, b, c] = nodes;
    const onA = client(a, apps.main, { user: { id: 'tess' } });
    const onB = client(b, apps.main, { user: { id: 'tess' } });
    const other = client(b, apps.main, { user: { id: 'otto' } });
    const errs = [onA, onB, other].map(errors);
    for (const p of [onA, onB, other]) { await connected(p); p.signin(); }
    await until('all signed in', () => [onA, onB, other].every((p) => p.user.serverToUserChannel && p.user.serverToUserChannel.subscribed));
    // Server-to-user events published on C reach tess on A and B.
    const toA = record(onA.user, 'note');
    const toB = record(onB.user, 'note');
    await backend(c, apps.main).sendToUser('tess', 'note', { hi: 1 });
    await waitFor(toA); await waitFor(toB);
    assert.deepEqual([toA[0].data, toB[0].data], [{ hi: 1 }, { hi: 1 }]);
    await backend(c, apps.main).terminateUserConnections('tess');
    await until('tess cut on A and B with 4009', () => errs[0].codes().includes(4009) && errs[1].codes().includes(4009));
    assert.equal(other.connection.state, 'connected');
    assert.deepEqual(errs[2].codes(), []);
    onA.disconnect(); onB.disconnect();
  }));

  it('max_connections holds across nodes', withServerLogs(async () => {
    const [a, b, c] = nodes;
    const open = async (node) => {
      const r = raw(node, `/app/${pair.key}?${QUERY}`);
      const f = await r.next((x) => x.event === 'pusher:connection_established' || x.event === 'pusher:error');
      return { r, refused: f.event === 'pusher:error' ? f.data.code : 0 };
    };
    const first = await open(a);
    const second = await open(b);
    assert.deepEqual([first.refused, second.refused], [0, 0]);
    const third = await open(c);
    assert.equal(third.refused, 4004, 'a third connection on another node was admitted');
    assert.equal(await third.r.closedWithin(), 4004);
    first.r.ws.close();
    await first.r.closedWithin();
    // The freed place is usable from any node.
    await until('a new connection on C accepted', async () => {
      const x = await open(c);
      x.r.ws.terminate();
      return x.refused === 0;
    });
    second.r.ws.close();
  }));

  it('the HTTP rate limit holds across nodes', withServerLogs(async () => {
    let ok = 0, limited = 0;
    // 30 events within well under two seconds, spread over the nodes: a
    // per-node limit would admit 15 a second; the cluster admits 5.
    const t0 = Date.now();
    for (let i = 0; i < 30; i++) {
      try { await backend(nodes[i % 3], fiveASecond).trigger('rl', 'ev', { i }); ok++; } catch (e) {
        assert.equal(e.status, 429, String(e)); limited++;
      }
    }
    const seconds = Math.ceil((Date.now() - t0) / 1000) + 1; // windows touched
    assert.ok(ok <= 5 * seconds, `${ok} admitted in ${seconds} one-second windows, limit 5/s across the cluster`);
    assert.ok(ok >= 5 && limited > 0, `admitted ${ok}, limited ${limited}`);
  }));

  it('a node killed with SIGKILL: its members are removed (member_removed) and stop being counted within the node timeout', withServerLogs(async () => {
    const victim = await startNodes(1, 6379, prefix).then((n) => n[0]);
    nodes.push(victim);
    const [a] = nodes;
    const watch = await subscribed(client(a, apps.main, { presence: { user_id: 'w2' } }).subscribe('presence-crash'));
    const seen = record(watch, 'pusher:member_removed');
    const doomed = client(victim, apps.main, { presence: { user_id: 'doomed' }, options: { activityTimeout: 60000 } });
    await subscribed(doomed.subscribe('presence-crash'));
    await subscribed(doomed.subscribe('crash-public'));
    assert.deepEqual(await usersOf(a, 'presence-crash'), ['doomed', 'w2']);
    doomed.disconnect(); // pusher-js would reconnect to the dead port; the socket dies with the node anyway
    const t0 = Date.now();
    // Kill before the client's close reaches the node.
    process.kill(victim.pid, 'SIGKILL');
    await victim.exited;
    await waitFor(seen, 1, 4 * NODE_TIMEOUT_MS + 5000, 'member_removed for the dead node\'s user');
    const took = Date.now() - t0;
    assert.equal(seen[0].data.id, 'doomed');
    assert.ok(took < 3 * NODE_TIMEOUT_MS + 2000, `cleanup took ${took} ms with --node-timeout ${NODE_TIMEOUT_MS}ms`);
    assert.deepEqual(await usersOf(a, 'presence-crash'), ['w2']);
    const ch = await (await backend(a, apps.main).get({ path: '/channels/crash-public', params: { info: 'subscription_count' } })).json();
    assert.equal(ch.occupied, false);
  }));

  it('draining a node moves its clients to the others through the load balancer, without losing events or presence flapping', withServerLogs(async () => {
    const extra = await startNodes(2, 6379, prefix);
    nodes.push(...extra);
    const lb = await balance(extra);
    try {
      // Four clients through the balancer land two on each of the two extra nodes.
      const users = [];
      for (let i = 0; i < 4; i++) {
        const p = client(lb, apps.main, { presence: { user_id: `d${i}` } });
        const ch = await subscribed(p.subscribe('presence-deploy'));
        users.push({ p, ch, got: record(ch, 'tick'), id: await connected(p) });
      }
      const watch = await subscribed(client(nodes[0], apps.main, { presence: { user_id: 'observer' } }).subscribe('presence-deploy'));
      const flaps = record(watch, 'pusher:member_added', 'pusher:member_removed');
      const sdk = backend(nodes[0], apps.main);
      let sent = 0;
      const ticker = setInterval(() => { sdk.trigger('presence-deploy', 'tick', { n: ++sent }).catch(() => {}); }, 50);
      await new Promise((r) => setTimeout(r, 300));
      const exit = await extra[0].stop('SIGTERM', 15000);
      assert.deepEqual(exit, { code: 0, signal: null });
      await until('every client connected again', () => users.every((u) => u.p.connection.state === 'connected' && u.ch.subscribed), 15000);
      await new Promise((r) => setTimeout(r, 300));
      clearInterval(ticker);
      await mark(sdk, 'presence-deploy', ...users.map((u) => u.ch));
      const moved = users.filter((u) => u.p.connection.socket_id !== u.id);
      assert.ok(moved.length >= 1, 'no client was on the drained node');
      // Clients never on the drained node saw every tick, in order.
      for (const u of users.filter((x) => !moved.includes(x))) {
        assert.deepEqual(u.got.map((e) => e.data.n), Array.from({ length: sent }, (_, i) => i + 1));
      }
      // The moved ones lost at most the ticks between their disconnect and
      // resubscription, and resumed.
      for (const u of moved) assert.ok(u.got.length > 0 && u.got[u.got.length - 1].data.n === sent, 'moved client did not resume');
      assert.deepEqual(flaps.map((e) => `${e.event}:${e.data.id}`), [], 'presence flapped for users that reconnected within the grace period');
      assert.equal((await usersOf(nodes[0], 'presence-deploy')).length, 5);
    } finally {
      await lb.close();
    }
  }));
});

describe('Redis restart under three nodes', { skip }, () => {
  let nodes = [], redis, port;
  after(async () => {
    closeAll();
    for (const n of nodes) await n.stop();
    if (redis) await redis.kill();
  });

  it('while Redis is down: /readyz 503 and publishes refused with 503; after it is back: ready, fan-out and presence restored', withServerLogs(async () => {
    port = await freePort();
    redis = ownRedis(port);
    await redis.ready();
    nodes = await startNodes(3, port, 'sb:');
    const [a, b, c] = nodes;
    const onB = await subscribed(client(b, apps.main, { presence: { user_id: 'rb' } }).subscribe('presence-outage'));
    const onC = await subscribed(client(c, apps.main, { presence: { user_id: 'rc' } }).subscribe('presence-outage'));
    const got = [onB, onC].map((ch) => record(ch, 'ev'));
    const sdk = backend(a, apps.main);
    await sdk.trigger('presence-outage', 'ev', { n: 1 });
    await waitFor(got[0]); await waitFor(got[1]);

    await redis.kill();
    await until('every node reports not ready', async () => {
      const rs = await Promise.all(nodes.map((n) => fetch(n.base + '/readyz').then((r) => r.status)));
      return rs.every((s) => s === 503);
    });
    const refused = await sdk.trigger('presence-outage', 'ev', { n: 'lost' }).then(() => null, (e) => e);
    assert.ok(refused, 'a publish while Redis is down was accepted');
    assert.equal(refused.status, 503, String(refused));

    redis = ownRedis(port);
    await redis.ready();
    await until('every node ready again', async () => {
      const rs = await Promise.all(nodes.map((n) => fetch(n.base + '/readyz').then((r) => r.status)));
      return rs.every((s) => s === 200);
    }, 20000);
    // The empty Redis learns the nodes' sockets again within a heartbeat.
    await until('presence re-asserted', async () => (await usersOf(a, 'presence-outage')).join() === 'rb,rc', 4 * NODE_TIMEOUT_MS);
    await until('fan-out restored', async () => {
      await sdk.trigger('presence-outage', 'ev', { n: 2 });
      await new Promise((r) => setTimeout(r, 100));
      return got.every((g) => g.some((e) => e.data.n === 2));
    }, 10000);
    for (const g of got) assert.ok(!g.some((e) => e.data.n === 'lost'));
  }));
});
