'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { start, until } = require('./lib/server');
const { closeAll, backend, client, connected, once, collect, waitFor, sleep, raw, disconnectAll } = require('./lib/clients');
const apps = require('./lib/apps');

describe('user authentication', () => {
  let server, sdk;
  before(async () => { server = await start({ apps: apps.all }); sdk = backend(server, apps.main); });
  after(async () => { closeAll(); await server.stop(); });

  async function signedIn(user) {
    const p = client(server, apps.main, { user });
    await connected(p);
    p.signin();
    await once(p, 'pusher:signin_success');
    return p;
  }

  it('signin, then sendToUser reaches every connection of that user only', async () => {
    const a1 = await signedIn({ id: 'u-1' }), a2 = await signedIn({ id: 'u-1' }), b = await signedIn({ id: 'u-2' });
    const g1 = collect(a1.user, 'note'), g2 = collect(a2.user, 'note'), gb = collect(b.user, 'note');
    await until('server-to-user subscriptions', () => a1.user.serverToUserChannel?.subscribed && a2.user.serverToUserChannel?.subscribed);
    await sdk.sendToUser('u-1', 'note', { hi: 1 });
    await waitFor(g1); await waitFor(g2);
    assert.deepEqual(g1[0].data, { hi: 1 });
    await sleep(200);
    assert.equal(gb.length, 0);
    disconnectAll(a1, a2, b);
  });

  it('a bad signin signature gets pusher:error 4009', async () => {
    const r = raw(server, `/app/${apps.main.key}?protocol=7`);
    await r.socketId();
    r.send({ event: 'pusher:signin', data: { auth: `${apps.main.key}:${'0'.repeat(64)}`, user_data: '{"id":"x"}' } });
    const e = await r.next((x) => x.event === 'pusher:error');
    assert.equal(e.data.code, 4009);
    r.ws.close();
  });

  it('watchlist: initial status, then online and offline', async () => {
    const watcher = client(server, apps.main, { user: { id: 'w', watchlist: ['x', 'y'] } });
    await connected(watcher);
    const online = [], offline = [];
    watcher.user.watchlist.bind('online', (e) => online.push(...e.user_ids));
    watcher.user.watchlist.bind('offline', (e) => offline.push(...e.user_ids));
    watcher.signin();
    await until('initial offline', () => offline.includes('x') && offline.includes('y'));
    const x = await signedIn({ id: 'x' });
    await until('x online', () => online.includes('x'));
    x.disconnect();
    await until('x offline again', () => offline.filter((id) => id === 'x').length === 2);
    disconnectAll(watcher);
  });

  it('terminateUserConnections closes that user\'s sockets with 4009; pusher-js does not reconnect', async () => {
    const a = await signedIn({ id: 'bye' }), other = await signedIn({ id: 'stay' });
    const states = [];
    a.connection.bind('state_change', (s) => states.push(s.current));
    const res = await sdk.terminateUserConnections('bye');
    assert.equal(res.status, 200);
    await until('disconnected', () => a.connection.state === 'disconnected');
    await sleep(1200);
    assert.equal(a.connection.state, 'disconnected', `states ${states}`);
    assert.equal(other.connection.state, 'connected');
    disconnectAll(a, other);
  });

  it('apps that require sign-in close unsigned connections with 4009', async () => {
    const r = raw(server, `/app/${apps.signinRequired.key}?protocol=7`);
    await r.socketId();
    assert.equal(await r.closed, 4009);
    const p = client(server, apps.signinRequired, { user: { id: 'ok' } });
    await connected(p);
    p.signin();
    await once(p, 'pusher:signin_success');
    await sleep(1500);
    assert.equal(p.connection.state, 'connected');
    disconnectAll(p);
  });
});
