'use strict';
// pusher-js's HTTP fallbacks (protocol doc §8.4): a pusher-js client
// restricted to xhr_streaming, or to xhr_polling, connects, subscribes to
// public, private and presence channels, receives events and sends client
// events, exactly as over a WebSocket.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { start, until, withServerLogs } = require('./lib/server');
const { backend, client, closeAll, connected, subscribed, record, waitFor } = require('./lib/clients');
const apps = require('./lib/apps');

describe('HTTP fallbacks', () => {
  let server, sdk;
  before(async () => { server = await start({ apps: [apps.main] }); sdk = backend(server, apps.main); });
  after(async () => { closeAll(); await server.stop(); });

  for (const transport of ['xhr_streaming', 'xhr_polling']) {
    it(`${transport}: connect, subscribe, receive, send client events, presence`, withServerLogs(async () => {
      const options = { enabledTransports: [transport], httpHost: '127.0.0.1', httpPort: server.port, forceTLS: false };
      const p = client(server, apps.main, { presence: { user_id: `via-${transport}` }, options });
      await connected(p, 15000);
      assert.match(p.connection.socket_id, /^\d+\.\d+$/);
      const pub = await subscribed(p.subscribe('fallback-public'), 10000);
      const priv = await subscribed(p.subscribe('private-fallback'), 10000);
      const pres = await subscribed(p.subscribe('presence-fallback'), 10000);
      assert.ok(pres.members.get(`via-${transport}`));

      const got = record(pub, 'ev');
      await sdk.trigger('fallback-public', 'ev', { n: 1 });
      await sdk.trigger('fallback-public', 'ev', { n: 2 });
      await waitFor(got, 2, 10000);
      assert.deepEqual(got.map((e) => e.data.n), [1, 2]);

      // A WebSocket client on the same private channel hears the
      // fallback client's client event, and the other way round.
      const ws = client(server, apps.main);
      const other = await subscribed(ws.subscribe('private-fallback'));
      const heard = record(other, 'client-hi');
      assert.equal(priv.trigger('client-hi', { from: transport }), true);
      await waitFor(heard, 1, 10000);
      assert.deepEqual(heard[0].data, { from: transport });
      const back = record(priv, 'client-back');
      other.trigger('client-back', { ok: 1 });
      await waitFor(back, 1, 10000);

      p.disconnect();
      ws.disconnect();
    }));
  }

  it('answers CORS pre-flight and refuses an unknown session', withServerLogs(async () => {
    const base = `${server.base}/pusher/app/${apps.main.key}/123/abcdefgh`;
    const pre = await fetch(`${base}/xhr_streaming`, { method: 'OPTIONS', headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST' } });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.equal(pre.headers.get('access-control-allow-credentials'), 'true');
    const send = await fetch(`${base}/xhr_send`, { method: 'POST', body: '[]' });
    assert.equal(send.status, 404);
    assert.equal((await send.json()).code, 'session_not_found');
  }));
});
