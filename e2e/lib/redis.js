'use strict';
// Redis for the cluster suites: redis-cli against the shared server, and
// redis-servers of a test's own on free loopback ports (never the shared
// one on 6379), stopped by PID.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { until } = require('./server');

const redisCli = (port, ...args) => spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8' });
const sharedRedisUp = () => { const r = redisCli(6379, 'PING'); return !r.error && r.stdout.trim() === 'PONG'; };

// clearPrefix deletes every key under prefix.
function clearPrefix(port, prefix) {
  const keys = redisCli(port, '--scan', '--pattern', `${prefix}*`).stdout.split('\n').filter(Boolean);
  if (keys.length) redisCli(port, 'DEL', ...keys);
}

// ownRedis starts a redis-server on port with its data in dir (a new
// temporary one if not given). durable: append-only file fsynced on every
// write, so a SIGKILL loses nothing that was acknowledged.
function ownRedis(port, { durable = false, dir } = {}) {
  const dataDir = dir || fs.mkdtempSync(path.join(os.tmpdir(), 'sb-e2e-redis-'));
  const persistence = durable ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--dir', dataDir], { stdio: 'ignore' });
  const exited = new Promise((r) => proc.on('exit', r));
  return {
    dir: dataDir,
    ready: () => until(`redis-server on ${port}`, () => redisCli(port, 'PING').stdout.trim() === 'PONG', 10000),
    // kill stops it as a crash would; keep the data directory to restart on it.
    async kill({ keepData = false } = {}) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
      if (!keepData) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

module.exports = { redisCli, sharedRedisUp, clearPrefix, ownRedis };
