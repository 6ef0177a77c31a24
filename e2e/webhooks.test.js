'use strict';
// Webhooks (protocol doc §6; checklist 73–78, 80): real pusher-js activity
// on a server whose apps file points webhooks at a loopback receiver here,
// which checks every request with the official SDK's pusher.webhook().
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { start, until, sleep, withServerLogs, PRESENCE_GRACE_MS } = require('./lib/server');
const { backend, client, closeAll, subscribed, disconnectAll, connected } = require('./lib/clients');

const ALL = ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'client_event', 'cache_miss', 'subscription_count'];

// receiver answers every POST 200 and keeps what the SDK made of it.
// /flaky answers its first request 500, to see the retry.
function receiver() {
  const requests = [];
  let flakyCalls = 0;
  const srv = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      requests.push({ path: req.url, headers: req.headers, rawBody: body });
      if (req.url === '/flaky' && ++flakyCalls === 1) { res.statusCode = 500; res.end(); return; }
      res.end('ok');
    });
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve({ srv, requests, url: `http://127.0.0.1:${srv.address().port}` })));
}

describe('webhooks', () => {
  let server, recv, hooked, flaky, batched, sdk, flakySdk, batchSdk;
  before(async () => {
    recv = await receiver();
    hooked = {
      id: '301', key: 'key-hooked', secret: 'secret-hooked', name: 'hooked', enable_client_messages: true,
      webhooks: [{ url: recv.url + '/hook', event_types: ALL }],
    };
    flaky = {
      id: '302', key: 'key-flaky', secret: 'secret-flaky', name: 'flaky',
      webhooks: [{ url: recv.url + '/flaky', event_types: ['channel_occupied'] }],
    };
    batched = {
      id: '303', key: 'key-batched', secret: 'secret-batched', name: 'batched', batch_webhooks: true,
      webhooks: [{ url: recv.url + '/batch', event_types: ['channel_occupied'] }],
    };
    server = await start({ apps: [hooked, flaky, batched] });
    sdk = backend(server, hooked);
    flakySdk = backend(server, flaky);
    batchSdk = backend(server, batched);
  });
  after(async () => { closeAll(); await server.stop(); await new Promise((r) => recv.srv.close(r)); });

  // events checks every request to path with the SDK and returns the
  // events of all of them, each with its request's index and time.
  const events = (path, who = sdk) => recv.requests.filter((r) => r.path === path).flatMap((r, i) => {
    const hook = who.webhook({ headers: r.headers, rawBody: r.rawBody });
    assert.equal(hook.isValid(), true, `webhook not valid for the SDK: ${JSON.stringify(r.headers)} ${r.rawBody}`);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(hook.getEvents().length, 1, 'without batch_webhooks one event per request');
    assert.equal(typeof JSON.parse(r.rawBody).time_ms, 'number');
    return hook.getEvents().map((e) => ({ ...e, request: i, time: hook.getTime() }));
  });
  const named = (name, channel) => events('/hook').filter((e) => e.name === name && e.channel === channel);
  const arrived = (what, name, channel, n = 1) => until(what, () => named(name, channel).length >= n);

  it('occupied, members, client events and vacated, signed as the pusher SDK expects', withServerLogs(async () => {
    const alice = client(server, hooked, { presence: { user_id: 'alice', user_info: { name: 'Alice' } } });
    const bob = client(server, hooked, { presence: { user_id: 'bob' } });
    const room = await subscribed(alice.subscribe('presence-room'));
    await arrived('channel_occupied', 'channel_occupied', 'presence-room');
    await arrived('member_added alice', 'member_added', 'presence-room');
    assert.deepEqual(named('member_added', 'presence-room').map((e) => e.user_id), ['alice']);

    const chat = await subscribed(alice.subscribe('private-chat'));
    await subscribed(bob.subscribe('private-chat'));
    assert.equal(chat.trigger('client-typing', { typing: true }), true);
    assert.equal(room.trigger('client-said', 'hello'), true);
    await arrived('client_event on private-chat', 'client_event', 'private-chat');
    await arrived('client_event on presence-room', 'client_event', 'presence-room');
    const [typing] = named('client_event', 'private-chat');
    assert.deepEqual({ ...typing, request: 0, time: 0 }, {
      name: 'client_event', channel: 'private-chat', event: 'client-typing', data: '{"typing":true}',
      socket_id: alice.connection.socket_id, request: 0, time: 0,
    });
    const [said] = named('client_event', 'presence-room');
    assert.equal(said.data, 'hello');
    assert.equal(said.user_id, 'alice');
    assert.equal(said.socket_id, alice.connection.socket_id);

    bob.unsubscribe('private-chat');
    alice.unsubscribe('private-chat');
    await arrived('channel_vacated private-chat', 'channel_vacated', 'private-chat');
    assert.equal(named('channel_occupied', 'private-chat').length, 1);

    disconnectAll(alice, bob);
    await arrived('member_removed alice', 'member_removed', 'presence-room');
    await arrived('channel_vacated presence-room', 'channel_vacated', 'presence-room');
    assert.deepEqual(named('member_removed', 'presence-room').map((e) => e.user_id), ['alice']);
  }));

  it('cache_miss when a subscriber finds nothing cached, not after a publish', withServerLogs(async () => {
    const a = client(server, hooked);
    await subscribed(a.subscribe('cache-prices'));
    await arrived('cache_miss', 'cache_miss', 'cache-prices');
    await sdk.trigger('cache-prices', 'price', { p: 1 });
    const b = client(server, hooked);
    await subscribed(b.subscribe('cache-prices'));
    await sdk.trigger('cache-other', 'price', { p: 2 }); // a publish to an empty cache channel: no miss
    const c = client(server, hooked);
    await subscribed(c.subscribe('cache-marker'));
    await arrived('cache_miss on the marker', 'cache_miss', 'cache-marker');
    assert.equal(named('cache_miss', 'cache-prices').length, 1);
    assert.equal(named('cache_miss', 'cache-other').length, 0);
    disconnectAll(a, b, c);
  }));

  it('a page reload within the presence grace sends neither vacated/occupied nor removed/added', withServerLogs(async () => {
    const first = client(server, hooked, { presence: { user_id: 'reloader' } });
    await subscribed(first.subscribe('presence-reload'));
    await subscribed(first.subscribe('reload-news'));
    await arrived('occupied', 'channel_occupied', 'reload-news');
    await arrived('member_added', 'member_added', 'presence-reload');

    first.disconnect();
    const second = client(server, hooked, { presence: { user_id: 'reloader' } });
    await subscribed(second.subscribe('presence-reload'));
    await subscribed(second.subscribe('reload-news'));
    await sleep(PRESENCE_GRACE_MS * 2);
    for (const [name, channel] of [['channel_vacated', 'reload-news'], ['channel_vacated', 'presence-reload'], ['member_removed', 'presence-reload']]) {
      assert.equal(named(name, channel).length, 0, `${name} on ${channel} during a reload`);
    }
    assert.equal(named('channel_occupied', 'reload-news').length, 1);
    assert.equal(named('member_added', 'presence-reload').length, 1);

    second.disconnect();
    await arrived('vacated after the grace', 'channel_vacated', 'reload-news');
    await arrived('member_removed after the grace', 'member_removed', 'presence-reload');
    await arrived('presence vacated after the grace', 'channel_vacated', 'presence-reload');
  }));

  it('batch_webhooks: events of a moment share one request, which the SDK reads as several', withServerLogs(async () => {
    const p = client(server, batched);
    await Promise.all(['b1', 'b2', 'b3'].map((ch) => subscribed(p.subscribe(ch))));
    const hooks = () => recv.requests.filter((r) => r.path === '/batch').map((r) => {
      const hook = batchSdk.webhook({ headers: r.headers, rawBody: r.rawBody });
      assert.equal(hook.isValid(), true);
      return hook.getEvents().map((e) => e.channel);
    });
    await until('three occupied', () => hooks().flat().length === 3);
    assert.deepEqual(hooks().flat().sort(), ['b1', 'b2', 'b3']);
    assert.ok(hooks().length < 3, `3 events in ${hooks().length} requests: not batched`);
    disconnectAll(p);
  }));

  it('a receiver answering 500 gets the same event again', withServerLogs(async () => {
    const p = client(server, flaky);
    await connected(p);
    await subscribed(p.subscribe('retried'));
    await until('the retry', () => recv.requests.filter((r) => r.path === '/flaky').length >= 2, 15000);
    const got = events('/flaky', flakySdk);
    assert.equal(got.length, 2);
    assert.deepEqual(got.map((e) => [e.name, e.channel]), [['channel_occupied', 'retried'], ['channel_occupied', 'retried']]);
    assert.equal(got[0].time.getTime(), got[1].time.getTime(), 'a retry carries the time the event was made');
    disconnectAll(p);
  }));
});
