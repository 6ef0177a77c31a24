'use strict';
// The production topology on one machine (deploy/local: the local
// PostgreSQL and Redis, three nodes, HAProxy in front) restarted one node
// at a time under load, as an upgrade would be (issue 10/10):
//   - `switchboard bench fanout` keeps a steady load through HAProxy (its
//     figures are printed);
//   - every plain pusher-js client is connected again within
//     RECONNECT_BOUND_MS of each cut (docs/operations.md);
//   - clients with the sdk/js recovery add-on lose no event;
//   - presence shows no member_removed/member_added for users who came back
//     within the grace period;
//   - the HTTP API keeps answering through HAProxy.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const crypto = require('node:crypto');
const { spawn, spawnSync } = require('node:child_process');
const { binary, until, sleep, withServerLogs } = require('./lib/server');
const { client, backend, closeAll, connected, subscribed, record } = require('./lib/clients');
const { withRecovery } = require('../sdk/js');
const { sharedRedisUp } = require('./lib/redis');

const RECONNECT_BOUND_MS = 5000;
const localDir = path.resolve(__dirname, '..', 'deploy', 'local');
const haproxy = spawnSync('haproxy', ['-v']).status === 0;
const skip = process.env.CI !== 'true' && (!haproxy || !sharedRedisUp()) ? 'haproxy or Redis not available' : false;
const app = { id: 'local', key: 'local-key', secret: 'local-secret' };

function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer().once('error', () => resolve(false)).listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

// Below the kernel's ephemeral range (32768 and up by default): the
// ports are bound seconds after this check, and an outgoing connection of
// a test running alongside could take one from that range meanwhile.
async function freeBase() {
  for (;;) {
    const base = 15000 + Math.floor(Math.random() * 17000);
    const ok = await Promise.all([0, 1, 2, 3].map((i) => portFree(base + i)));
    if (ok.every(Boolean)) return base;
  }
}

describe('rolling restart of the local production topology', { skip }, () => {
  let env, lb;
  // script runs a deploy/local script without blocking this process: the
  // pusher-js clients here must keep running while a node restarts.
  const script = (name, ...args) => new Promise((resolve, reject) => {
    const p = spawn(path.join(localDir, name), args, { env });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    const t = setTimeout(() => p.kill('SIGKILL'), 120000);
    p.on('exit', (code) => { clearTimeout(t); if (code === 0) resolve(out); else reject(new Error(`${name} ${args.join(' ')}: ${code}\n${out}`)); });
  });
  before(async () => {
    const base = await freeBase();
    const tag = crypto.randomBytes(4).toString('hex');
    env = {
      ...process.env,
      SB_LOCAL_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'sb-local-')),
      SB_BASE_PORT: String(base), SB_BIN: await binary(),
      SB_DATABASE: `sb_rolling_${tag}`, SB_REDIS_PREFIX: `sbroll${tag}:`,
      SB_NODE_ARGS: '--presence-grace 3s --node-timeout 3s --drain-timeout 5s --log-level warn',
    };
    await script('up.sh');
    lb = { port: base, base: `http://127.0.0.1:${base}` };
  });
  after(() => {
    closeAll();
    if (env) spawnSync(path.join(localDir, 'down.sh'), [], { env: { ...env, SB_LOCAL_PURGE: process.env.SB_KEEP ? '' : '1' }, timeout: 60000 });
  });

  it('restarts every node under load without losing events for recovering clients, flapping presence or failing the API', withServerLogs(async () => {
    const bin = await binary();
    const benchOut = path.join(env.SB_LOCAL_DIR, 'bench.jsonl');
    const bench = spawn(bin, ['bench', 'fanout', '--port', String(lb.port), '--app-id', app.id, '--key', app.key, '--secret', app.secret,
      '--subs', '200', '--rate', '20', '--publishers', '1', '--duration', '35s', '--reconnect', '--quiet', '--out', benchOut], { stdio: 'ignore' });
    const benchDone = new Promise((r) => bench.on('exit', r));

    // Plain pusher-js clients (presence members), and clients with the
    // recovery add-on, all through HAProxy.
    const plain = [];
    for (let i = 0; i < 4; i++) {
      const p = client(lb, app, { presence: { user_id: `u${i}` } });
      const cuts = []; let downSince = null;
      p.connection.bind('state_change', ({ current }) => {
        if (current !== 'connected' && downSince === null) downSince = Date.now();
        if (current === 'connected' && downSince !== null) { cuts.push(Date.now() - downSince); downSince = null; }
      });
      await subscribed(p.subscribe('presence-rolling'));
      plain.push({ p, cuts });
    }
    const observer = client(lb, app, { presence: { user_id: 'observer' } });
    const obs = await subscribed(observer.subscribe('presence-rolling'));
    const flaps = record(obs, 'pusher:member_removed');
    const recovering = [];
    for (let i = 0; i < 4; i++) {
      const p = client(lb, app);
      withRecovery(p);
      const ch = await subscribed(p.subscribe('rolling-feed'));
      recovering.push(record(ch, 'n'));
    }

    const sdk = backend(lb, app);
    let sent = 0, publishing = true;
    const publisher = (async () => {
      while (publishing) {
        try { await sdk.trigger('rolling-feed', 'n', { i: sent + 1 }); sent++; } catch { /* a refused publish is retried */ }
        await sleep(50);
      }
    })();
    let apiCalls = 0; const apiFailures = [];
    let probing = true;
    const prober = (async () => {
      while (probing) {
        apiCalls++;
        try {
          const r = await sdk.get({ path: '/channels' });
          if (r.status !== 200) apiFailures.push(r.status);
        } catch (e) { apiFailures.push(String(e.status || e.message)); }
        await sleep(100);
      }
    })();

    await sleep(2000);
    for (const n of [1, 2, 3]) {
      await script('restart.sh', String(n));
      await sleep(1500);
    }
    await sleep(2000);
    publishing = false; probing = false;
    await publisher; await prober;
    await until('recovering clients caught up', () => recovering.every((g) => g.length >= sent), 20000);
    await sleep(300);
    await benchDone;

    const cuts = plain.flatMap((c) => c.cuts);
    const result = fs.existsSync(benchOut) ? JSON.parse(fs.readFileSync(benchOut, 'utf8').trim().split('\n').pop()) : null;
    console.log(`rolling restart: ${sent} events published; plain clients cut ${cuts.length} times, back within ${cuts.length ? Math.max(...cuts) : 0} ms at most` +
      ` (median ${cuts.length ? cuts.sort((a, b) => a - b)[cuts.length >> 1] : 0} ms); API ${apiCalls} calls, ${apiFailures.length} failed;` +
      (result ? ` bench: ${result.counts.received} of ${result.counts.expected} delivered, ${result.counts.lost} lost, ${result.counts.drops} sockets dropped and ${result.counts.reconnects} reopened, p99 ${result.latency_ms.p99} ms` : ' bench: no result'));

    assert.ok(cuts.length >= 1, 'no plain client was ever cut: the restarts did not reach them');
    for (const ms of cuts) assert.ok(ms <= RECONNECT_BOUND_MS, `a plain client took ${ms} ms to reconnect (bound ${RECONNECT_BOUND_MS} ms)`);
    for (const p of plain) assert.equal(p.p.connection.state, 'connected');
    for (const g of recovering) assert.deepEqual(g.map((e) => e.data.i), Array.from({ length: sent }, (_, i) => i + 1));
    assert.deepEqual(flaps.map((e) => e.data.id), [], 'presence flapped');
    assert.deepEqual(apiFailures, [], 'the HTTP API failed during the restarts');
  }));
});
