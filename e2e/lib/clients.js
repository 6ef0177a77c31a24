'use strict';
// Official clients pointed at a test server: pusher-js 8 (end users) and
// pusher 5 (the customer backend), plus a raw WebSocket for what pusher-js
// cannot express.
const Pusher = require('pusher-js');
const PusherServer = require('pusher');
const WebSocket = require('ws');
const { until } = require('./server');

function backend(server, app, extra = {}) {
  return new PusherServer({ appId: app.id, key: app.key, secret: app.secret, host: '127.0.0.1', port: String(server.port), useTLS: false, ...extra });
}

// client is a pusher-js connection. presence: user for presence channel
// data; user: user data for signin().
// Every pusher-js client made, so closeAll can stop them even when a test
// fails before its own cleanup (a client left reconnecting keeps the test
// process alive).
const made = [];

function closeAll() {
  for (const p of made.splice(0)) { try { p.disconnect(); } catch { /* gone */ } }
  for (const ws of raws.splice(0)) { try { ws.terminate(); } catch { /* gone */ } }
}

function client(server, app, { presence, user, sdk, options = {} } = {}) {
  const auth = sdk || backend(server, app);
  const p = new Pusher(app.key, {
    cluster: 'test', wsHost: '127.0.0.1', wsPort: server.port, forceTLS: false,
    enabledTransports: ['ws'], enableStats: false,
    channelAuthorization: {
      customHandler: (params, cb) => {
        try {
          const data = params.channelName.startsWith('presence-') ? presence : undefined;
          cb(null, auth.authorizeChannel(params.socketId, params.channelName, data));
        } catch (e) { cb(e, null); }
      },
    },
    userAuthentication: {
      customHandler: (params, cb) => {
        try { cb(null, auth.authenticateUser(params.socketId, user)); } catch (e) { cb(e, null); }
      },
    },
    ...options,
  });
  made.push(p);
  return p;
}

function once(emitter, event, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${event} within ${timeoutMs} ms`)), timeoutMs);
    const handler = (data) => { clearTimeout(t); emitter.unbind(event, handler); resolve(data); };
    emitter.bind(event, handler);
  });
}

async function connected(p) {
  if (p.connection.state !== 'connected') await once(p.connection, 'connected');
  return p.connection.socket_id;
}

async function subscribed(channel) {
  if (!channel.subscribed) await once(channel, 'pusher:subscription_succeeded');
  return channel;
}

// collect records every event bound on a channel (or emitter) by name.
function collect(emitter, event) {
  const got = [];
  emitter.bind(event, (data, meta) => got.push({ data, meta }));
  return got;
}

async function waitFor(list, n = 1, timeoutMs = 5000) {
  await until(`${n} event(s)`, () => list.length >= n, timeoutMs);
  return list;
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

const raws = [];

// raw opens a bare WebSocket and records frames and the close code.
function raw(server, path) {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}${path}`);
  raws.push(ws);
  const frames = [];
  const state = { ws, frames, closeCode: null };
  ws.on('message', (m) => { try { frames.push(JSON.parse(m.toString())); } catch { frames.push({ event: '!invalid', raw: m.toString() }); } });
  state.closed = new Promise((resolve) => ws.on('close', (code) => { state.closeCode = code; resolve(code); }));
  state.opened = new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
  state.send = (obj) => ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  state.next = async (pred, timeoutMs = 5000) => {
    let seen = 0;
    return until('a frame', () => {
      for (; seen < frames.length; seen++) if (pred(frames[seen])) return frames[seen];
      return null;
    }, timeoutMs);
  };
  state.socketId = async () => {
    const f = await state.next((x) => x.event === 'pusher:connection_established');
    return JSON.parse(f.data).socket_id;
  };
  return state;
}

function disconnectAll(...clients) {
  for (const c of clients) { try { c.disconnect(); } catch { /* already gone */ } }
}

module.exports = { closeAll, backend, client, once, connected, subscribed, collect, waitFor, sleep, raw, disconnectAll };
