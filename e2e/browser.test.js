'use strict';
// Real Chromium (issue 9/10): a page whose pusher-js may use only the HTTP
// fallbacks subscribes, receives and sends client events; a page's
// EventSource, cut off by the network, resumes from Last-Event-ID without
// losing an event. Pages are served from another origin than Switchboard,
// so CORS is exercised as in production.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const path = require('node:path');
const fs = require('node:fs');
const { start, until, withServerLogs } = require('./lib/server');
const { backend, client, closeAll, subscribed, record, waitFor } = require('./lib/clients');
const { balance } = require('./lib/balancer');
const { launch, browserSkip } = require('./lib/browser');
const apps = require('./lib/apps');

const pusherJS = fs.readFileSync(path.join(__dirname, 'node_modules/pusher-js/dist/web/pusher.min.js'));

// site serves the test pages and signs channel auth, as an app's web
// server would.
function site(server) {
  const sdk = backend(server, apps.main);
  const srv = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    if (u.pathname === '/pusher.js') { res.setHeader('Content-Type', 'application/javascript'); res.end(pusherJS); return; }
    if (u.pathname === '/auth' && req.method === 'POST') {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => {
        const p = new URLSearchParams(body);
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify(sdk.authorizeChannel(p.get('socket_id'), p.get('channel_name'))));
      });
      return;
    }
    res.setHeader('Content-Type', 'text/html');
    res.end('<!doctype html><title>switchboard</title><script src="/pusher.js"></script>');
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve({ srv, url: `http://127.0.0.1:${srv.address().port}` })));
}

describe('in Chromium', { skip: browserSkip }, () => {
  let server, web, browser, lb;
  before(async () => {
    server = await start({ apps: [apps.main] }); // main opts in to history
    web = await site(server);
    lb = await balance([server]);
    browser = await launch();
  });
  after(async () => {
    closeAll();
    if (browser) await browser.close();
    if (lb) await lb.close();
    if (web) await new Promise((r) => web.srv.close(r));
    await server.stop();
  });

  it('pusher-js restricted to xhr_streaming and xhr_polling subscribes, receives and sends client events', withServerLogs(async () => {
    const page = await browser.newPage();
    await page.goto(web.url + '/');
    await page.evaluate(({ key, port }) => {
      window.got = [];
      const p = new Pusher(key, {
        cluster: 'e2e', wsHost: '127.0.0.1', wsPort: port, httpHost: '127.0.0.1', httpPort: port, forceTLS: false,
        enabledTransports: ['xhr_streaming', 'xhr_polling'], disableStats: true,
        channelAuthorization: { endpoint: '/auth', transport: 'ajax' },
      });
      window.p = p;
      const ch = p.subscribe('private-browser');
      ch.bind('pusher:subscription_succeeded', () => { window.subscribed = true; });
      ch.bind('news', (d) => window.got.push(d));
      ch.bind('client-pong', (d) => window.got.push(d));
    }, { key: apps.main.key, port: server.port });
    await until('the page subscribed over HTTP', () => page.evaluate(() => window.subscribed === true), 20000);
    const transport = await page.evaluate(() => window.p.connection.connection && window.p.connection.connection.transport && window.p.connection.connection.transport.name);
    assert.match(String(transport), /xhr/);

    await backend(server, apps.main).trigger('private-browser', 'news', { n: 1 });
    await until('the event in the page', () => page.evaluate(() => window.got.length === 1), 10000);

    const node = await subscribed(client(server, apps.main).subscribe('private-browser'));
    const heard = record(node, 'client-ping');
    await page.evaluate(() => window.p.channel('private-browser').trigger('client-ping', { from: 'chromium' }));
    await waitFor(heard, 1, 10000);
    assert.deepEqual(heard[0].data, { from: 'chromium' });
    node.trigger('client-pong', { to: 'chromium' });
    await until('the client event in the page', () => page.evaluate(() => window.got.length === 2), 10000);
    await page.close();
  }));

  it('EventSource resumes after the network drops it, with no event lost', withServerLogs(async () => {
    const page = await browser.newPage();
    await page.goto(web.url + '/');
    await page.evaluate(({ base, key }) => {
      window.ticks = [];
      window.opens = 0;
      const es = new EventSource(`${base}/app/${key}/events?channels=browser-sse`);
      es.onopen = () => { window.opens++; };
      es.onmessage = (m) => {
        const f = JSON.parse(m.data);
        if (f.event === 'tick') window.ticks.push(JSON.parse(f.data).n);
      };
    }, { base: `http://127.0.0.1:${lb.port}`, key: apps.main.key });
    const sdk = backend(server, apps.main);
    await until('the stream open', () => page.evaluate(() => window.opens === 1), 10000);
    await until('subscribed', async () => {
      const r = await (await sdk.get({ path: '/channels/browser-sse' })).json();
      return r.occupied;
    });
    for (let n = 1; n <= 3; n++) await sdk.trigger('browser-sse', 'tick', { n });
    await until('three ticks', () => page.evaluate(() => window.ticks.length === 3), 10000);
    lb.dropAll();
    for (let n = 4; n <= 6; n++) await sdk.trigger('browser-sse', 'tick', { n });
    await until('the stream open again', () => page.evaluate(() => window.opens === 2), 15000);
    await sdk.trigger('browser-sse', 'tick', { n: 7 });
    await until('seven ticks', () => page.evaluate(() => window.ticks.length >= 7), 15000);
    assert.deepEqual(await page.evaluate(() => window.ticks), [1, 2, 3, 4, 5, 6, 7]);
    await page.close();
  }));
});
