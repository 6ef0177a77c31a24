'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { start } = require('./lib/server');
const { closeAll, client, subscribed, collect, waitFor, sleep, raw, disconnectAll } = require('./lib/clients');
const apps = require('./lib/apps');
const crypto = require('node:crypto');

describe('client events', () => {
  let server;
  before(async () => { server = await start({ apps: apps.all }); });
  after(async () => { closeAll(); await server.stop(); });

  it('reach the other subscribers, not the sender, with data kept as sent', async () => {
    const a = client(server, apps.main), b = client(server, apps.main), c = client(server, apps.main);
    const [ca, cb, cc] = await Promise.all([a, b, c].map((p) => subscribed(p.subscribe('private-chat'))));
    const ga = collect(ca, 'client-typing'), gb = collect(cb, 'client-typing'), gc = collect(cc, 'client-typing');
    assert.equal(ca.trigger('client-typing', { typing: true, n: [1, 2] }), true);
    await waitFor(gb); await waitFor(gc);
    assert.deepEqual(gb[0].data, { typing: true, n: [1, 2] });
    await sleep(200);
    assert.equal(ga.length, 0, 'echoed to the sender');
    disconnectAll(a, b, c);
  });

  it('carry the sender\'s user_id on presence channels', async () => {
    const a = client(server, apps.main, { presence: { user_id: 'ann' } });
    const b = client(server, apps.main, { presence: { user_id: 'ben' } });
    const ca = await subscribed(a.subscribe('presence-chat'));
    const cb = await subscribed(b.subscribe('presence-chat'));
    const got = collect(cb, 'client-hi');
    ca.trigger('client-hi', 'hello');
    await waitFor(got);
    assert.equal(got[0].data, 'hello');
    assert.equal(got[0].meta.user_id, 'ann');
    disconnectAll(a, b);
  });

  async function rawClient(app) {
    const r = raw(server, `/app/${app.key}?protocol=7`);
    const id = await r.socketId();
    r.join = async (ch) => {
      // private-style signature, also right for private-encrypted- channels
      const sig = crypto.createHmac('sha256', app.secret).update(`${id}:${ch}`).digest('hex');
      const auth = ch.startsWith('private-') ? `${app.key}:${sig}` : '';
      r.send({ event: 'pusher:subscribe', data: { channel: ch, auth } });
      await r.next((x) => x.event === 'pusher_internal:subscription_succeeded' && x.channel === ch);
    };
    return r;
  }

  it('are rejected on public and encrypted channels, when disabled and when not subscribed', async () => {
    const r = await rawClient(apps.main), other = await rawClient(apps.main);
    for (const ch of ['public-room', 'private-encrypted-x']) { await r.join(ch); await other.join(ch); }
    let errors = 0;
    for (const ch of ['public-room', 'private-encrypted-x', 'private-not-joined']) {
      r.send({ event: 'client-x', channel: ch, data: {} });
      await r.next((x) => x.event === 'pusher:error' && r.frames.filter((f) => f.event === 'pusher:error').length > errors);
      errors++;
    }
    const quiet = await rawClient(apps.noClientEvents), quiet2 = await rawClient(apps.noClientEvents);
    await quiet.join('private-q'); await quiet2.join('private-q');
    quiet.send({ event: 'client-x', channel: 'private-q', data: {} });
    await quiet.next((x) => x.event === 'pusher:error');
    await sleep(200);
    assert.equal(other.frames.filter((f) => f.event === 'client-x').length, 0);
    assert.equal(quiet2.frames.filter((f) => f.event === 'client-x').length, 0);
    for (const x of [r, other, quiet, quiet2]) x.ws.close();
  });

  it('11 in a second: one is refused with 4301, the connection stays', async () => {
    const r = await rawClient(apps.main), other = await rawClient(apps.main);
    await r.join('private-burst'); await other.join('private-burst');
    for (let i = 0; i < 11; i++) r.send({ event: 'client-x', channel: 'private-burst', data: { i } });
    const err = await r.next((x) => x.event === 'pusher:error');
    assert.equal(err.data.code, 4301);
    await sleep(300);
    assert.equal(other.frames.filter((f) => f.event === 'client-x').length, 10);
    r.send({ event: 'pusher:ping', data: {} });
    await r.next((x) => x.event === 'pusher:pong');
    r.ws.close(); other.ws.close();
  });

  it('over 10 KB of data is refused', async () => {
    const r = await rawClient(apps.main), other = await rawClient(apps.main);
    await r.join('private-big'); await other.join('private-big');
    r.send({ event: 'client-big', channel: 'private-big', data: 'x'.repeat(10241) });
    await r.next((x) => x.event === 'pusher:error');
    await sleep(200);
    assert.equal(other.frames.filter((f) => f.event === 'client-big').length, 0);
    r.ws.close(); other.ws.close();
  });
});
