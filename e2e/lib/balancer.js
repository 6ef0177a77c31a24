'use strict';
// A TCP load balancer on a loopback port, as in front of a cluster: each
// new connection goes to the next backend in turn; a backend that refuses
// the connection (stopped, draining with its listener closed) is skipped.
// Pass it where a test passes a server ({ port }).
const net = require('node:net');

function balance(backends) {
  let next = 0;
  const sockets = new Set();
  const srv = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.pause();
    // Each connection tries every backend once, starting at the next in turn.
    const first = next++;
    const tryBackend = (left) => {
      if (left === 0) { client.destroy(); return; }
      const b = backends[(first + backends.length - left) % backends.length];
      if (!b.running()) { tryBackend(left - 1); return; }
      const up = net.connect(b.port, '127.0.0.1');
      let connected = false;
      up.once('error', () => { if (!connected) tryBackend(left - 1); else client.destroy(); });
      up.once('connect', () => {
        connected = true;
        sockets.add(up);
        up.on('close', () => { sockets.delete(up); client.destroy(); });
        up.on('error', () => client.destroy());
        client.on('error', () => up.destroy());
        client.on('close', () => up.destroy());
        client.pipe(up);
        up.pipe(client);
        client.resume();
      });
    };
    tryBackend(backends.length);
  });
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve({
      port: srv.address().port,
      // dropAll cuts every connection in flight, as a failing network would;
      // new connections are still accepted.
      dropAll: () => { for (const s of sockets) s.destroy(); },
      close: () => new Promise((r) => { for (const s of sockets) s.destroy(); srv.close(() => r()); }),
    }));
  });
}

module.exports = { balance };
