'use strict';
// Client events (protocol doc §4; checklist 45–53).
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { start, until, withServerLogs } = require('./lib/server');
const { backend, client, closeAll, subscribed, record, errors, waitFor, mark, rawClient, disconnectAll } = require('./lib/clients');
const apps = require('./lib/apps');

describe('client events', () => {
  let server, sdk;
  before(async () => { server = await start({ apps: apps.all }); sdk = backend(server, apps.main); });
  after(async () => { closeAll(); await server.stop(); });

  it('reach the other subscribers (other tabs of the same user too), never the sender, data as sent', withServerLogs(async () => {
    const a = client(server, apps.main), b = client(server, apps.main), c = client(server, apps.main);
    const [ca, cb, cc] = await Promise.all([a, b, c].map((p) => subscribed(p.subscribe('private-chat'))));
    const ga = record(ca, 'client-typing'), gb = record(cb, 'client-typing'), gc = record(cc, 'client-typing');
    const data = { typing: true, n: [1, 2.5, null], s: 'é"\n' };
    assert.equal(ca.trigger('client-typing', data), true);
    await waitFor(gb); await waitFor(gc);
    assert.deepEqual(gb[0].data, data);
    assert.deepEqual(gc[0].data, data);
    await mark(sdk, 'private-chat', ca);
    assert.equal(ga.length, 0, 'echoed to the sender');

    // on the wire data stays a JSON value (object), not a string
    const r = await rawClient(server, apps.main);
    await r.join('private-chat');
    ca.trigger('client-typing', { raw: 1 });
    const f = await r.next((x) => x.event === 'client-typing');
    assert.deepEqual(f, { event: 'client-typing', channel: 'private-chat', data: { raw: 1 } });
    disconnectAll(a, b, c);
  }));

  it('carry the sender\'s user_id (a string) on presence channels; a forged user_id is replaced', withServerLogs(async () => {
    const a = client(server, apps.main, { presence: { user_id: 'ann' } });
    const a2 = client(server, apps.main, { presence: { user_id: 'ann' } }); // ann's other tab
    const b = client(server, apps.main, { presence: { user_id: 'ben' } });
    const [ca, ca2, cb] = await Promise.all([a, a2, b].map((p) => subscribed(p.subscribe('presence-chat'))));
    const got = record(cb, 'client-hi'), got2 = record(ca2, 'client-hi'), mine = record(ca, 'client-hi');
    ca.trigger('client-hi', 'hello');
    await waitFor(got); await waitFor(got2);
    assert.equal(got[0].data, 'hello');
    assert.equal(got[0].meta.user_id, 'ann');
    assert.equal(got2[0].meta.user_id, 'ann', 'the same user\'s other socket must receive it');
    await mark(sdk, 'presence-chat', ca);
    assert.equal(mine.length, 0, 'echoed to the sender');

    const r = await rawClient(server, apps.main, { presence: { user_id: 42 } });
    await r.join('presence-chat');
    r.send({ event: 'client-hi', channel: 'presence-chat', data: { x: 1 }, user_id: 'ann' });
    await waitFor(got, 2);
    assert.equal(got[1].meta.user_id, '42', 'user_id must be the signed-in member, as a string');
    ca.trigger('client-hi', 'from ann');
    const f = await r.next((x) => x.event === 'client-hi');
    assert.equal(f.user_id, 'ann');
    disconnectAll(a, a2, b);
  }));

  it('pusher-js on a public channel: refused with pusher:error, not delivered', withServerLogs(async () => {
    const a = client(server, apps.main), b = client(server, apps.main);
    const [ca, cb] = await Promise.all([subscribed(a.subscribe('public-room')), subscribed(b.subscribe('public-room'))]);
    const errs = errors(a);
    const got = record(cb, 'client-x');
    ca.trigger('client-x', { a: 1 });
    await until('pusher:error', () => errs.some((e) => e.type === 'PusherError'));
    assert.equal(errs[0].data.code, null);
    await mark(sdk, 'public-room', cb);
    assert.equal(got.length, 0);
    assert.equal(a.connection.state, 'connected');
    disconnectAll(a, b);
  }));

  it('refused on cache-, private-encrypted-, #server-to-user- and unsubscribed channels, and non client- names', withServerLogs(async () => {
    const enc = backend(server, apps.main, { encryptionMasterKeyBase64: Buffer.alloc(32, 1).toString('base64') });
    const r = await rawClient(server, apps.main), other = await rawClient(server, apps.main);
    for (const x of [r, other]) {
      await x.join('cache-room');
      await x.join('private-open');
      const ok = await x.subscribe('private-encrypted-x', { auth: enc.authorizeChannel(x.id, 'private-encrypted-x').auth });
      assert.equal(ok.event, 'pusher_internal:subscription_succeeded');
    }
    r.send({ event: 'pusher:signin', data: sdk.authenticateUser(r.id, { id: 'me' }) });
    await r.next((x) => x.event === 'pusher:signin_success');
    await r.join('#server-to-user-me');
    for (const [ch, ev] of [['cache-room', 'client-x'], ['private-encrypted-x', 'client-x'], ['#server-to-user-me', 'client-x'],
      ['private-not-joined', 'client-x'], ['private-open', 'not-client-x'], ['private-open', 'client-' + 'n'.repeat(200)]]) {
      const next = r.after();
      r.send({ event: ev, channel: ch, data: {} });
      const e = await next((x) => x.event === 'pusher:error' || x.event === ev);
      assert.equal(e.event, 'pusher:error', `${ev} on ${ch}: no error`);
      assert.notEqual(e.data.code, 4301, `${ev} on ${ch}: 4301 is for the rate limit only`);
    }
    r.send({ event: 'client-marker', channel: 'private-open', data: {} });
    await other.next((x) => x.event === 'client-marker');
    assert.deepEqual(other.frames.filter((x) => x.event.startsWith('client-x') || x.event === 'not-client-x' || x.event.startsWith('client-nnn')), [],
      'a refused client event was delivered');
    assert.equal(r.closeCode, null);
  }));

  it('refused when the app has client events switched off', withServerLogs(async () => {
    const r = await rawClient(server, apps.quiet), other = await rawClient(server, apps.quiet);
    await r.join('private-q'); await other.join('private-q');
    const next = r.after();
    r.send({ event: 'client-x', channel: 'private-q', data: {} });
    await next((x) => x.event === 'pusher:error');
    await backend(server, apps.quiet).trigger('private-q', 'end', {});
    await other.next((x) => x.event === 'end');
    assert.equal(other.count((x) => x.event === 'client-x'), 0);
  }));

  it('11 within a second: the 11th is refused with 4301, the connection stays open', withServerLogs(async () => {
    const r = await rawClient(server, apps.main), other = await rawClient(server, apps.main);
    await r.join('private-burst'); await other.join('private-burst');
    for (let i = 0; i < 11; i++) r.send({ event: 'client-burst', channel: 'private-burst', data: { i } });
    const err = await r.next((x) => x.event === 'pusher:error');
    assert.equal(err.data.code, 4301);
    await sdk.trigger('private-burst', 'end', {});
    await other.next((x) => x.event === 'end');
    assert.deepEqual(other.frames.filter((x) => x.event === 'client-burst').map((x) => x.data.i), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const pong = r.after();
    r.send({ event: 'pusher:ping', data: {} });
    await pong((x) => x.event === 'pusher:pong');
    assert.equal(r.closeCode, null);
  }));

  it('data over 10 KB is refused, 10 KB passes', withServerLogs(async () => {
    const r = await rawClient(server, apps.main), other = await rawClient(server, apps.main);
    await r.join('private-big'); await other.join('private-big');
    const next = r.after();
    r.send({ event: 'client-big', channel: 'private-big', data: 'x'.repeat(10 * 1024 + 1) });
    await next((x) => x.event === 'pusher:error');
    r.send({ event: 'client-ok', channel: 'private-big', data: 'y'.repeat(10 * 1024 - 2) }); // 10 240 bytes as JSON
    await other.next((x) => x.event === 'client-ok');
    assert.equal(other.count((x) => x.event === 'client-big'), 0);
  }));
});
