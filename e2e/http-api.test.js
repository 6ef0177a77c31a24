'use strict';
// The Pusher HTTP API with the official server SDK, plus hand-signed
// requests for what the SDK refuses to send (protocol doc §5; checklist
// 54–70, 72).
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { start, until, withServerLogs } = require('./lib/server');
const { backend, client, closeAll, subscribed, record, waitFor, rawClient, disconnectAll } = require('./lib/clients');
const apps = require('./lib/apps');

// status resolves with the HTTP status of an SDK call (the SDK throws a
// RequestError carrying .status for every status >= 400).
async function status(promise) {
  try { return (await promise).status; } catch (e) { if (e.status) return e.status; throw e; }
}

// signed sends a request signed by hand the way the SDKs sign (auth
// version 1.0). opts: params (extra query), body (object → JSON), tsOffset
// (seconds), md5 (override body_md5), secret (override), order (query
// order in the URL: 'sorted' | 'reversed').
function signed(server, app, method, endpoint, { params = {}, body, tsOffset = 0, md5, secret = app.secret, order = 'sorted' } = {}) {
  const raw = body === undefined ? undefined : JSON.stringify(body);
  const path = `/apps/${app.id}${endpoint}`;
  const q = { ...params, auth_key: app.key, auth_timestamp: String(Math.floor(Date.now() / 1000) + tsOffset), auth_version: '1.0' };
  if (raw !== undefined) q.body_md5 = md5 || crypto.createHash('md5').update(raw).digest('hex');
  const toSign = Object.keys(q).sort().map((k) => `${k}=${q[k]}`).join('&');
  q.auth_signature = crypto.createHmac('sha256', secret).update(`${method}\n${path}\n${toSign}`).digest('hex');
  let keys = Object.keys(q).sort();
  if (order === 'reversed') keys = keys.reverse();
  const query = keys.map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(q[k])}`).join('&');
  return fetch(`${server.base}${path}?${query}`, {
    method, body: raw, headers: raw === undefined ? {} : { 'Content-Type': 'application/json' },
  });
}

describe('HTTP API', () => {
  let server, sdk;
  before(async () => { server = await start({ apps: apps.all }); sdk = backend(server, apps.main); });
  after(async () => { closeAll(); await server.stop(); });

  it('trigger: 200 {} and delivery; with info, counts per channel (user_count only on presence)', withServerLogs(async () => {
    const a = client(server, apps.main, { presence: { user_id: 'p1' } });
    const b = client(server, apps.main, { presence: { user_id: 'p1' } });
    const [news] = await Promise.all([subscribed(a.subscribe('t-news')), subscribed(b.subscribe('t-news')),
      subscribed(a.subscribe('presence-t-room')), subscribed(b.subscribe('presence-t-room'))]);
    const got = record(news, 'ev');
    const plain = await sdk.trigger('t-news', 'ev', { n: 1 });
    assert.equal(plain.status, 200);
    assert.match(plain.headers.get('content-type'), /^application\/json/);
    assert.deepEqual(await plain.json(), {});
    const res = await sdk.trigger(['t-news', 'presence-t-room'], 'ev', { n: 2 }, { info: 'subscription_count,user_count' });
    assert.deepEqual(await res.json(), { channels: {
      't-news': { subscription_count: 2 },
      'presence-t-room': { subscription_count: 2, user_count: 1 },
    } });
    await waitFor(got, 2);
    assert.deepEqual(got.map((g) => g.data.n), [1, 2]);
    disconnectAll(a, b);
  }));

  it('trigger with a single `channel` field (other SDKs send it) is accepted', withServerLogs(async () => {
    const r = await rawClient(server, apps.main);
    await r.join('single-field');
    const res = await signed(server, apps.main, 'POST', '/events', { body: { name: 'ev', data: '{"one":1}', channel: 'single-field' } });
    assert.equal(res.status, 200);
    assert.deepEqual(await r.next((x) => x.event === 'ev'), { event: 'ev', channel: 'single-field', data: '{"one":1}' });
  }));

  it('triggerBatch: delivery in order, info aligned with the request; 10 items pass, 11 are refused', withServerLogs(async () => {
    const a = client(server, apps.main);
    const ch = await subscribed(a.subscribe('b-news'));
    const got = record(ch, 'ev');
    const batch = await sdk.triggerBatch([
      { channel: 'b-news', name: 'ev', data: { n: 1 } },
      { channel: 'b-news', name: 'ev', data: { n: 2 }, info: 'subscription_count' },
      { channel: 'b-empty', name: 'ev', data: { n: 3 } },
    ]);
    assert.equal(batch.status, 200);
    assert.deepEqual(await batch.json(), { batch: [{}, { subscription_count: 1 }, {}] });
    await waitFor(got, 2);
    assert.deepEqual(got.map((g) => g.data.n), [1, 2]);
    const ten = Array.from({ length: 10 }, (_, i) => ({ channel: 'b-news', name: 'ten', data: String(i) }));
    assert.equal(await status(sdk.triggerBatch(ten)), 200);
    assert.equal(await status(sdk.triggerBatch([...ten, ten[0]])), 400);
    disconnectAll(a);
  }));

  it('channel queries: /channels, /channels/{name}?info=…, /channels/{presence}/users', withServerLogs(async () => {
    const a = client(server, apps.main, { presence: { user_id: 'u1' } });
    const b = client(server, apps.main, { presence: { user_id: 'u2' } });
    const c = client(server, apps.main, { presence: { user_id: 'u2' } });
    await Promise.all([a, b, c].map((p) => subscribed(p.subscribe('presence-q-room'))));
    await Promise.all([a, b].map((p) => subscribed(p.subscribe('q-news'))));
    const signedIn = await rawClient(server, apps.main);
    signedIn.send({ event: 'pusher:signin', data: sdk.authenticateUser(signedIn.id, { id: 'listed' }) });
    await signedIn.next((x) => x.event === 'pusher:signin_success');
    await signedIn.join('#server-to-user-listed');
    const get = async (path, params) => {
      const res = await sdk.get({ path, params });
      assert.equal(res.status, 200, `GET ${path}`);
      return res.json();
    };

    const all = await get('/channels', { filter_by_prefix: 'q-' });
    assert.deepEqual(all, { channels: { 'q-news': {} } });
    const everything = await get('/channels');
    assert.ok(everything.channels['q-news'] && everything.channels['presence-q-room'], JSON.stringify(everything));
    assert.ok(!Object.keys(everything.channels).some((n) => n.startsWith('#')), 'server-to-user channels listed');
    assert.deepEqual(await get('/channels', { filter_by_prefix: 'presence-q-', info: 'user_count' }),
      { channels: { 'presence-q-room': { user_count: 2 } } });
    assert.equal(await status(sdk.get({ path: '/channels', params: { info: 'user_count' } })), 400);

    assert.deepEqual(await get('/channels/q-news', { info: 'subscription_count' }), { occupied: true, subscription_count: 2 });
    assert.deepEqual(await get('/channels/presence-q-room', { info: 'user_count,subscription_count' }),
      { occupied: true, user_count: 2, subscription_count: 3 });
    assert.deepEqual(await get('/channels/q-nobody'), { occupied: false });
    assert.equal(await status(sdk.get({ path: '/channels/q-news', params: { info: 'user_count' } })), 400);
    assert.equal(await status(sdk.get({ path: '/channels/bad name' })), 400);

    const users = await get('/channels/presence-q-room/users');
    assert.deepEqual(users.users.map((u) => u.id).sort(), ['u1', 'u2']);
    assert.deepEqual(Object.keys(users.users[0]), ['id']);
    assert.deepEqual(await get('/channels/presence-q-nobody/users'), { users: [] });
    assert.equal(await status(sdk.get({ path: '/channels/q-news/users' })), 400);

    // the occupancy follows the sockets
    disconnectAll(a, b, c);
    await until('vacated', async () => !(await get('/channels/q-news')).occupied);
    await until('presence vacated', async () => (await get('/channels/presence-q-room/users')).users.length === 0);
  }));

  it('sendToUser and terminateUserConnections answer 200 {} (also for a user who is not connected)', withServerLogs(async () => {
    const r = await rawClient(server, apps.main);
    r.send({ event: 'pusher:signin', data: sdk.authenticateUser(r.id, { id: 'http-user' }) });
    await r.next((x) => x.event === 'pusher:signin_success');
    await r.join('#server-to-user-http-user');
    const sent = await sdk.sendToUser('http-user', 'note', { a: 1 });
    assert.equal(sent.status, 200);
    const f = await r.next((x) => x.event === 'note');
    assert.deepEqual(f, { event: 'note', channel: '#server-to-user-http-user', data: '{"a":1}' });
    assert.equal((await sdk.sendToUser('nobody', 'e', { a: 1 })).status, 200);
    const gone = await sdk.terminateUserConnections('nobody');
    assert.equal(gone.status, 200);
    assert.deepEqual(await gone.json(), {});
    assert.equal((await sdk.terminateUserConnections('http-user')).status, 200);
    assert.equal(await r.closedWithin(), 4009);
  }));

  it('authentication: wrong secret 401, unknown key 401, unknown app 404, stale or future timestamp 401, bad body_md5 401, disabled app 403', withServerLogs(async () => {
    const wrongSecret = backend(server, { ...apps.main, secret: 'wrong' });
    let err;
    try { await wrongSecret.trigger('c', 'e', 'x'); } catch (e) { err = e; }
    assert.equal(err && err.status, 401);
    // the body names the string to sign (never the secret)
    const why = JSON.parse(err.body).error;
    assert.ok(why.replace(/\\n/g, '\n').includes('POST\n/apps/101/events\nauth_key=key-main&auth_timestamp='), `401 body: ${err.body}`);
    assert.ok(!why.includes(apps.main.secret));
    assert.equal(await status(wrongSecret.get({ path: '/channels' })), 401);
    assert.equal(await status(backend(server, { ...apps.main, key: 'unknown' }).trigger('c', 'e', 'x')), 401);
    assert.equal(await status(backend(server, { ...apps.main, id: '999' }).trigger('c', 'e', 'x')), 404);
    assert.equal(await status(backend(server, apps.disabled).trigger('c', 'e', 'x')), 403);

    const body = { name: 'e', data: 'x', channels: ['c'] };
    assert.equal((await signed(server, apps.main, 'POST', '/events', { body })).status, 200);
    assert.equal((await signed(server, apps.main, 'POST', '/events', { body, tsOffset: -601 })).status, 401);
    assert.equal((await signed(server, apps.main, 'POST', '/events', { body, tsOffset: 601 })).status, 401);
    assert.equal((await signed(server, apps.main, 'POST', '/events', { body, tsOffset: -500 })).status, 200);
    assert.equal((await signed(server, apps.main, 'POST', '/events', { body, md5: 'f'.repeat(32) })).status, 401);
    assert.equal((await signed(server, apps.main, 'POST', '/events', { body, secret: apps.counting.secret })).status, 401);
    // parameter order in the URL does not matter, values are signed decoded
    const res = await signed(server, apps.main, 'GET', '/channels', { params: { filter_by_prefix: 'presence-', info: 'user_count' }, order: 'reversed' });
    assert.equal(res.status, 200);
    assert.equal((await signed(server, apps.main, 'GET', '/no-such-endpoint')).status, 404);
    assert.ok([404, 405].includes((await signed(server, apps.main, 'GET', '/events')).status), 'GET /events');
  }));

  it('limits: 10 KB data passes, one byte more is 413; 101 channels, long names, bad channel or socket_id are 400', withServerLogs(async () => {
    assert.equal(await status(sdk.trigger('c', 'e', 'x'.repeat(10 * 1024))), 200);
    assert.equal(await status(sdk.trigger('c', 'e', 'x'.repeat(10 * 1024 + 1))), 413);
    assert.equal(await status(sdk.triggerBatch([{ channel: 'c', name: 'e', data: 'x'.repeat(10 * 1024 + 1) }])), 413);
    const post = (body) => signed(server, apps.main, 'POST', '/events', { body }).then((r) => r.status);
    // the SDK refuses these itself; the server must too
    assert.equal(await post({ name: 'e', data: 'x', channels: Array.from({ length: 100 }, (_, i) => `c${i}`) }), 200);
    assert.equal(await post({ name: 'e', data: 'x', channels: Array.from({ length: 101 }, (_, i) => `c${i}`) }), 400);
    assert.equal(await post({ name: 'e'.repeat(200), data: 'x', channels: ['c'] }), 200);
    assert.equal(await post({ name: 'e'.repeat(201), data: 'x', channels: ['c'] }), 400);
    assert.equal(await post({ name: 'e', data: 'x', channels: ['bad name'] }), 400);
    assert.equal(await post({ name: 'e', data: 'x', channels: ['c'.repeat(165)] }), 400);
    assert.equal(await post({ name: 'e', data: 'x', channels: ['c'], socket_id: 'abc' }), 400);
    assert.equal(await post({ name: 'e', data: 'x', channels: [] }), 400);
    assert.equal(await post({ data: 'x', channels: ['c'] }), 400);
    assert.equal(await post({ name: 'pusher:fake', data: 'x', channels: ['c'] }), 400);
    assert.equal((await signed(server, apps.main, 'POST', '/batch_events', { body: { batch: Array.from({ length: 11 }, () => ({ channel: 'c', name: 'e', data: 'x' })) } })).status, 400);
  }));

  it('a burst over max_backend_events_per_second (5) gets 429 with Retry-After', withServerLogs(async () => {
    // The bucket may hold more than one second's worth (the server sizes
    // it to fit one full batch of 10), so burst 20 and expect refusals
    // past at most 10 + a refill.
    const lim = backend(server, apps.limited);
    const viaSDK = await Promise.all(Array.from({ length: 20 }, () => status(lim.trigger('c', 'e', 'x'))));
    const ok = viaSDK.filter((s) => s === 200).length;
    assert.ok(ok >= 1 && ok <= 11 && viaSDK.every((s) => s === 200 || s === 429), `statuses ${viaSDK}`);
    // by hand, to see the header
    const body = { name: 'e', data: 'x', channels: ['c'] };
    const results = await Promise.all(Array.from({ length: 20 }, () => signed(server, apps.limited, 'POST', '/events', { body })));
    const limited = results.filter((r) => r.status === 429);
    assert.ok(limited.length >= 9, `statuses ${results.map((r) => r.status)}`);
    assert.ok(Number(limited[0].headers.get('retry-after')) >= 1, `Retry-After: ${limited[0].headers.get('retry-after')}`);
    // the main app (unlimited) is unaffected
    assert.equal(await status(sdk.trigger('c', 'e', 'x')), 200);
  }));
});
