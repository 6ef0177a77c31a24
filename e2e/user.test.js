'use strict';
// User authentication, server-to-user events, watchlists and terminating a
// user's connections (protocol doc §3.4–3.7, §7; checklist 37–44).
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { start, until, sleep, withServerLogs, PRESENCE_GRACE_MS } = require('./lib/server');
const { QUERY, backend, client, closeAll, connected, subscribed, once, record, states, errors, waitFor, raw, rawClient, disconnectAll } = require('./lib/clients');
const apps = require('./lib/apps');

describe('user authentication', () => {
  let server, sdk;
  before(async () => { server = await start({ apps: apps.all }); sdk = backend(server, apps.main); });
  after(async () => { closeAll(); await server.stop(); });

  async function signedIn(user, app = apps.main) {
    const p = client(server, app, { user });
    await connected(p);
    const ok = once(p, 'pusher:signin_success');
    p.signin();
    await ok;
    await until(`#server-to-user-${user.id} subscribed`, () => p.user.serverToUserChannel && p.user.serverToUserChannel.subscribed);
    return p;
  }

  it('pusher:signin_success carries the user_data string as sent', withServerLogs(async () => {
    const r = await rawClient(server, apps.main);
    const signed = sdk.authenticateUser(r.id, { id: 'ann', user_info: { name: 'Ann' }, watchlist: [] });
    r.send({ event: 'pusher:signin', data: signed });
    const ok = await r.next((x) => x.event === 'pusher:signin_success');
    assert.equal(typeof ok.data, 'string');
    assert.deepEqual(JSON.parse(ok.data), { user_data: signed.user_data });
    assert.equal((await r.subscribe('#server-to-user-ann')).event, 'pusher_internal:subscription_succeeded');
  }));

  it('pusher.signin(), then sendToUser reaches every connection of that user on pusher.user, nobody else', withServerLogs(async () => {
    const a1 = await signedIn({ id: 'u-1' }), a2 = await signedIn({ id: 'u-1' }), b = await signedIn({ id: 'u-2' });
    assert.equal(a1.user.user_data.id, 'u-1');
    const g1 = record(a1.user, 'note'), g2 = record(a2.user, 'note'), gb = record(b.user, 'note');
    await sdk.sendToUser('u-1', 'note', { hi: 1 });
    await waitFor(g1); await waitFor(g2);
    assert.deepEqual(g1[0].data, { hi: 1 });
    assert.deepEqual(g2[0].data, { hi: 1 });
    await sdk.sendToUser('u-2', 'note', { hi: 2 });
    await waitFor(gb);
    assert.deepEqual(gb.map((g) => g.data), [{ hi: 2 }], 'u-2 received u-1\'s event');
    assert.equal(g1.length, 1);
    disconnectAll(a1, a2, b);
  }));

  for (const [what, signed] of [
    ['a bad signature', (id) => ({ auth: `${apps.main.key}:${'0'.repeat(64)}`, user_data: '{"id":"x"}' })],
    ['another app\'s key', (id) => backend(server, apps.counting).authenticateUser(id, { id: 'x' })],
    ['user_data without id', (id) => signUserData(id, '{"user_info":{}}')],
    ['user_data that is not JSON', (id) => signUserData(id, 'not json')],
  ]) {
    it(`signin with ${what}: pusher:error 4009, no signin_success`, withServerLogs(async () => {
      const r = await rawClient(server, apps.main);
      const next = r.after();
      r.send({ event: 'pusher:signin', data: signed(r.id) });
      const e = await next((x) => x.event === 'pusher:error' || x.event === 'pusher:signin_success');
      assert.equal(e.event, 'pusher:error');
      assert.equal(e.data.code, 4009);
      // Not signed in: the user's channel stays closed to this socket.
      const reply = await r.subscribe('#server-to-user-x');
      assert.equal(reply.event, 'pusher:subscription_error');
    }));
  }

  it('watchlist: the initial status after signin, then online, then offline after the grace period', withServerLogs(async () => {
    const already = await signedIn({ id: 'x' });
    const watcher = client(server, apps.main, { user: { id: 'w', watchlist: ['x', 'y', 'z'] } });
    await connected(watcher);
    const events = [];
    watcher.user.watchlist.bind('online', (e) => events.push(['online', ...e.user_ids.slice().sort()]));
    watcher.user.watchlist.bind('offline', (e) => events.push(['offline', ...e.user_ids.slice().sort()]));
    watcher.signin();
    await until('the initial status', () => events.some((e) => e.includes('x')) && events.some((e) => e.includes('y')));
    const initial = events.splice(0);
    assert.ok(initial.some((e) => e[0] === 'online' && e.includes('x')), `initial ${JSON.stringify(initial)}`);
    assert.ok(initial.some((e) => e[0] === 'offline' && e.includes('y') && e.includes('z')), `initial ${JSON.stringify(initial)}`);

    const y = await signedIn({ id: 'y' });
    await until('y online', () => events.length > 0);
    assert.deepEqual(events.splice(0), [['online', 'y']]);
    // a second socket of y is not news
    const y2 = await signedIn({ id: 'y' });
    // someone not on the list comes and goes
    const stranger = await signedIn({ id: 'stranger' });
    stranger.disconnect();
    y.disconnect();
    y2.disconnect();
    const left = Date.now();
    await until('y offline', () => events.length > 0, 5000);
    const held = Date.now() - left;
    assert.deepEqual(events.splice(0), [['offline', 'y']]);
    assert.ok(held >= PRESENCE_GRACE_MS - 100, `offline after ${held} ms, grace is ${PRESENCE_GRACE_MS} ms`);
    disconnectAll(already, watcher);
  }));

  it('terminateUserConnections: pusher:error then close 4009 for that user\'s sockets only; pusher-js does not reconnect', withServerLogs(async () => {
    const watcher = client(server, apps.main, { user: { id: 'watch-bye', watchlist: ['bye'] } });
    await connected(watcher);
    const watched = [];
    watcher.user.watchlist.bind('online', (e) => watched.push(['online', ...e.user_ids]));
    watcher.user.watchlist.bind('offline', (e) => watched.push(['offline', ...e.user_ids]));
    watcher.signin();
    await until('bye offline at first', () => watched.length > 0);
    const a = client(server, apps.main, { user: { id: 'bye' }, presence: { user_id: 'bye' } });
    await connected(a);
    a.signin();
    await until('bye online', () => watched.some((w) => w[0] === 'online'));
    const other = await signedIn({ id: 'stay' });
    const room = await subscribed(other.subscribe('presence-term-a'));
    await subscribed(a.subscribe('presence-term-a'));
    await until('bye in the room', () => room.members.count === 2);
    const r = await rawClient(server, apps.main);
    r.send({ event: 'pusher:signin', data: sdk.authenticateUser(r.id, { id: 'bye' }) });
    await r.next((x) => x.event === 'pusher:signin_success');
    // a presence member with the same user_id that never signed in stays
    const member = await rawClient(server, apps.main, { presence: { user_id: 'bye' } });
    await member.join('presence-terminate');
    const seen = states(a), errs = errors(a);

    const res = await sdk.terminateUserConnections('bye');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {});
    assert.equal(await r.closedWithin(), 4009);
    const err = r.frames.find((x) => x.event === 'pusher:error');
    assert.equal(err && err.data.code, 4009, 'no pusher:error 4009 before the close');
    await until('pusher-js disconnected', () => a.connection.state === 'disconnected');
    assert.ok(errs.codes().includes(4009), `pusher-js saw ${JSON.stringify(errs.codes())}`);
    await sleep(1500); // a retry would show up as `connecting` within 1 s
    assert.deepEqual(seen, ['disconnected'], `pusher-js went ${seen.join(' → ')}`);
    assert.equal(other.connection.state, 'connected');
    // the usual leave side effects: member_removed and watchlist offline
    await until('bye removed from the room', () => room.members.count === 1, 5000);
    await until('bye offline', () => watched.at(-1)[0] === 'offline', 5000);
    assert.deepEqual(watched.map((w) => w.join(' ')), ['offline bye', 'online bye', 'offline bye']);
    const pong = member.after();
    member.send({ event: 'pusher:ping', data: {} });
    await pong((x) => x.event === 'pusher:pong');
    assert.equal(member.closeCode, null, 'a socket that never signed in was terminated');
    disconnectAll(a, other, watcher);
  }));

  it('an app that requires sign-in closes sockets that do not sign in within 2 s with 4009, keeps signed-in ones', withServerLogs(async () => {
    const p = await signedIn({ id: 'ok' }, apps.signinRequired);
    const opened = Date.now();
    const r = raw(server, `/app/${apps.signinRequired.key}?${QUERY}`);
    const lazy = client(server, apps.signinRequired);
    const lazyStates = states(lazy);
    await r.socketId();
    assert.equal(await r.closedWithin(6000), 4009);
    await until('pusher-js without signin disconnected', () => lazy.connection.state === 'disconnected', 5000);
    const lived = Date.now() - opened;
    assert.ok(lived >= 1500, `closed after ${lived} ms; the deadline is 2 s`);
    // p connected before r and signed in: it is past its own deadline
    assert.equal(p.connection.state, 'connected');
    const got = record(p.user, 'hello');
    await backend(server, apps.signinRequired).sendToUser('ok', 'hello', {});
    await waitFor(got);
    assert.deepEqual(lazyStates.filter((s) => s === 'connecting'), [], `pusher-js retried after 4009: ${lazyStates.join(' → ')}`);
    disconnectAll(p, lazy);
  }));
});

// signUserData signs an arbitrary user_data string (the SDK refuses to
// sign user data without an id).
function signUserData(socketId, userData) {
  const sig = require('node:crypto').createHmac('sha256', apps.main.secret).update(`${socketId}::user::${userData}`).digest('hex');
  return { auth: `${apps.main.key}:${sig}`, user_data: userData };
}
