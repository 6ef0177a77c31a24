'use strict';
// Official clients pointed at a test server: pusher-js 8 (its Node build)
// as end users, pusher 5 as the customer backend that triggers events and
// signs channel and user auth, and a bare `ws` socket for the frames
// pusher-js cannot be made to send.
const Pusher = require('pusher-js');
const PusherServer = require('pusher');
const WebSocket = require('ws');
const { until } = require('./server');

const QUERY = 'protocol=7&client=js&version=8.6.0&flash=false';

// pusher-js's Node build closes its WebSocket (bundled faye-websocket) a
// second time when the server has already closed it with a 40xx code
// (close → "refused" → disconnect()). faye then arms its 30 s close-
// handshake timer on a socket that is already CLOSED, nobody clears it,
// and it keeps the test process alive for 30 s after the last test. That
// one timer is harmless (it finds the socket closed); unref it. Every
// other timer is left alone, so a client a test forgot to stop still
// shows up as a slow run.
const setTimeoutOriginal = global.setTimeout;
global.setTimeout = function setTimeout(fn, ms, ...args) {
  const t = setTimeoutOriginal(fn, ms, ...args);
  if (ms === 30000) {
    const stack = new Error().stack || '';
    if (/at Client\.close \(.*pusher-js[\\/]dist[\\/]node[\\/]pusher\.js/.test(stack)) t.unref();
  }
  return t;
};

// backend is the customer's server SDK for app on server.
function backend(server, app, extra = {}) {
  return new PusherServer({
    appId: app.id, key: app.key, secret: app.secret,
    host: '127.0.0.1', port: String(server.port), useTLS: false, ...extra,
  });
}

// Every client made, so closeAll can stop them even when a test fails
// before its own cleanup (a pusher-js client left reconnecting would keep
// the test process alive).
const made = [];
const raws = [];

function closeAll() {
  for (const p of made.splice(0)) { try { p.disconnect(); } catch { /* gone */ } }
  for (const r of raws.splice(0)) { try { r.ws.terminate(); } catch { /* gone */ } }
}

// client is a pusher-js end user of app. Channel auth and user auth are
// produced by the server SDK in-process (customHandler), as an app's auth
// endpoint would. presence: channel_data for presence channels
// ({user_id, user_info}, or a function returning it, asked at every
// subscription); user: user data for signin() ({id, ...}).
function client(server, app, { presence, user, sdk, options = {} } = {}) {
  const auth = sdk || backend(server, app);
  const p = new Pusher(app.key, {
    cluster: 'e2e', wsHost: '127.0.0.1', wsPort: server.port, forceTLS: false,
    enabledTransports: ['ws'], disableStats: true,
    channelAuthorization: {
      customHandler: (params, cb) => {
        try {
          let data;
          if (params.channelName.startsWith('presence-')) data = typeof presence === 'function' ? presence() : presence;
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

// once resolves with the next `event` an emitter (pusher-js connection,
// channel, user…) emits, or rejects after timeoutMs.
function once(emitter, event, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { emitter.unbind(event, handler); reject(new Error(`no ${event} within ${timeoutMs} ms`)); }, timeoutMs);
    function handler(data) { clearTimeout(t); emitter.unbind(event, handler); resolve(data); }
    emitter.bind(event, handler);
  });
}

async function connected(p, timeoutMs = 5000) {
  await until(`pusher-js state connected (is ${p.connection.state})`, () => p.connection.state === 'connected', timeoutMs);
  return p.connection.socket_id;
}

async function subscribed(channel, timeoutMs = 5000) {
  await until(`subscription to ${channel.name}`, () => channel.subscribed, timeoutMs);
  return channel;
}

// record keeps every emission of the named events (all if none named) in
// a list of {event, data, meta}.
function record(emitter, ...events) {
  const got = [];
  if (events.length === 0) {
    emitter.bind_global((event, data) => got.push({ event, data }));
  } else {
    for (const event of events) emitter.bind(event, (data, meta) => got.push({ event, data, meta }));
  }
  got.of = (event) => got.filter((g) => g.event === event);
  return got;
}

// states records a pusher-js connection's state changes.
function states(p) {
  const seen = [];
  p.connection.bind('state_change', (s) => seen.push(s.current));
  return seen;
}

// errors records the `error` events of a pusher-js connection: pusher:error
// frames and close codes both arrive as {type:'PusherError', data:{code}}.
function errors(p) {
  const seen = [];
  p.connection.bind('error', (e) => seen.push(e));
  seen.codes = () => seen.map((e) => e && e.data && e.data.code);
  return seen;
}

async function waitFor(list, n = 1, timeoutMs = 5000, what = `${n} event(s)`) {
  await until(what, () => list.length >= n, timeoutMs);
  return list;
}

// mark triggers a marker event through the HTTP API on channel and waits
// until every given pusher-js channel object has received it. Events are
// delivered per channel in order, so whatever the server would have sent
// those subscribers before the marker has arrived by then: the way to
// assert that something did NOT arrive without sleeping.
let marks = 0;
async function mark(sdk, channelName, ...channels) {
  const id = ++marks;
  const seen = channels.map(() => false);
  const handlers = channels.map((ch, i) => {
    const h = (data) => { if (data && data.mark === id) seen[i] = true; };
    ch.bind('e2e-mark', h);
    return h;
  });
  try {
    await sdk.trigger(channelName, 'e2e-mark', { mark: id });
    await until(`marker ${id} on ${channelName}`, () => seen.every(Boolean));
  } finally {
    channels.forEach((ch, i) => ch.unbind('e2e-mark', handlers[i]));
  }
}

// raw opens a bare WebSocket to path and records every frame (parsed) and
// the close code. Helpers wait with deadlines.
function raw(server, path) {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}${path}`);
  const frames = [];
  const r = { ws, frames, closeCode: null, closeReason: null };
  raws.push(r);
  ws.on('message', (m, isBinary) => {
    const text = m.toString();
    try { frames.push(JSON.parse(text)); } catch { frames.push({ event: '!unparsable', raw: text, isBinary }); }
  });
  ws.on('error', () => { /* surfaces as a close */ });
  r.closed = new Promise((resolve) => ws.on('close', (code, reason) => {
    r.closeCode = code; r.closeReason = reason.toString(); resolve(code);
  }));
  r.opened = new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('unexpected-response', (_, res) => reject(new Error(`HTTP ${res.statusCode} instead of an upgrade`))); });
  r.send = (obj) => ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  r.count = (pred) => frames.filter(pred).length;
  // next resolves with the first frame from index `from` on matching pred.
  r.next = (pred, timeoutMs = 5000, from = 0) => until(`a matching frame (frames so far: ${JSON.stringify(frames).slice(0, 600)})`, () => {
    for (let i = from; i < frames.length; i++) if (pred(frames[i])) return frames[i];
    return null;
  }, timeoutMs);
  // after returns a `next` that only looks at frames arriving from now on.
  r.after = () => { const from = frames.length; return (pred, timeoutMs) => r.next(pred, timeoutMs, from); };
  r.closedWithin = (timeoutMs = 5000) => until('the socket to close', () => r.closeCode !== null && r.closeCode, timeoutMs);
  r.socketId = async () => {
    const f = await r.next((x) => x.event === 'pusher:connection_established');
    return JSON.parse(f.data).socket_id;
  };
  // subscribe sends pusher:subscribe and resolves with the reply frame
  // (subscription_succeeded or subscription_error) for that channel.
  r.subscribe = (channel, extra = {}) => {
    const next = r.after();
    r.send({ event: 'pusher:subscribe', data: { channel, auth: '', ...extra } });
    return next((x) => x.channel === channel && (x.event === 'pusher_internal:subscription_succeeded' || x.event === 'pusher:subscription_error'));
  };
  return r;
}

// rawClient connects a bare socket to app and resolves once it has its
// socket_id; join subscribes with auth signed by the server SDK and
// expects success.
async function rawClient(server, app, { query = QUERY, presence } = {}) {
  const r = raw(server, `/app/${app.key}?${query}`);
  r.id = await r.socketId();
  const sdk = backend(server, app);
  r.join = async (channel) => {
    const extra = {};
    if (channel.startsWith('private-') || channel.startsWith('presence-')) {
      Object.assign(extra, sdk.authorizeChannel(r.id, channel, channel.startsWith('presence-') ? presence : undefined));
      delete extra.shared_secret;
    }
    const reply = await r.subscribe(channel, extra);
    if (reply.event !== 'pusher_internal:subscription_succeeded') throw new Error(`subscribe ${channel}: ${JSON.stringify(reply)}`);
    return reply;
  };
  return r;
}

function disconnectAll(...clients) {
  for (const c of clients) { try { c.disconnect(); } catch { /* already gone */ } }
}

module.exports = {
  QUERY, Pusher, PusherServer, backend, client, closeAll, once, connected, subscribed, record, states, errors,
  waitFor, mark, raw, rawClient, disconnectAll,
};
