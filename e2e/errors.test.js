'use strict';
// Refused connections, bad frames and refused subscriptions (protocol doc
// §1.2–1.4, §1.6, §2.4; checklist 4–8, 13, 18–24, 29, 41, 84).
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { start, until, sleep, withServerLogs } = require('./lib/server');
const { QUERY, backend, client, closeAll, connected, once, raw, rawClient, states, errors, disconnectAll } = require('./lib/clients');
const apps = require('./lib/apps');

// decode returns a frame's data as an object whether it came as a JSON
// string (the recommended form) or an object.
const decode = (d) => (typeof d === 'string' ? JSON.parse(d) : d);

// pusher-js gives up on 40xx: state `disconnected` and no new attempt.
// Without a retry the state stays put; a retry would show `connecting`
// within pusher-js's 1 s backoff, so watch for 1.5 s.
async function assertGivesUp(p, seen) {
  await until('pusher-js state disconnected', () => p.connection.state === 'disconnected');
  await sleep(1500);
  assert.deepEqual(seen, ['disconnected'], `pusher-js tried again: ${seen.join(' → ')}`);
}

describe('refused connections', () => {
  let server;
  before(async () => { server = await start({ apps: apps.all }); });
  after(async () => { closeAll(); await server.stop(); });

  for (const [what, key, code] of [['unknown app key', 'no-such-key', 4001], ['disabled app', apps.disabled.key, 4003]]) {
    it(`${what}: pusher:error ${code}, close ${code}; pusher-js ends disconnected without retrying`, withServerLogs(async () => {
      const r = raw(server, `/app/${key}?${QUERY}`);
      await r.opened; // the upgrade completes (no HTTP 4xx), then the error
      const f = await r.next((x) => x.event === 'pusher:error');
      assert.equal(typeof f.data, 'object', 'pusher:error data is an object');
      assert.equal(f.data.code, code);
      assert.equal(typeof f.data.message, 'string');
      assert.equal(await r.closedWithin(), code);
      assert.equal(r.count((x) => x.event === 'pusher:connection_established'), 0);

      const p = client(server, { key });
      await assertGivesUp(p, states(p));
    }));
  }

  it('over the connection quota: 4004; a freed slot can be used again', withServerLogs(async () => {
    const first = client(server, apps.single);
    await connected(first);
    const r = raw(server, `/app/${apps.single.key}?${QUERY}`);
    const f = await r.next((x) => x.event === 'pusher:error');
    assert.equal(f.data.code, 4004);
    assert.equal(await r.closedWithin(), 4004);

    const second = client(server, apps.single);
    const seen = states(second);
    await assertGivesUp(second, seen);
    first.disconnect();
    await until('the slot to be free again', async () => {
      const again = raw(server, `/app/${apps.single.key}?${QUERY}`);
      const ok = await again.next((x) => x.event === 'pusher:connection_established' || x.event === 'pusher:error');
      again.ws.terminate();
      return ok.event === 'pusher:connection_established';
    });
  }));

  for (const [what, query, code] of [
    ['protocol=99', 'protocol=99&client=js&version=8.6.0', 4007],
    ['protocol=abc', 'protocol=abc&client=js&version=8.6.0', 4007],
    ['protocol=3 (retired)', 'protocol=3&client=js&version=8.6.0', 4007],
    ['no protocol', 'client=js&version=8.6.0', 4008],
  ]) {
    it(`${what} → pusher:error and close ${code}`, withServerLogs(async () => {
      const r = raw(server, `/app/${apps.main.key}?${query}`);
      const f = await r.next((x) => x.event === 'pusher:error');
      assert.equal(f.data.code, code);
      assert.equal(await r.closedWithin(), code);
    }));
  }

  it('protocol 5 and 6 are accepted', withServerLogs(async () => {
    for (const v of [5, 6]) {
      const r = raw(server, `/app/${apps.main.key}?protocol=${v}&client=js&version=8.6.0`);
      await r.next((x) => x.event === 'pusher:connection_established');
      r.ws.close();
    }
  }));

  it('a path other than /app/{key} is a 404 before the upgrade or close 4005', withServerLogs(async () => {
    const res = await fetch(`${server.base}/not/a/pusher/path`);
    assert.equal(res.status, 404);
    const r = raw(server, `/application/${apps.main.key}?${QUERY}`);
    const outcome = await Promise.race([r.opened.then(() => 'open', (e) => e.message), r.closed.then((c) => `close ${c}`)]);
    if (outcome === 'open') assert.equal(await r.closedWithin(), 4005);
    else assert.match(outcome, /HTTP 404/);
  }));
});

describe('bad frames', () => {
  let server;
  before(async () => { server = await start({ apps: apps.all }); });
  after(async () => { closeAll(); await server.stop(); });

  for (const [what, frame] of [
    ['invalid JSON', 'this is {not json'],
    ['JSON without a string event', '{"data":{}}'],
    ['a JSON array', '[1,2,3]'],
  ]) {
    it(`${what} → pusher:error (code null), the connection stays open`, withServerLogs(async () => {
      const r = await rawClient(server, apps.main);
      const next = r.after();
      r.send(frame);
      const err = await next((x) => x.event === 'pusher:error');
      assert.equal(err.data.code, null);
      assert.equal(typeof err.data.message, 'string');
      const pong = r.after();
      r.send({ event: 'pusher:ping', data: {} });
      await pong((x) => x.event === 'pusher:pong');
      assert.equal(r.closeCode, null);
    }));
  }

  it('a frame over the 64 KB cap is closed with 1009; others are unaffected', withServerLogs(async () => {
    const r = await rawClient(server, apps.main), other = await rawClient(server, apps.main);
    r.send({ event: 'client-huge', channel: 'private-x', data: 'x'.repeat(70 * 1024) });
    assert.equal(await r.closedWithin(), 1009);
    const pong = other.after();
    other.send({ event: 'pusher:ping', data: {} });
    await pong((x) => x.event === 'pusher:pong');
  }));

  it('an event that is neither pusher:* nor client-* is not broadcast', withServerLogs(async () => {
    const a = await rawClient(server, apps.main), b = await rawClient(server, apps.main);
    await a.join('private-plain'); await b.join('private-plain');
    a.send({ event: 'not-a-client-event', channel: 'private-plain', data: {} });
    a.send({ event: 'client-marker', channel: 'private-plain', data: {} });
    await b.next((x) => x.event === 'client-marker');
    assert.equal(b.count((x) => x.event === 'not-a-client-event'), 0);
    assert.equal(a.closeCode, null);
  }));
});

describe('refused subscriptions', () => {
  let server, sdk, other;
  before(async () => {
    server = await start({ apps: apps.all });
    sdk = backend(server, apps.main);
    other = backend(server, apps.counting);
  });
  after(async () => { closeAll(); await server.stop(); });

  // expectRefused subscribes and checks the §2.4 shape: a channel-scoped
  // pusher:subscription_error {type, error, status}, then a pusher:error
  // that does not close the connection, and no state left behind.
  async function expectRefused(r, channel, extra, status) {
    const next = r.after();
    r.send({ event: 'pusher:subscribe', data: { channel, auth: '', ...extra } });
    const se = await next((x) => x.event === 'pusher:subscription_error' || x.event === 'pusher_internal:subscription_succeeded');
    assert.equal(se.event, 'pusher:subscription_error', `${channel} was accepted`);
    assert.equal(se.channel, channel);
    const d = decode(se.data);
    assert.equal(typeof d.type, 'string');
    assert.equal(typeof d.error, 'string');
    const want = [].concat(status);
    assert.ok(want.includes(d.status), `status for ${channel}: ${JSON.stringify(d)}, want ${want.join(' or ')}`);
    const pe = await next((x) => x.event === 'pusher:error');
    assert.ok(pe.data.code === null || pe.data.code === 4009, `pusher:error code ${pe.data.code}`);
    assert.ok(r.frames.indexOf(se) < r.frames.indexOf(pe), 'subscription_error must come first');
    const pong = r.after();
    r.send({ event: 'pusher:ping', data: {} });
    await pong((x) => x.event === 'pusher:pong');
    assert.equal(r.closeCode, null, 'the connection was closed');
    if (/^[A-Za-z0-9_\-=@,.;]+$/.test(channel) && channel.length <= 164) {
      const res = await sdk.get({ path: `/channels/${channel}` });
      assert.deepEqual(await res.json(), { occupied: false }, `${channel} is occupied after a refused subscription`);
    }
    return d;
  }

  it('invalid names: a space, 165 characters, empty', withServerLogs(async () => {
    const r = await rawClient(server, apps.main);
    const d = await expectRefused(r, 'has space', {}, 400);
    assert.equal(d.type, 'BadRequest');
    await expectRefused(r, 'a'.repeat(165), {}, 400);
    // An empty name cannot be routed to a channel object: a pusher:error
    // alone is enough.
    const next = r.after();
    r.send({ event: 'pusher:subscribe', data: { channel: '', auth: '' } });
    assert.equal((await next((x) => x.event === 'pusher:error' || x.event === 'pusher_internal:subscription_succeeded')).event, 'pusher:error');
    // 164 characters is fine
    assert.equal((await r.subscribe('b'.repeat(164))).event, 'pusher_internal:subscription_succeeded');
  }));

  it('private channels: missing auth, another socket\'s signature, another app\'s key', withServerLogs(async () => {
    const r = await rawClient(server, apps.main), s = await rawClient(server, apps.main);
    const enc = backend(server, apps.main, { encryptionMasterKeyBase64: Buffer.alloc(32, 7).toString('base64') });
    const d = await expectRefused(r, 'private-x', { auth: undefined }, 401);
    assert.equal(d.type, 'AuthError');
    await expectRefused(r, 'private-x', sdk.authorizeChannel(s.id, 'private-x'), 401);
    await expectRefused(r, 'private-x', other.authorizeChannel(r.id, 'private-x'), 401);
    const forged = sdk.authorizeChannel(r.id, 'private-x').auth.replace(/^[^:]+/, apps.counting.key);
    await expectRefused(r, 'private-x', { auth: forged }, 401);
    const { auth } = enc.authorizeChannel(s.id, 'private-encrypted-x');
    await expectRefused(r, 'private-encrypted-x', { auth }, 401);
    // the right one works
    assert.equal((await r.subscribe('private-x', sdk.authorizeChannel(r.id, 'private-x'))).event, 'pusher_internal:subscription_succeeded');
  }));

  it('presence: channel_data re-serialised after signing, missing channel_data, bad JSON', withServerLogs(async () => {
    const r = await rawClient(server, apps.main);
    const signed = sdk.authorizeChannel(r.id, 'presence-x', { user_id: 'u1', user_info: { name: 'U' } });
    const reserialised = JSON.stringify(JSON.parse(signed.channel_data), null, 1);
    await expectRefused(r, 'presence-x', { auth: signed.auth, channel_data: reserialised }, 401);
    // missing channel_data: malformed (400) or unverifiable (401), §2.4/§3.2
    await expectRefused(r, 'presence-x', { auth: signed.auth }, [400, 401]);
    const bad = 'not json';
    const badSig = require('node:crypto').createHmac('sha256', apps.main.secret).update(`${r.id}:presence-x:${bad}`).digest('hex');
    await expectRefused(r, 'presence-x', { auth: `${apps.main.key}:${badSig}`, channel_data: bad }, 400);
    const res = await sdk.get({ path: '/channels/presence-x/users' });
    assert.deepEqual(await res.json(), { users: [] });
  }));

  it('presence user_info over 1 KB is refused', withServerLogs(async () => {
    const r = await rawClient(server, apps.main);
    const d = await expectRefused(r, 'presence-big', sdk.authorizeChannel(r.id, 'presence-big', { user_id: 'big', user_info: { bio: 'b'.repeat(1100) } }), [400, 403]);
    assert.ok(d.type);
    const ok = await r.subscribe('presence-big', sdk.authorizeChannel(r.id, 'presence-big', { user_id: 'big', user_info: { bio: 'b'.repeat(900) } }));
    assert.equal(ok.event, 'pusher_internal:subscription_succeeded');
  }));

  it('presence member cap: the third member of a two-member channel gets 403', withServerLogs(async () => {
    const small = backend(server, apps.smallRooms);
    const join = async (user) => {
      const r = await rawClient(server, apps.smallRooms, { presence: { user_id: user } });
      return { r, reply: await r.subscribe('presence-tiny', small.authorizeChannel(r.id, 'presence-tiny', { user_id: user })) };
    };
    assert.equal((await join('1')).reply.event, 'pusher_internal:subscription_succeeded');
    assert.equal((await join('2')).reply.event, 'pusher_internal:subscription_succeeded');
    // same user again is not a new member
    assert.equal((await join('2')).reply.event, 'pusher_internal:subscription_succeeded');
    const third = await rawClient(server, apps.smallRooms);
    const next = third.after();
    third.send({ event: 'pusher:subscribe', data: { channel: 'presence-tiny', ...small.authorizeChannel(third.id, 'presence-tiny', { user_id: '3' }) } });
    const se = await next((x) => x.channel === 'presence-tiny');
    assert.equal(se.event, 'pusher:subscription_error');
    assert.equal(decode(se.data).status, 403);
    const users = await (await small.get({ path: '/channels/presence-tiny/users' })).json();
    assert.deepEqual(users.users.map((u) => u.id).sort(), ['1', '2']);
  }));

  it('#server-to-user-{id} without signin or for another user', withServerLogs(async () => {
    const r = await rawClient(server, apps.main);
    await expectRefused(r, '#server-to-user-7', {}, 401);
    r.send({ event: 'pusher:signin', data: sdk.authenticateUser(r.id, { id: '8' }) });
    await r.next((x) => x.event === 'pusher:signin_success');
    await expectRefused(r, '#server-to-user-7', {}, 401);
    assert.equal((await r.subscribe('#server-to-user-8')).event, 'pusher_internal:subscription_succeeded');
  }));

  it('pusher-js: channel.bind(\'pusher:subscription_error\') fires when the server refuses the auth', withServerLogs(async () => {
    const wrong = backend(server, { ...apps.main, secret: 'not-the-secret' });
    const p = client(server, apps.main, { sdk: wrong });
    const errs = errors(p);
    const ch = p.subscribe('private-denied');
    const err = await once(ch, 'pusher:subscription_error');
    assert.equal(err.status, 401);
    assert.equal(err.type, 'AuthError');
    assert.equal(ch.subscribed, false);
    await until('the pusher:error', () => errs.length > 0);
    assert.equal(p.connection.state, 'connected');
    disconnectAll(p);
  }));
});
