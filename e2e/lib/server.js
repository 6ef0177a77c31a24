'use strict';
// Starts a freshly built switchboard binary on a free loopback port with a
// temporary apps file, and stops it by PID.
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const repo = path.resolve(__dirname, '..', '..');
let binary;

// build compiles the binary once per test process (the Go build cache
// makes the later ones cheap).
function build() {
  if (binary) return binary;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-e2e-'));
  binary = path.join(dir, 'switchboard');
  execFileSync('go', ['build', '-o', binary, './cmd/switchboard'], { cwd: repo, stdio: 'inherit' });
  return binary;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function until(what, fn, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ': ' + last.message : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

// start runs `switchboard serve` with the given apps and extra flags.
async function start({ apps, args = [], port } = {}) {
  const bin = build();
  port = port || (await freePort());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-run-'));
  const flags = ['serve', '--host', '127.0.0.1', '--port', String(port),
    '--presence-grace', '300ms', '--subscription-count-delay', '50ms', '--drain-timeout', '3s', ...args];
  if (apps) {
    const file = path.join(dir, 'apps.json');
    fs.writeFileSync(file, JSON.stringify(apps));
    flags.push('--apps-file', file);
  }
  const proc = spawn(bin, flags, { stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  proc.stdout.on('data', (d) => { logs += d; });
  proc.stderr.on('data', (d) => { logs += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const base = `http://127.0.0.1:${port}`;
  try {
    await until('healthz', async () => (await fetch(base + '/healthz')).ok);
  } catch (e) {
    proc.kill('SIGKILL');
    throw new Error(`${e.message}\nserver log:\n${logs}`);
  }
  return {
    port, base, proc, exited,
    logs: () => logs,
    // stop sends SIGTERM (the drain path) and waits for the exit.
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}

module.exports = { start, build, freePort, until };
