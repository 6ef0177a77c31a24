'use strict';
// Every channel kind end to end (protocol doc §2, §3.3; checklist 16–17,
// 19, 30–36, 54–56, 71).
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { start, until, withServerLogs } = require('./lib/server');
const { backend, client, closeAll, connected, subscribed, record, waitFor, mark, rawClient, disconnectAll } = require('./lib/clients');
const apps = require('./lib/apps');

describe('channels', () => {
  let server, sdk;
  before(async () => { server = await start({ apps: apps.all }); sdk = backend(server, apps.main); });
  after(async () => { closeAll(); await server.stop(); });

  it('public: subscription_succeeded carries the channel and "{}"; a trigger reaches every subscriber byte for byte', withServerLogs(async () => {
    const r = await rawClient(server, apps.main);
    const ok = await r.subscribe('news');
    assert.equal(ok.event, 'pusher_internal:subscription_succeeded');
    assert.equal(ok.channel, 'news');
    assert.equal(ok.data, '{}');
    // auth on a public channel is ignored
    assert.equal((await r.subscribe('news-2', { auth: 'junk:junk' })).event, 'pusher_internal:subscription_succeeded');

    const a = client(server, apps.main), b = client(server, apps.main);
    const [ca, cb] = await Promise.all([subscribed(a.subscribe('news')), subscribed(b.subscribe('news'))]);
    const ga = record(ca, 'headline'), gb = record(cb, 'headline');
    const data = '{"id": 42,  "text":"héllo \\"world\\" ✓"}';
    await sdk.trigger('news', 'headline', data);
    await waitFor(ga); await waitFor(gb);
    assert.deepEqual(ga[0].data, { id: 42, text: 'héllo "world" ✓' });
    assert.deepEqual(gb[0].data, { id: 42, text: 'héllo "world" ✓' });
    const f = await r.next((x) => x.event === 'headline');
    assert.deepEqual(f, { event: 'headline', channel: 'news', data }, 'data must be delivered as the posted string');
    // a non-JSON string stays a string
    await sdk.trigger('news', 'plain', 'just text');
    assert.equal((await r.next((x) => x.event === 'plain')).data, 'just text');
    disconnectAll(a, b);
  }));

  it('subscription_succeeded comes before any event of that channel, even under a publish storm', withServerLogs(async () => {
    let stop = false;
    const storm = (async () => {
      let n = 0;
      while (!stop) await sdk.trigger(['storm'], 'tick', String(n++));
    })();
    const subscribers = [];
    try {
      for (let i = 0; i < 5; i++) {
        const r = await rawClient(server, apps.main);
        subscribers.push(r);
        await r.join('storm');
        await r.next((x) => x.event === 'tick');
      }
    } finally {
      stop = true;
      await storm;
    }
    for (const r of subscribers) {
      const first = r.frames.find((x) => x.channel === 'storm');
      assert.equal(first.event, 'pusher_internal:subscription_succeeded', `first frame on the channel: ${JSON.stringify(first)}`);
      const ticks = r.frames.filter((x) => x.event === 'tick').map((x) => Number(x.data));
      assert.deepEqual(ticks, [...ticks].sort((a, b) => a - b), 'events out of publish order');
    }
  }));

  it('subscribing twice: a second subscription_succeeded and still one delivery per event', withServerLogs(async () => {
    const r = await rawClient(server, apps.main);
    await r.join('twice');
    await r.join('twice');
    await sdk.trigger('twice', 'ev', 'x');
    await sdk.trigger('twice', 'end', 'x');
    await r.next((x) => x.event === 'end');
    assert.equal(r.count((x) => x.event === 'ev'), 1);
    const res = await sdk.get({ path: '/channels/twice', params: { info: 'subscription_count' } });
    assert.deepEqual(await res.json(), { occupied: true, subscription_count: 1 });
  }));

  it('one trigger to several channels; socket_id excludes that connection', withServerLogs(async () => {
    const a = client(server, apps.main), b = client(server, apps.main);
    const [a1, a2, b1] = await Promise.all([a.subscribe('multi-1'), a.subscribe('multi-2'), b.subscribe('multi-1')].map((c) => subscribed(c)));
    const ga1 = record(a1, 'ev'), ga2 = record(a2, 'ev'), gb1 = record(b1, 'ev');
    await sdk.trigger(['multi-1', 'multi-2', 'multi-3'], 'ev', { n: 1 });
    await waitFor(ga1); await waitFor(ga2); await waitFor(gb1);
    await sdk.trigger(['multi-1', 'multi-2'], 'ev', { n: 2 }, { socket_id: a.connection.socket_id });
    await waitFor(gb1, 2);
    await mark(sdk, 'multi-1', a1);
    await mark(sdk, 'multi-2', a2);
    assert.deepEqual(ga1.map((g) => g.data.n), [1], 'the excluded socket received the event on multi-1');
    assert.deepEqual(ga2.map((g) => g.data.n), [1], 'the excluded socket received the event on multi-2');
    assert.deepEqual(gb1.map((g) => g.data.n), [1, 2]);
    disconnectAll(a, b);
  }));

  it('private: subscribed with auth from the server SDK, events arrive', withServerLogs(async () => {
    const a = client(server, apps.main), b = client(server, apps.main);
    const [, cb] = await Promise.all([subscribed(a.subscribe('private-orders')), subscribed(b.subscribe('private-orders'))]);
    const got = record(cb, 'shipped');
    await sdk.trigger('private-orders', 'shipped', { id: 7 });
    await waitFor(got);
    assert.deepEqual(got[0].data, { id: 7 });
    disconnectAll(a, b);
  }));

  it('private-encrypted: the SDK encrypts, the wire carries only ciphertext, pusher-js decrypts', withServerLogs(async () => {
    const master = crypto.randomBytes(32).toString('base64');
    const enc = backend(server, apps.main, { encryptionMasterKeyBase64: master });
    const a = client(server, apps.main, { sdk: enc });
    const ch = await subscribed(a.subscribe('private-encrypted-vault'));
    const got = record(ch, 'secret');

    const r = await rawClient(server, apps.main);
    const { auth } = enc.authorizeChannel(r.id, 'private-encrypted-vault');
    assert.equal((await r.subscribe('private-encrypted-vault', { auth })).event, 'pusher_internal:subscription_succeeded');

    await enc.trigger('private-encrypted-vault', 'secret', { code: 'tr0ub4dor' });
    await waitFor(got);
    assert.deepEqual(got[0].data, { code: 'tr0ub4dor' });
    const f = await r.next((x) => x.event === 'secret');
    const payload = JSON.parse(f.data);
    assert.deepEqual(Object.keys(payload).sort(), ['ciphertext', 'nonce']);
    assert.ok(!f.data.includes('tr0ub4dor'), 'plaintext on the wire');
    disconnectAll(a);
  }));

  it('cache-: cache_miss when empty; later subscribers get the last event right after subscribing, existing ones not again', withServerLogs(async () => {
    const a = client(server, apps.main);
    await connected(a);
    const ca = a.subscribe('cache-prices');
    const ga = record(ca, 'pusher:cache_miss', 'price');
    await subscribed(ca);
    await waitFor(ga, 1, 5000, 'pusher:cache_miss');
    assert.equal(ga[0].event, 'pusher:cache_miss');

    await sdk.trigger('cache-prices', 'price', { eur: 1.07 });
    await sdk.trigger('cache-prices', 'price', { eur: 1.08 });
    await waitFor(ga, 3);

    const b = client(server, apps.main);
    const cb = b.subscribe('cache-prices');
    const gb = record(cb, 'pusher:cache_miss', 'price');
    await subscribed(cb);
    await waitFor(gb);
    assert.deepEqual(gb.map((g) => [g.event, g.data]), [['price', { eur: 1.08 }]], 'the cached (last) event');

    // on the wire: the cached event follows subscription_succeeded directly
    const r = await rawClient(server, apps.main);
    await r.join('cache-prices');
    const frames = r.frames.slice(1).map((x) => x.event);
    const ok = frames.indexOf('pusher_internal:subscription_succeeded');
    await r.next((x) => x.event === 'price');
    assert.equal(r.frames[ok + 2].event, 'price');
    assert.equal(r.frames[ok + 2].data, '{"eur":1.08}');

    const info = await (await sdk.get({ path: '/channels/cache-prices', params: { info: 'cache' } })).json();
    assert.equal(info.occupied, true);
    assert.equal(info.cache && info.cache.data, '{"eur":1.08}', `GET ?info=cache: ${JSON.stringify(info)}`);

    await mark(sdk, 'cache-prices', ca, cb);
    assert.equal(ga.length, 3, 'an existing subscriber got the cached event again');
    assert.equal(gb.length, 1);
    disconnectAll(a, b);
  }));

  it('private-cache- and presence-cache- cache too; client events do not fill the cache', withServerLogs(async () => {
    const a = client(server, apps.main, { presence: { user_id: 'c1' } });
    const [pc, prc] = await Promise.all([subscribed(a.subscribe('private-cache-x')), subscribed(a.subscribe('presence-cache-x'))]);
    pc.trigger('client-not-cached', { a: 1 });
    await sdk.trigger(['private-cache-x', 'presence-cache-x'], 'state', { v: 9 });
    await mark(sdk, 'private-cache-x', pc);
    await mark(sdk, 'presence-cache-x', prc);
    // mark itself is the last server event now; publish the state again
    await sdk.trigger(['private-cache-x', 'presence-cache-x'], 'state', { v: 10 });
    const b = client(server, apps.main, { presence: { user_id: 'c2' } });
    const cb1 = b.subscribe('private-cache-x'), cb2 = b.subscribe('presence-cache-x');
    const g1 = record(cb1, 'state', 'client-not-cached', 'pusher:cache_miss'), g2 = record(cb2, 'state', 'pusher:cache_miss');
    await waitFor(g1); await waitFor(g2);
    assert.deepEqual(g1.map((g) => [g.event, g.data]), [['state', { v: 10 }]]);
    assert.deepEqual(g2.map((g) => [g.event, g.data]), [['state', { v: 10 }]]);
    disconnectAll(a, b);
  }));

  it('subscription_count on an app that enables it, not on presence channels', withServerLogs(async () => {
    const csdk = backend(server, apps.counting);
    const a = client(server, apps.counting, { presence: { user_id: 'a' } }), b = client(server, apps.counting, { presence: { user_id: 'b' } });
    const ca = a.subscribe('room');
    const counts = record(ca, 'pusher:subscription_count');
    await subscribed(ca);
    await until('count 1', () => counts.some((c) => c.data.subscription_count === 1));
    const cb = await subscribed(b.subscribe('room'));
    await until('count 2 on the first subscriber', () => counts.some((c) => c.data.subscription_count === 2) && ca.subscriptionCount === 2);
    await until('count 2 on the second', () => cb.subscriptionCount === 2);
    b.unsubscribe('room');
    await until('count back to 1', () => counts.at(-1).data.subscription_count === 1 && ca.subscriptionCount === 1);

    const r = await rawClient(server, apps.counting, { presence: { user_id: 'r' } });
    await r.join('presence-counted');
    const pa = await subscribed(a.subscribe('presence-counted'));
    await csdk.trigger('presence-counted', 'end', {});
    await r.next((x) => x.event === 'end');
    await mark(csdk, 'presence-counted', pa);
    assert.equal(r.count((x) => x.event === 'pusher_internal:subscription_count'), 0, 'subscription_count on a presence channel');

    // and none at all on an app without the switch
    const plain = await rawClient(server, apps.main);
    await plain.join('room');
    const other = client(server, apps.main);
    await subscribed(other.subscribe('room'));
    await sdk.trigger('room', 'end', {});
    await plain.next((x) => x.event === 'end');
    assert.equal(plain.count((x) => x.event === 'pusher_internal:subscription_count'), 0, 'subscription_count with the switch off');
    disconnectAll(a, b, other);
  }));

  it('unsubscribe: no reply, no more events; unknown channels are ignored', withServerLogs(async () => {
    const r = await rawClient(server, apps.main);
    await r.join('leaving');
    await r.join('staying');
    const from = r.frames.length;
    r.send({ event: 'pusher:unsubscribe', data: { channel: 'leaving' } });
    r.send({ event: 'pusher:unsubscribe', data: { channel: 'never-joined' } });
    r.send({ event: 'pusher:ping', data: {} });
    await r.next((x) => x.event === 'pusher:pong', 5000, from);
    assert.deepEqual(r.frames.slice(from).map((x) => x.event), ['pusher:pong'], 'unsubscribe must not be answered');
    await sdk.trigger('leaving', 'ev', 'x');
    await sdk.trigger('staying', 'end', 'x');
    await r.next((x) => x.event === 'end');
    assert.equal(r.count((x) => x.event === 'ev'), 0);
    const res = await sdk.get({ path: '/channels/leaving' });
    assert.deepEqual(await res.json(), { occupied: false });

    // the same with pusher-js
    const a = client(server, apps.main);
    const ch = await subscribed(a.subscribe('leaving-js'));
    const got = record(ch, 'ev');
    a.unsubscribe('leaving-js');
    await until('vacated', async () => !(await (await sdk.get({ path: '/channels/leaving-js' })).json()).occupied);
    await sdk.trigger('leaving-js', 'ev', 'x');
    const keep = await subscribed(a.subscribe('staying'));
    await mark(sdk, 'staying', keep);
    assert.equal(got.length, 0);
    disconnectAll(a);
  }));
});
