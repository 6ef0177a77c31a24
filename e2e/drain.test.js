'use strict';
// Graceful shutdown (protocol doc §1.4, §8.3; checklist 15, 82): SIGTERM
// sends 4200 to every socket, pusher-js reconnects at once, and against a
// new server on the same port it gets a new socket_id, resubscribes, signs
// in again and receives events.
const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const { start, until, withServerLogs } = require('./lib/server');
const { QUERY, backend, client, closeAll, connected, subscribed, record, states, errors, waitFor, raw } = require('./lib/clients');
const apps = require('./lib/apps');

describe('graceful drain', () => {
  after(() => closeAll());

  it('SIGTERM: 4200 to every socket, exit within the drain timeout; pusher-js reconnects to the next server and resumes', withServerLogs(async () => {
    const first = await start({ apps: [apps.main] });
    let second;
    try {
      const r = raw(first, `/app/${apps.main.key}?${QUERY}`);
      await r.socketId();

      const users = ['p1', 'p2', 'p3'].map((id) => {
        const p = client(first, apps.main, { presence: { user_id: id }, user: { id } });
        return { id, p, seen: states(p), errs: errors(p) };
      });
      for (const u of users) {
        u.oldID = await connected(u.p);
        u.p.signin();
        u.channels = await Promise.all(['drain-public', 'private-drain', 'presence-drain'].map((c) => subscribed(u.p.subscribe(c))));
        u.got = u.channels.map((c) => record(c, 'after'));
        u.toUser = record(u.p.user, 'after');
        await until('signed in', () => u.p.user.serverToUserChannel && u.p.user.serverToUserChannel.subscribed);
      }
      assert.equal(users[0].channels[2].members.count, 3);

      for (const u of users) { u.seen.length = 0; u.errs.length = 0; }
      const t0 = Date.now();
      const exit = await first.stop('SIGTERM', 15000);
      const took = Date.now() - t0;
      assert.deepEqual(exit, { code: 0, signal: null }, 'switchboard did not exit cleanly on SIGTERM');
      assert.ok(took < 5000 + 1000, `exit took ${took} ms with --drain-timeout 5s`);

      const err = r.frames.find((x) => x.event === 'pusher:error');
      assert.equal(err && err.data.code, 4200, `frames ${JSON.stringify(r.frames)}`);
      assert.equal(await r.closedWithin(), 4200);
      for (const u of users) {
        assert.ok(u.errs.codes().includes(4200), `${u.id}: pusher-js saw ${JSON.stringify(u.errs.codes())}`);
        await until(`${u.id} reconnecting`, () => u.seen.includes('connecting'));
        assert.equal(u.seen[0], 'connecting', `${u.id}: first state after 4200 should be connecting, got ${u.seen.join(' → ')}`);
      }

      // pusher-js retried at once and found the port closed; its Node
      // build then waits for its 15 s attempt timeout before trying again
      // (behind a load balancer the retry lands on another node at once).
      second = await start({ apps: [apps.main], port: first.port });
      for (const u of users) {
        await until(`${u.id} reconnected with a new socket_id`, () => u.p.connection.state === 'connected' && u.p.connection.socket_id !== u.oldID, 30000);
        await until(`${u.id} resubscribed`, () => u.channels.every((c) => c.subscribed));
        await until(`${u.id} signed in again`, () => u.p.user.serverToUserChannel && u.p.user.serverToUserChannel.subscribed);
      }
      await until('presence rebuilt', () => users.every((u) => u.channels[2].members.count === 3));
      const sdk = backend(second, apps.main);
      await sdk.trigger(['drain-public', 'private-drain', 'presence-drain'], 'after', { ok: true });
      for (const u of users) await sdk.sendToUser(u.id, 'after', { to: u.id });
      for (const u of users) {
        for (const g of u.got) { await waitFor(g); assert.deepEqual(g.map((x) => x.data), [{ ok: true }]); }
        await waitFor(u.toUser);
        assert.deepEqual(u.toUser.map((x) => x.data), [{ to: u.id }]);
      }
    } finally {
      closeAll();
      if (first.running()) await first.stop('SIGKILL');
      if (second) await second.stop();
    }
  }));
});
