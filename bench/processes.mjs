// Helpers shared by the bench and the soak: processes pinned to cores, wrk, RSS.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const run = promisify(execFile);
export const here = (path) => fileURLToPath(new URL(path, import.meta.url));
// The gateway runs with the environment and node flags the `nest-gateway` command (`npm start`)
// and the image give it, from where they are defined once, so the bench measures what ships:
// `GLIBC_TUNABLES=... node --flag ... dist/main.js`. (The build comes first: `npm run bench`.)
const runtime = await import(here('../dist/cli/runtime-flags.js'));
export const START_ENV = { GLIBC_TUNABLES: runtime.GLIBC_TUNABLES };
export const START_FLAGS = [...runtime.NODE_FLAGS];

export const has = async (command) => run('sh', ['-c', `command -v ${command}`]).then(() => true, () => false);
export const pinning = (await has('taskset')) && cpus().length >= 2;
// The system under test gets core 0; the service and the load generator share core 1.
export const pinned = (core, command, args) => (pinning ? ['taskset', ['-c', String(core), command, ...args]] : [command, args]);

/**
 * Starts `command` pinned to `core`. `stdout: 'pipe'` (default) reads the child's stdout (for
 * waitForLine); `stdout: 'ignore'` gives the child /dev/null as its fd 1, so nobody reads it; a
 * file descriptor gives it that file.
 */
export function start(core, command, args, env = {}, { stdout = 'pipe' } = {}) {
  const [bin, argv] = pinned(core, command, args);
  const child = spawn(bin, argv, { env: { ...process.env, ...env }, stdio: ['ignore', stdout, 'inherit'] });
  // Always read: an unread pipe fills, and the child's logging then stalls or piles up in its memory.
  child.stdout?.on('data', () => undefined);
  return child;
}

export async function waitForLine(child) {
  return new Promise((resolve, reject) => {
    child.stdout.once('data', (chunk) => resolve(chunk.toString().trim()));
    child.once('exit', (code) => reject(new Error(`exited with ${code}`)));
  });
}

const exited = (child) => child.exitCode !== null || child.signalCode !== null;

/** Ends each child by its PID (`signal`, then SIGKILL after `graceMs`) and waits until all have exited. */
export async function stopAll(children, { signal = 'SIGTERM', graceMs = 5000 } = {}) {
  await Promise.all(
    children.map(async (child) => {
      if (!child.pid || exited(child)) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill(child.stopSignal ?? signal);
      const timer = setTimeout(() => exited(child) || child.kill('SIGKILL'), graceMs);
      await gone;
      clearTimeout(timer);
    }),
  );
}

/** A port nothing listens on at the moment, on 127.0.0.1. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

export async function waitForHttp(url, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer`);
}

export function rssMiB(pid) {
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
    return kb / 1024;
  } catch {
    return 0;
  }
}

const toMs = (text) => {
  const [, value, unit] = /([\d.]+)(us|ms|s|m)/.exec(text);
  return Number(value) * { us: 0.001, ms: 1, s: 1000, m: 60_000 }[unit];
};
const toMB = (text) => {
  const [, value, unit] = /([\d.]+)(B|KB|MB|GB)/.exec(text);
  return (Number(value) * { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[unit]) / 1024 ** 2;
};

/** Loads `url` with wrk (on core 1) for `duration` seconds; what it measured, errors included. `signal` ends wrk early. */
/**
 * Time each of the first two cores spent, from /proc/stat: `total` and `steal` (what the
 * hypervisor gave other guests while this one wanted to run), in clock ticks.
 */
export function coreTimes() {
  const lines = readFileSync('/proc/stat', 'utf8').split('\n');
  return [0, 1].map((core) => {
    const fields = lines.find((line) => line.startsWith(`cpu${core} `))?.trim().split(/\s+/).slice(1).map(Number);
    if (!fields) return { total: 0, steal: 0 };
    return { total: fields.reduce((sum, n) => sum + n, 0), steal: fields[7] ?? 0 };
  });
}

/** The share of each core's time stolen between two `coreTimes()` readings (0 where unknown). */
export const stolenShares = (before, after) =>
  before.map((start, core) => {
    const total = after[core].total - start.total;
    return total > 0 ? (after[core].steal - start.steal) / total : 0;
  });

export async function wrk(url, { connections, duration, signal, headers = {} }) {
  const headerArgs = Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
  const [bin, argv] = pinned(1, 'wrk', ['-t1', `-c${connections}`, `-d${duration}s`, '--latency', ...headerArgs, url]);
  const { stdout } = await run(bin, argv, { timeout: (duration + 30) * 1000, signal });
  if (!/Requests\/sec/.test(stdout) || !/99%/.test(stdout)) throw new Error(`unexpected wrk output for ${url}:\n${stdout}`);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const sockets = socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  return {
    requests: Number(/(\d+) requests in/.exec(stdout)[1]),
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)[1]),
    mbps: toMB(/Transfer\/sec:\s+(\S+)/.exec(stdout)[1]),
    p50: toMs(/^\s*50%\s+(\S+)/m.exec(stdout)[1]),
    p99: toMs(/^\s*99%\s+(\S+)/m.exec(stdout)[1]),
    socketErrors: sockets,
    non2xx,
    errors: sockets + non2xx,
  };
}

/** Loads the WebSocket echo at `url` with bench/ws-load.mjs (on core 1, as wrk) for `duration` seconds. */
export async function wsLoad(url, { connections, duration, signal }) {
  const [bin, argv] = pinned(1, process.execPath, [here('./ws-load.mjs')]);
  const env = { ...process.env, URL: url.replace(/^http/, 'ws'), CONNECTIONS: String(connections), DURATION: String(duration) };
  const { stdout } = await run(bin, argv, { env, timeout: (duration + 30) * 1000, signal });
  const { messages, rate, p50, p99, errors } = JSON.parse(stdout);
  return { requests: messages, rps: rate, p50, p99, socketErrors: errors, non2xx: 0, errors };
}

/** Loads the gRPC unary method at `url` with bench/grpc-load.mjs (on core 1, as wrk) for `duration` seconds. */
export async function grpcLoad(url, { connections, duration, signal }) {
  const [bin, argv] = pinned(1, process.execPath, [here('./grpc-load.mjs')]);
  const env = { ...process.env, URL: url, CONNECTIONS: String(connections), DURATION: String(duration) };
  const { stdout } = await run(bin, argv, { env, timeout: (duration + 30) * 1000, signal });
  const { calls, rate, p50, p99, errors } = JSON.parse(stdout);
  return { requests: calls, rps: rate, p50, p99, socketErrors: 0, non2xx: errors, errors };
}

/**
 * Loads `url` over HTTP/2 with h2load (Debian's nghttp2-client, on core 1, as wrk) for `duration`
 * seconds: `connections` connections with `streams` requests in flight on each. p50/p99 come from
 * h2load's per-request log, which it writes as it goes.
 */
export async function h2load(url, { connections, streams, duration, signal }) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-h2load-'));
  const log = join(dir, 'requests.log');
  try {
    const [bin, argv] = pinned(1, 'h2load', ['-t1', `-c${connections}`, `-m${streams}`, `-D${duration}`, '--log-file', log, url]);
    const { stdout } = await run(bin, argv, { timeout: (duration + 30) * 1000, signal, maxBuffer: 16 * 1024 * 1024 });
    const finished = /finished in [\d.]+m?s, ([\d.]+) req\/s, (\S+)\/s/.exec(stdout);
    const counts = /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(stdout);
    if (!finished || !counts) throw new Error(`unexpected h2load output for ${url}:\n${stdout}`);
    // As wrk counts them: answers with a status of 400 or above.
    const statuses = /status codes: \d+ 2xx, \d+ 3xx, (\d+) 4xx, (\d+) 5xx/.exec(stdout);
    const non2xx = statuses ? Number(statuses[1]) + Number(statuses[2]) : 0;
    const socketErrors = Number(counts[4]) + Number(counts[5]) + Number(counts[6]);
    // Each line: start time, status, duration in µs.
    const durations = readFileSync(log, 'utf8').trim().split('\n').map((line) => Number(line.split('\t')[2]) / 1000).sort((a, b) => a - b);
    const quantile = (q) => durations[Math.min(durations.length - 1, Math.floor(q * durations.length))] ?? 0;
    return {
      requests: Number(counts[3]),
      rps: Number(finished[1]),
      mbps: toMB(finished[2]),
      p50: quantile(0.5),
      p99: quantile(0.99),
      socketErrors,
      non2xx,
      errors: socketErrors + non2xx,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
