'use strict';
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { start, until } = require('./lib/server');
const { closeAll, backend, client, connected, subscribed, collect, waitFor, raw, disconnectAll } = require('./lib/clients');
const apps = require('./lib/apps');

describe('graceful drain', () => {
  it('SIGTERM sends 4200; pusher-js reconnects at once, resubscribes and receives events', async () => {
    const first = await start({ apps: [apps.main] });
    const r = raw(first, `/app/${apps.main.key}?protocol=7`);
    await r.socketId();
    const p = client(first, apps.main);
    const oldID = await connected(p);
    const ch = await subscribed(p.subscribe('private-survivor'));
    const got = collect(ch, 'after');
    const states = [];
    p.connection.bind('state_change', (s) => states.push(s.current));

    const exit = await first.stop('SIGTERM');
    assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}\n${first.logs()}`);
    const err = r.frames.find((x) => x.event === 'pusher:error');
    assert.equal(err?.data?.code, 4200);
    assert.equal(await r.closed, 4200);
    await until('reconnecting', () => states.includes('connecting') || states.includes('unavailable'));

    const second = await start({ apps: [apps.main], port: first.port });
    try {
      await until('reconnected', () => p.connection.state === 'connected' && p.connection.socket_id !== oldID, 15000);
      await until('resubscribed', async () => {
        const res = await backend(second, apps.main).get({ path: '/channels/private-survivor' });
        return (await res.json()).occupied;
      });
      await backend(second, apps.main).trigger('private-survivor', 'after', { ok: true });
      await waitFor(got);
      assert.deepEqual(got[0].data, { ok: true });
    } finally {
      disconnectAll(p);
      await second.stop();
    }
  });
});
