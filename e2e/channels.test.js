'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { start } = require('./lib/server');
const { closeAll, backend, client, connected, subscribed, collect, waitFor, sleep, raw, disconnectAll, once } = require('./lib/clients');
const apps = require('./lib/apps');

describe('channels', () => {
  let server, sdk;
  before(async () => { server = await start({ apps: apps.all }); sdk = backend(server, apps.main); });
  after(async () => { closeAll(); await server.stop(); });

  it('public channel: trigger reaches subscribers with data intact', async () => {
    const a = client(server, apps.main), b = client(server, apps.main);
    const ca = await subscribed(a.subscribe('news')), cb = await subscribed(b.subscribe('news'));
    const ga = collect(ca, 'headline'), gb = collect(cb, 'headline');
    await sdk.trigger('news', 'headline', { id: 42, text: 'héllo "world"' });
    await waitFor(ga); await waitFor(gb);
    assert.deepEqual(ga[0].data, { id: 42, text: 'héllo "world"' });
    assert.deepEqual(gb[0].data, { id: 42, text: 'héllo "world"' });
    disconnectAll(a, b);
  });

  it('one trigger to several channels, and socket_id exclusion', async () => {
    const a = client(server, apps.main), b = client(server, apps.main);
    const a1 = await subscribed(a.subscribe('multi-1')), a2 = await subscribed(a.subscribe('multi-2'));
    const b1 = await subscribed(b.subscribe('multi-1'));
    const got = [...[a1, a2].map((c) => collect(c, 'ev')), collect(b1, 'ev')];
    await sdk.trigger(['multi-1', 'multi-2'], 'ev', 'x');
    await waitFor(got[0]); await waitFor(got[1]); await waitFor(got[2]);
    await sdk.trigger('multi-1', 'ev', 'not to a', { socket_id: a.connection.socket_id });
    await waitFor(got[2], 2);
    await sleep(200);
    assert.equal(got[0].length, 1, 'excluded socket received the event');
    disconnectAll(a, b);
  });

  it('private channel with auth from the server SDK', async () => {
    const a = client(server, apps.main), b = client(server, apps.main);
    const ca = await subscribed(a.subscribe('private-orders'));
    const cb = await subscribed(b.subscribe('private-orders'));
    const got = collect(cb, 'shipped');
    await sdk.trigger('private-orders', 'shipped', { id: 7 });
    await waitFor(got);
    assert.deepEqual(got[0].data, { id: 7 });
    disconnectAll(a, b);
  });

  it('rejected authorization fires pusher:subscription_error', async () => {
    const wrong = backend(server, { ...apps.main, secret: 'not-the-secret' });
    const a = client(server, apps.main, { sdk: wrong });
    const ch = a.subscribe('private-denied');
    const err = await once(ch, 'pusher:subscription_error');
    assert.equal(err.status, 401);
    assert.equal(err.type, 'AuthError');
    assert.equal(ch.subscribed, false);
    disconnectAll(a);
  });

  it('private-encrypted channel: the SDK encrypts, pusher-js decrypts', async () => {
    const master = crypto.randomBytes(32).toString('base64');
    const enc = backend(server, apps.main, { encryptionMasterKeyBase64: master });
    const a = client(server, apps.main, { sdk: enc });
    const ch = await subscribed(a.subscribe('private-encrypted-vault'));
    const got = collect(ch, 'secret');
    await enc.trigger('private-encrypted-vault', 'secret', { code: 1234 });
    await waitFor(got);
    assert.deepEqual(got[0].data, { code: 1234 });
    // the wire carries only ciphertext
    const r = raw(server, `/app/${apps.main.key}?protocol=7`);
    const id = await r.socketId();
    r.send({ event: 'pusher:subscribe', data: { channel: 'private-encrypted-vault', auth: enc.authorizeChannel(id, 'private-encrypted-vault').auth } });
    await r.next((x) => x.event === 'pusher_internal:subscription_succeeded');
    await enc.trigger('private-encrypted-vault', 'secret', { code: 5678 });
    const f = await r.next((x) => x.event === 'secret');
    const payload = JSON.parse(f.data);
    assert.ok(payload.nonce && payload.ciphertext && !f.data.includes('5678'));
    r.ws.close();
    disconnectAll(a);
  });

  it('cache channel: cache_miss first, then the cached event to new subscribers only', async () => {
    const a = client(server, apps.main);
    await connected(a);
    const ch = a.subscribe('cache-prices');
    const miss = collect(ch, 'pusher:cache_miss');
    await subscribed(ch);
    await waitFor(miss);
    const prices = collect(ch, 'price');
    await sdk.trigger('cache-prices', 'price', { eur: 1.08 });
    await waitFor(prices);
    const b = client(server, apps.main);
    await connected(b);
    const cb = b.subscribe('cache-prices');
    const got = collect(cb, 'price');
    const bmiss = collect(cb, 'pusher:cache_miss');
    await waitFor(got);
    assert.deepEqual(got[0].data, { eur: 1.08 });
    await sleep(200);
    assert.equal(prices.length, 1, 'an existing subscriber got the cached event again');
    assert.equal(bmiss.length, 0);
    disconnectAll(a, b);
  });

  it('subscription_count when the app enables it', async () => {
    const a = client(server, apps.counting), b = client(server, apps.counting);
    const ca = a.subscribe('room');
    const counts = [];
    ca.bind('pusher:subscription_count', (d) => counts.push(d.subscription_count));
    await subscribed(ca);
    await subscribed(b.subscribe('room'));
    await waitFor(counts, 1);
    const { until } = require('./lib/server');
    await until('count 2', () => counts.includes(2) && ca.subscriptionCount === 2);
    disconnectAll(a, b);
  });

  it('invalid channel name and unauthenticated private subscribe are refused, connection stays', async () => {
    const r = raw(server, `/app/${apps.main.key}?protocol=7`);
    await r.socketId();
    r.send({ event: 'pusher:subscribe', data: { channel: 'has space', auth: '' } });
    const e1 = await r.next((x) => x.event === 'pusher:subscription_error');
    assert.equal(JSON.parse(e1.data).status, 400);
    r.send({ event: 'pusher:subscribe', data: { channel: 'a'.repeat(165), auth: '' } });
    await r.next((x) => x.event === 'pusher:subscription_error' && x.channel === 'a'.repeat(165));
    r.send({ event: 'pusher:subscribe', data: { channel: 'private-x' } });
    const e2 = await r.next((x) => x.event === 'pusher:subscription_error' && x.channel === 'private-x');
    assert.equal(JSON.parse(e2.data).status, 401);
    r.send({ event: 'pusher:subscribe', data: { channel: 'ok', auth: '' } });
    await r.next((x) => x.event === 'pusher_internal:subscription_succeeded' && x.channel === 'ok');
    r.ws.close();
  });

  it('unsubscribe stops delivery', async () => {
    const a = client(server, apps.main);
    const ch = await subscribed(a.subscribe('leaving'));
    const got = collect(ch, 'ev');
    a.unsubscribe('leaving');
    await sleep(100);
    await sdk.trigger('leaving', 'ev', 'x');
    await sleep(200);
    assert.equal(got.length, 0);
    disconnectAll(a);
  });
});
