'use strict';
// Presence channels with several users (protocol doc §2.3, §6.4;
// checklist 23, 25–28, 70, 85).
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { start, until, withServerLogs, PRESENCE_GRACE_MS } = require('./lib/server');
const { backend, client, closeAll, subscribed, record, waitFor, mark, rawClient, disconnectAll } = require('./lib/clients');
const apps = require('./lib/apps');

const user = (id, name) => ({ user_id: id, user_info: { name } });

describe('presence', () => {
  let server, sdk;
  before(async () => { server = await start({ apps: apps.all }); sdk = backend(server, apps.main); });
  after(async () => { closeAll(); await server.stop(); });

  const users = async (channel) => (await (await sdk.get({ path: `/channels/${channel}/users` })).json()).users.map((u) => u.id).sort();

  it('several users: members.count and .me, member_added to the others only, one member per user', withServerLogs(async () => {
    const alice = client(server, apps.main, { presence: user('alice', 'Alice') });
    const ca = await subscribed(alice.subscribe('presence-lobby'));
    assert.equal(ca.members.count, 1);
    assert.equal(ca.members.me.id, 'alice');
    assert.deepEqual(ca.members.me.info, { name: 'Alice' });
    const ga = record(ca, 'pusher:member_added', 'pusher:member_removed');

    const bob = client(server, apps.main, { presence: user('bob', 'Bob') });
    const cbob = await subscribed(bob.subscribe('presence-lobby'));
    const gb = record(cbob, 'pusher:member_added', 'pusher:member_removed');
    assert.equal(cbob.members.count, 2);
    assert.deepEqual(cbob.members.get('alice').info, { name: 'Alice' });
    assert.equal(cbob.members.me.id, 'bob');
    await waitFor(ga);
    assert.equal(ga[0].event, 'pusher:member_added');
    assert.equal(ga[0].data.id, 'bob');
    assert.deepEqual(ga[0].data.info, { name: 'Bob' });
    assert.equal(ca.members.count, 2);

    const carol = client(server, apps.main, { presence: user('carol', 'Carol') });
    const cc = await subscribed(carol.subscribe('presence-lobby'));
    assert.equal(cc.members.count, 3);
    await until('carol added everywhere', () => ca.members.count === 3 && cbob.members.count === 3);

    // bob on a second socket is not a new member
    const bob2 = client(server, apps.main, { presence: user('bob', 'Bob') });
    const cb2 = await subscribed(bob2.subscribe('presence-lobby'));
    assert.equal(cb2.members.count, 3, 'a second socket of one user counted as a member');
    await mark(sdk, 'presence-lobby', ca, cbob, cc);
    assert.deepEqual(ga.map((g) => `${g.event} ${g.data.id}`), ['pusher:member_added bob', 'pusher:member_added carol']);
    assert.deepEqual(gb.map((g) => `${g.event} ${g.data.id}`), ['pusher:member_added carol'], 'the joiner got member_added for itself');
    assert.equal(ca.members.count, 3);
    assert.deepEqual(await users('presence-lobby'), ['alice', 'bob', 'carol']);
    disconnectAll(alice, bob, carol, bob2);
  }));

  it('member_removed only when a user\'s last socket leaves, after the grace period', withServerLogs(async () => {
    const watcher = client(server, apps.main, { presence: user('w', 'W') });
    const cw = await subscribed(watcher.subscribe('presence-leave'));
    const gw = record(cw, 'pusher:member_added', 'pusher:member_removed');
    const bob1 = client(server, apps.main, { presence: user('bob', 'Bob') });
    const bob2 = client(server, apps.main, { presence: user('bob', 'Bob') });
    const carol = client(server, apps.main, { presence: user('carol', 'Carol') });
    await Promise.all([bob1, bob2, carol].map((p) => subscribed(p.subscribe('presence-leave'))));
    await until('3 members', () => cw.members.count === 3);

    // bob leaves one of two sockets, then carol her only one: carol's
    // removal, held as long as any would be, is the barrier for bob's.
    bob1.disconnect();
    const left = Date.now();
    carol.unsubscribe('presence-leave');
    await until('carol removed', () => gw.some((g) => g.event === 'pusher:member_removed'), 5000);
    const held = Date.now() - left;
    assert.ok(held >= PRESENCE_GRACE_MS - 100, `member_removed after ${held} ms, grace is ${PRESENCE_GRACE_MS} ms`);
    assert.deepEqual(gw.filter((g) => g.event === 'pusher:member_removed').map((g) => g.data.id), ['carol']);
    assert.equal(cw.members.count, 2);
    assert.deepEqual(await users('presence-leave'), ['bob', 'w']);

    bob2.disconnect();
    await until('bob removed', () => gw.filter((g) => g.event === 'pusher:member_removed').length === 2, 5000);
    assert.equal(gw.at(-1).data.id, 'bob');
    assert.equal(cw.members.count, 1);
    assert.deepEqual(await users('presence-leave'), ['w']);
    disconnectAll(watcher);
  }));

  it('a reconnect within the grace period produces neither member_removed nor member_added', withServerLogs(async () => {
    const watcher = client(server, apps.main, { presence: user('w', 'W') });
    const cw = await subscribed(watcher.subscribe('presence-reload'));
    const gw = record(cw, 'pusher:member_added', 'pusher:member_removed');
    const u1 = client(server, apps.main, { presence: user('u', 'U') });
    const x = client(server, apps.main, { presence: user('x', 'X') });
    await subscribed(u1.subscribe('presence-reload'));
    await subscribed(x.subscribe('presence-reload'));
    await waitFor(gw, 2);
    u1.disconnect(); // page reload: a new socket of the same user
    const u2 = client(server, apps.main, { presence: user('u', 'U') });
    const cu2 = await subscribed(u2.subscribe('presence-reload'));
    assert.equal(cu2.members.count, 3);
    x.disconnect();
    await until('x removed', () => gw.some((g) => g.event === 'pusher:member_removed'), 5000);
    assert.deepEqual(gw.map((g) => `${g.event} ${g.data.id}`),
      ['pusher:member_added u', 'pusher:member_added x', 'pusher:member_removed x']);
    assert.deepEqual(await users('presence-reload'), ['u', 'w']);
    disconnectAll(watcher, u2);
  }));

  it('subscribing twice on one socket: a second subscription_succeeded, no second member_added', withServerLogs(async () => {
    const watcher = client(server, apps.main, { presence: user('w', 'W') });
    const cw = await subscribed(watcher.subscribe('presence-twice'));
    const gw = record(cw, 'pusher:member_added');
    const r = await rawClient(server, apps.main, { presence: user('r', 'R') });
    const first = await r.join('presence-twice');
    const second = await r.join('presence-twice');
    assert.equal(JSON.parse(second.data).presence.count, 2);
    assert.deepEqual(JSON.parse(first.data).presence.ids.sort(), ['r', 'w']);
    await mark(sdk, 'presence-twice', cw);
    assert.deepEqual(gw.map((g) => g.data.id), ['r']);
    assert.equal(cw.members.count, 2);
    // one unsubscribe leaves the channel
    r.send({ event: 'pusher:unsubscribe', data: { channel: 'presence-twice' } });
    await until('r removed', () => cw.members.count === 1, 5000);
    disconnectAll(watcher);
  }));

  it('switching user on one socket (unsubscribe as A, subscribe as B within the grace period): B joins, A leaves', withServerLogs(async () => {
    // An app where someone logs out and in again without a page reload:
    // pusher-js keeps the socket and re-subscribes with the new user's auth.
    const watcher = client(server, apps.main, { presence: user('w', 'W') });
    const cw = await subscribed(watcher.subscribe('presence-switch'));
    const gw = record(cw, 'pusher:member_added', 'pusher:member_removed');
    let who = user('A', 'A');
    const p = client(server, apps.main, { presence: () => who });
    await subscribed(p.subscribe('presence-switch'));
    await until('A added', () => gw.length === 1);
    p.unsubscribe('presence-switch');
    who = user('B', 'B');
    const again = p.subscribe('presence-switch');
    await subscribed(again);
    assert.deepEqual(Object.keys(again.members.members).sort(), ['B', 'w'],
      'subscription_succeeded for B must list B (itself) and not A');
    assert.equal(again.members.me && again.members.me.id, 'B');
    await until('B added and A removed', () => gw.length >= 3, 5000).catch(() => {});
    assert.deepEqual(gw.map((g) => `${g.event.replace('pusher:member_', '')} ${g.data.id}`).sort(), ['added A', 'added B', 'removed A']);
    assert.deepEqual(await users('presence-switch'), ['B', 'w']);
    p.disconnect();
    await until('B removed', async () => (await users('presence-switch')).join() === 'w', 5000)
      .catch(async () => assert.fail(`after the socket closed /users still lists ${await users('presence-switch')}`));
    disconnectAll(watcher);
  }));

  it('on the wire: ids, hash and count include self; numeric user_id becomes a string everywhere', withServerLogs(async () => {
    const a = await rawClient(server, apps.main, { presence: { user_id: 10, user_info: { name: 'Ten' } } });
    const ok = await a.join('presence-wire');
    assert.equal(typeof ok.data, 'string');
    assert.deepEqual(JSON.parse(ok.data), { presence: { ids: ['10'], hash: { 10: { name: 'Ten' } }, count: 1 } });

    const b = client(server, apps.main, { presence: { user_id: 11 } });
    const cb = await subscribed(b.subscribe('presence-wire'));
    // pusher-js keeps me.id as signed (a number); the lookup into the
    // server's string-keyed hash must still find the member.
    assert.equal(String(cb.members.me.id), '11');
    assert.ok(cb.members.get(11), 'me not found in the members hash');
    assert.deepEqual(Object.keys(cb.members.members).sort(), ['10', '11']);
    const added = await a.next((x) => x.event === 'pusher_internal:member_added');
    assert.equal(added.channel, 'presence-wire');
    assert.equal(JSON.parse(added.data).user_id, '11');

    b.unsubscribe('presence-wire');
    const removed = await a.next((x) => x.event === 'pusher_internal:member_removed', 5000);
    assert.deepEqual(JSON.parse(removed.data), { user_id: '11' });
    assert.deepEqual(await users('presence-wire'), ['10']);
    disconnectAll(b);
  }));
});
