'use strict';
// Webhooks on three nodes (issue 6/10): exactly one channel_occupied and
// one channel_vacated per transition of the whole cluster; jobs survive a
// Redis restart (append-only, fsync always) and the SIGKILL of the node
// holding them (another node claims them after --webhooks-claim-after);
// a killed node's channels still get their vacated. Every request is
// checked with the pusher SDK's webhook() helper.
//
// Starts its own redis-server on a free port; never touches 6379.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { start, until, sleep, freePort, withServerLogs } = require('./lib/server');
const { backend, client, closeAll, subscribed } = require('./lib/clients');
const { ownRedis, redisCli } = require('./lib/redis');

const skip = process.env.CI !== 'true' && require('node:child_process').spawnSync('redis-server', ['--version']).error
  ? 'redis-server not installed' : false;

// receiver records every request; while failing it answers 500, so jobs
// stay queued and retried.
function receiver() {
  const r = { requests: [], failing: false };
  r.srv = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const status = r.failing ? 500 : 200;
      r.requests.push({ headers: req.headers, rawBody: body, status });
      res.statusCode = status;
      res.end();
    });
  });
  return new Promise((resolve) => r.srv.listen(0, '127.0.0.1', () => { r.url = `http://127.0.0.1:${r.srv.address().port}/hook`; resolve(r); }));
}

describe('webhooks across three nodes', { skip }, () => {
  let redis, redisPort, recv, app, sdk, nodes = [];
  before(async () => {
    recv = await receiver();
    app = {
      id: '401', key: 'key-wh', secret: 'secret-wh', name: 'wh',
      webhooks: [{ url: recv.url, event_types: ['channel_occupied', 'channel_vacated', 'member_removed'] }],
    };
    redisPort = await freePort();
    redis = ownRedis(redisPort, { durable: true });
    await redis.ready();
    const args = ['--redis-url', `redis://127.0.0.1:${redisPort}/0`, '--node-timeout', '2s', '--webhooks-claim-after', '2s', '--presence-grace', '0'];
    for (let i = 0; i < 3; i++) nodes.push(await start({ apps: [app], args }));
    sdk = backend(nodes[0], app);
  });
  after(async () => {
    closeAll();
    for (const n of nodes) await n.stop();
    if (redis) await redis.kill();
    if (recv) await new Promise((r) => recv.srv.close(r));
  });

  // events: every event of every request (checked with the SDK), with the
  // status the receiver answered.
  const events = () => recv.requests.flatMap((r) => {
    const hook = sdk.webhook({ headers: r.headers, rawBody: r.rawBody });
    assert.equal(hook.isValid(), true, `invalid webhook: ${r.rawBody}`);
    return hook.getEvents().map((e) => ({ ...e, status: r.status }));
  });
  const of = (channel, name, status) => events().filter((e) => e.channel === channel && e.name === name && (!status || e.status === status));

  // transitions subscribes one client of node to each channel and then
  // disconnects it: one occupied and one vacated each.
  async function transitions(node, channels) {
    const p = client(node, app);
    await Promise.all(channels.map((c) => subscribed(p.subscribe(c))));
    for (const c of channels) p.unsubscribe(c);
    await until('every occupied and vacated attempted', () => channels.every((c) => of(c, 'channel_occupied').length > 0 && of(c, 'channel_vacated').length > 0));
    p.disconnect();
  }

  it('one occupied and one vacated per transition of the cluster, whichever nodes the sockets are on', withServerLogs(async () => {
    for (let round = 0; round < 3; round++) {
      const ch = `together-${round}`;
      const clients = nodes.map((n) => client(n, app));
      await Promise.all(clients.map((p) => subscribed(p.subscribe(ch))));
      await Promise.all(clients.map(async (p) => p.unsubscribe(ch)));
      await until(`vacated for ${ch}`, () => of(ch, 'channel_vacated').length > 0);
      await sleep(300);
      assert.equal(of(ch, 'channel_occupied').length, 1, `occupied events for ${ch}`);
      assert.equal(of(ch, 'channel_vacated').length, 1, `vacated events for ${ch}`);
      const occ = events().findIndex((e) => e.channel === ch && e.name === 'channel_occupied');
      const vac = events().findIndex((e) => e.channel === ch && e.name === 'channel_vacated');
      assert.ok(occ < vac, 'vacated before occupied');
      clients.forEach((p) => p.disconnect());
    }
  }));

  it('jobs queued while the endpoint fails survive a Redis restart and are delivered after it', withServerLogs(async () => {
    recv.failing = true;
    const channels = ['r1', 'r2', 'r3'];
    await transitions(nodes[1], channels);
    await redis.kill({ keepData: true });
    await sleep(500);
    redis = ownRedis(redisPort, { durable: true, dir: redis.dir });
    await redis.ready();
    recv.failing = false;
    await until('every job delivered after the restart', () => channels.every((c) =>
      of(c, 'channel_occupied', 200).length > 0 && of(c, 'channel_vacated', 200).length > 0), 60000);
  }));

  it('jobs held by a node killed with SIGKILL are delivered by another; its channels get their vacated', withServerLogs(async () => {
    const victim = nodes[2];
    recv.failing = true;
    const channels = ['k1', 'k2', 'k3'];
    // Every node's worker reads from the one stream; wait until the
    // victim's consumer holds jobs it has not acked (its name has its pid).
    await transitions(victim, channels);
    const stay = client(victim, app);
    await subscribed(stay.subscribe('orphan'));
    await until('orphan occupied attempted', () => of('orphan', 'channel_occupied').length > 0);
    await until('the victim holding unacked jobs', () => {
      const lines = redisCli(redisPort, 'XPENDING', 'sb:webhooks:jobs', 'delivery').stdout.split('\n');
      const i = lines.findIndex((l) => l.includes(`-${victim.pid}-`));
      return i >= 0 && Number(lines[i + 1]) > 0;
    }, 20000);
    process.kill(victim.pid, 'SIGKILL');
    await victim.exited;
    recv.failing = false;
    await until('every job delivered after the kill', () => channels.every((c) =>
      of(c, 'channel_occupied', 200).length > 0 && of(c, 'channel_vacated', 200).length > 0) &&
      of('orphan', 'channel_occupied', 200).length > 0, 60000);
    await until('the dead node\'s channel vacated', () => of('orphan', 'channel_vacated', 200).length > 0, 30000);
    stay.disconnect();
  }));
});
