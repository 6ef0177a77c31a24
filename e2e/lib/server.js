'use strict';
// Starts a freshly built switchboard binary on a free loopback port with a
// temporary apps file, stops it by PID, and keeps its log so a failing test
// can show what the server said.
//
// The binary is built once per `node --test` run: every test file runs in
// its own child process of the runner, so the first file to take the lock
// directory (keyed by the runner's PID) builds and the others wait for it.
// SWITCHBOARD_BIN=/path/to/switchboard skips the build.
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const repo = path.resolve(__dirname, '..', '..');
const BUILD_PREFIX = 'switchboard-e2e-build-';
const BUILD_TIMEOUT_MS = 5 * 60 * 1000;

// Flags every test server gets (the brief's timings): short presence grace
// and count coalescing so the suites stay fast, a drain shorter than the
// default so a stuck drain fails quickly.
const DEFAULT_FLAGS = ['--presence-grace', '500ms', '--subscription-count-delay', '50ms', '--drain-timeout', '5s'];
const PRESENCE_GRACE_MS = 500;

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// until polls fn every 25 ms until it returns something truthy, and fails
// with `what` once the deadline passes. fn may be async and may throw
// (treated as "not yet"; the last error is reported).
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
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ': ' + last.message : ''}`);
    await sleep(25);
  }
}

function alive(pid) {
  try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; }
}

// removeStaleBuilds deletes build directories of runs that have ended.
function removeStaleBuilds() {
  for (const name of fs.readdirSync(os.tmpdir())) {
    if (!name.startsWith(BUILD_PREFIX)) continue;
    const pid = Number(name.slice(BUILD_PREFIX.length));
    if (Number.isInteger(pid) && pid > 0 && !alive(pid)) {
      fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
    }
  }
}

let binaryPromise;

// binary returns the path of this run's switchboard binary, building it
// on first use.
function binary() {
  if (!binaryPromise) binaryPromise = locate();
  return binaryPromise;
}

async function locate() {
  if (process.env.SWITCHBOARD_BIN) return path.resolve(process.env.SWITCHBOARD_BIN);
  // Under the test runner NODE_TEST_CONTEXT is set and the runner is our
  // parent: share one build with the other files. Run directly, build
  // privately.
  const owner = process.env.NODE_TEST_CONTEXT ? process.ppid : process.pid;
  const dir = path.join(os.tmpdir(), BUILD_PREFIX + owner);
  const bin = path.join(dir, 'switchboard');
  const failed = path.join(dir, 'build-error.txt');
  let mine = false;
  try {
    removeStaleBuilds();
    fs.mkdirSync(dir);
    mine = true;
  } catch (e) {
    if (e.code !== 'EEXIST') throw e;
  }
  if (mine) {
    fs.writeFileSync(path.join(dir, 'builder.pid'), String(process.pid));
    const r = spawnSync('go', ['build', '-o', bin + '.tmp', './cmd/switchboard'], { cwd: repo, encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      const msg = `go build ./cmd/switchboard failed (${r.error ? r.error.message : 'exit ' + r.status}):\n${r.stdout}${r.stderr}`;
      fs.writeFileSync(failed, msg);
      throw new Error(msg);
    }
    fs.renameSync(bin + '.tmp', bin);
    return bin;
  }
  const started = Date.now();
  for (;;) {
    if (fs.existsSync(bin)) return bin;
    if (fs.existsSync(failed)) throw new Error(fs.readFileSync(failed, 'utf8'));
    let builder = 0;
    try { builder = Number(fs.readFileSync(path.join(dir, 'builder.pid'), 'utf8')); } catch { /* not written yet */ }
    if (builder && !alive(builder) && !fs.existsSync(bin)) throw new Error(`the process building ${bin} (pid ${builder}) died`);
    if (Date.now() - started > BUILD_TIMEOUT_MS) throw new Error(`timed out waiting for another test process to build ${bin}`);
    await sleep(100);
  }
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

// Every server started by this process, so a failing test can print their
// logs and a crashing test process does not leave them running.
const servers = [];
process.on('exit', () => {
  for (const s of servers) if (s.running()) { try { process.kill(s.pid, 'SIGKILL'); } catch { /* gone */ } }
});

// start runs `switchboard serve` with the given apps (written to a temp
// apps file; none → the server's dev app) and extra flags, and resolves
// once GET /healthz answers 200.
async function start({ apps, args = [], port } = {}) {
  const bin = await binary();
  const fixedPort = Boolean(port);
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(bin, apps, args, port || (await freePort()));
    } catch (e) {
      // Another process may have taken the free port between our probe and
      // the server's bind; pick a new one (not when the port was given).
      if (fixedPort || attempt >= 3 || !/address already in use/.test(e.message)) throw e;
    }
  }
}

async function startOnce(bin, apps, args, port) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-run-'));
  const flags = ['serve', '--host', '127.0.0.1', '--port', String(port), ...DEFAULT_FLAGS, ...args];
  if (apps) {
    const file = path.join(dir, 'apps.json');
    fs.writeFileSync(file, JSON.stringify(apps, null, 2));
    flags.push('--apps-file', file);
  }
  const proc = spawn(bin, flags, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  let spawnError = null;
  proc.on('error', (e) => { spawnError = e; });
  const base = `http://127.0.0.1:${port}`;
  const server = {
    port, base, pid: proc.pid, proc, exited, dir,
    log: () => log,
    running: () => proc.exitCode === null && proc.signalCode === null,
    // stop sends a signal (SIGTERM: the drain path) to the PID and waits
    // for the exit; SIGKILL if it is still there after killAfterMs.
    async stop(signal = 'SIGTERM', killAfterMs = 10000) {
      if (server.running()) process.kill(proc.pid, signal);
      const t = setTimeout(() => { if (server.running()) process.kill(proc.pid, 'SIGKILL'); }, killAfterMs);
      const r = await exited;
      clearTimeout(t);
      fs.rmSync(dir, { recursive: true, force: true });
      return r;
    },
  };
  servers.push(server);
  try {
    await until(`GET ${base}/healthz → 200`, async () => {
      if (spawnError) throw new Error(`cannot start ${bin}: ${spawnError.message}`);
      if (!server.running()) throw new Error(`server exited (${proc.exitCode ?? proc.signalCode})`);
      return (await fetch(base + '/healthz')).status === 200;
    }, 15000);
  } catch (e) {
    await server.stop('SIGKILL');
    throw new Error(`${e.message}\nswitchboard ${flags.join(' ')}\nserver log:\n${log}`);
  }
  return server;
}

// withServerLogs wraps a node:test body so that, when it fails, the log lines every
// server of this process wrote during the test are attached to the report.
function withServerLogs(fn) {
  return async (t) => {
    const marks = new Map(servers.map((s) => [s, s.log().length]));
    try {
      await fn(t);
    } catch (e) {
      for (const s of servers) {
        const text = s.log().slice(marks.get(s) || 0).trimEnd().split('\n').slice(-80).join('\n');
        if (!text) continue;
        // one diagnostic per line: reporters escape newlines inside one
        t.diagnostic(`switchboard :${s.port} (pid ${s.pid}) log during this test:`);
        for (const line of text.split('\n')) t.diagnostic(`  ${line}`);
      }
      throw e;
    }
  };
}

module.exports = { start, binary, freePort, until, sleep, withServerLogs, PRESENCE_GRACE_MS };
