'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { start, until } = require('./lib/server');
const { closeAll, backend, client, subscribed, collect, waitFor, sleep, disconnectAll } = require('./lib/clients');
const apps = require('./lib/apps');

describe('presence', () => {
  let server;
  before(async () => { server = await start({ apps: apps.all }); });
  after(async () => { closeAll(); await server.stop(); });

  const user = (id, name) => ({ user_id: id, user_info: { name } });

  it('members, me, member_added and member_removed across several users', async () => {
    const alice = client(server, apps.main, { presence: user('alice', 'Alice') });
    const ca = await subscribed(alice.subscribe('presence-lobby'));
    assert.equal(ca.members.count, 1);
    assert.equal(ca.members.me.id, 'alice');
    assert.deepEqual(ca.members.me.info, { name: 'Alice' });
    const added = collect(ca, 'pusher:member_added');
    const removed = collect(ca, 'pusher:member_removed');

    const bob = client(server, apps.main, { presence: user('bob', 'Bob') });
    const cb = await subscribed(bob.subscribe('presence-lobby'));
    assert.equal(cb.members.count, 2);
    assert.deepEqual(cb.members.get('alice').info, { name: 'Alice' });
    await waitFor(added);
    assert.equal(added[0].data.id, 'bob');
    assert.deepEqual(added[0].data.info, { name: 'Bob' });
    assert.equal(ca.members.count, 2);

    const bobAgain = client(server, apps.main, { presence: user('bob', 'Bob') });
    const cb2 = await subscribed(bobAgain.subscribe('presence-lobby'));
    assert.equal(cb2.members.count, 2, 'a second socket of one user is not a new member');
    await sleep(200);
    assert.equal(added.length, 1);

    bob.disconnect();
    await sleep(600); // past the grace period: bob still has a socket
    assert.equal(removed.length, 0);
    bobAgain.disconnect();
    await waitFor(removed);
    assert.equal(removed[0].data.id, 'bob');
    assert.equal(ca.members.count, 1);

    const sdk = backend(server, apps.main);
    const res = await sdk.get({ path: '/channels/presence-lobby/users' });
    assert.deepEqual(await res.json(), { users: [{ id: 'alice' }] });
    disconnectAll(alice);
  });

  it('numeric user ids become strings', async () => {
    const a = client(server, apps.main, { presence: { user_id: 10, user_info: { n: 1 } } });
    const ch = await subscribed(a.subscribe('presence-numbers'));
    // the wire carries the id as a string; pusher-js keys members by it
    assert.deepEqual(Object.keys(ch.members.members), ['10']);
    assert.equal(ch.members.count, 1);
    assert.deepEqual(ch.members.get('10').info, { n: 1 });
    disconnectAll(a);
  });

  it('a page reload within the grace period produces no removed/added pair', async () => {
    const watcher = client(server, apps.main, { presence: user('w', 'W') });
    const cw = await subscribed(watcher.subscribe('presence-reload'));
    const added = collect(cw, 'pusher:member_added');
    const removed = collect(cw, 'pusher:member_removed');
    const u1 = client(server, apps.main, { presence: user('u', 'U') });
    await subscribed(u1.subscribe('presence-reload'));
    await waitFor(added);
    u1.disconnect();
    const u2 = client(server, apps.main, { presence: user('u', 'U') });
    await subscribed(u2.subscribe('presence-reload'));
    await sleep(800);
    assert.equal(removed.length, 0);
    assert.equal(added.length, 1);
    disconnectAll(watcher, u2);
  });
});
