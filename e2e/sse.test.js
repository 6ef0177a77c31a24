'use strict';
// Server-Sent Events (docs/history.md): a receive-only stream of channel
// events whose ids carry the channels' positions, so a client that comes
// back with Last-Event-ID (as a browser's EventSource does) gets what it
// missed; private channels need a signed auth from the app's backend.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { start, until, withServerLogs } = require('./lib/server');
const { backend } = require('./lib/clients');
const apps = require('./lib/apps');

// stream reads an SSE response into messages {id, event, data}.
function stream(url, headers = {}) {
  const ctrl = new AbortController();
  const s = { messages: [], status: 0, close: () => ctrl.abort() };
  s.ready = fetch(url, { headers, signal: ctrl.signal }).then(async (res) => {
    s.status = res.status;
    s.contentType = res.headers.get('content-type');
    if (res.status !== 200) { s.body = await res.json(); return; }
    const reader = res.body.getReader();
    let buf = '';
    (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buf += Buffer.from(value).toString('utf8');
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i); buf = buf.slice(i + 2);
            const m = { data: [] };
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) continue;
              const [k, ...rest] = line.split(': ');
              if (k === 'data') m.data.push(rest.join(': ')); else m[k] = rest.join(': ');
            }
            if (m.data.length) { m.data = m.data.join('\n'); s.messages.push(m); }
          }
        }
      } catch { /* aborted */ }
    })();
  });
  s.events = (name) => s.messages.filter((m) => !m.event).map((m) => JSON.parse(m.data)).filter((f) => !name || f.event === name);
  return s;
}

describe('Server-Sent Events', () => {
  let server, sdk;
  before(async () => {
    server = await start({ apps: [apps.main, apps.counting] }); // main opts in to history, counting does not
    sdk = backend(server, apps.main);
  });
  after(async () => { await server.stop(); });
  const url = (q) => `${server.base}/app/${apps.main.key}/events?${q}`;

  it('streams channel events with positions, and resumes from Last-Event-ID without loss', withServerLogs(async () => {
    const a = stream(url('channels=sse-a,sse-b'));
    await a.ready;
    assert.equal(a.status, 200);
    assert.match(a.contentType, /^text\/event-stream/);
    await until('both subscriptions', () => a.events('pusher_internal:subscription_succeeded').length === 2);
    await sdk.trigger('sse-a', 'tick', { n: 1 });
    await sdk.trigger('sse-b', 'tick', { n: 2 });
    await until('two ticks', () => a.events('tick').length === 2);
    const ticks = a.events('tick');
    assert.deepEqual(ticks.map((f) => [f.channel, JSON.parse(f.data).n, f.seq]), [['sse-a', 1, 1], ['sse-b', 2, 1]]);
    const lastID = a.messages.filter((m) => m.id).pop().id;
    a.close();

    await sdk.trigger('sse-a', 'tick', { n: 3 });
    await sdk.trigger('sse-b', 'tick', { n: 4 });
    await sdk.trigger('sse-a', 'tick', { n: 5 });
    const b = stream(url('channels=sse-a,sse-b'), { 'Last-Event-ID': lastID });
    await b.ready;
    await until('the missed ticks', () => b.events('tick').length === 3);
    await sdk.trigger('sse-b', 'tick', { n: 6 });
    await until('the live tick', () => b.events('tick').length === 4);
    const byChannel = (ch) => b.events('tick').filter((f) => f.channel === ch).map((f) => JSON.parse(f.data).n);
    assert.deepEqual(byChannel('sse-a'), [3, 5]);
    assert.deepEqual(byChannel('sse-b'), [4, 6]);
    b.close();
  }));

  it('an app without history cannot resume: recovery_failed, then live events', withServerLogs(async () => {
    const off = backend(server, apps.counting);
    const offURL = `${server.base}/app/${apps.counting.key}/events?channels=sse-off`;
    const a = stream(offURL);
    await a.ready;
    await until('subscribed', () => a.events('pusher_internal:subscription_succeeded').length === 1);
    await off.trigger('sse-off', 'tick', { n: 1 });
    await until('the tick', () => a.events('tick').length === 1);
    const lastID = a.messages.filter((m) => m.id).pop().id;
    a.close();
    await off.trigger('sse-off', 'tick', { n: 2 }); // missed, and not kept
    const b = stream(offURL, { 'Last-Event-ID': lastID });
    await b.ready;
    await until('recovery_failed', () => b.events('switchboard:recovery_failed').length === 1);
    const info = JSON.parse(b.events('switchboard:recovery_failed')[0].data);
    assert.deepEqual([info.from, info.oldest], [1, 0]);
    await off.trigger('sse-off', 'tick', { n: 3 });
    await until('the live tick', () => b.events('tick').length === 1);
    assert.equal(JSON.parse(b.events('tick')[0].data).n, 3);
    b.close();
  }));

  it('private channels need a signed auth; presence is refused', withServerLogs(async () => {
    const none = stream(url('channels=private-sse'));
    await none.ready;
    assert.equal(none.status, 401);
    const expires = Math.floor(Date.now() / 1000) + 60;
    const auth = crypto.createHmac('sha256', apps.main.secret).update(`sse:${apps.main.key}:private-sse:${expires}`).digest('hex');
    const ok = stream(url(`channels=private-sse&expires=${expires}&auth=${auth}`));
    await ok.ready;
    assert.equal(ok.status, 200);
    await until('subscribed', () => ok.events('pusher_internal:subscription_succeeded').length === 1);
    await sdk.trigger('private-sse', 'secret', { s: 1 });
    await until('the private event', () => ok.events('secret').length === 1);
    ok.close();
    const pres = stream(url('channels=presence-x'));
    await pres.ready;
    assert.equal(pres.status, 400);
  }));
});
