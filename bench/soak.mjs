// `npm run soak`: a bounded mixed load (proxied, cache hits on the Redis store, a dead service)
// against a supervised gateway (2 workers), with a reload (SIGHUP) a third of the way in and a
// Redis restart at two thirds, watching errors and memory. Exits 1 when a healthy route errs
// (a reset, a timeout, a non-2xx) or RSS grows by 10 % or more.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { freePort, has, here, rssMiB, start, START_ENV, START_FLAGS, waitForHttp, waitForLine, wrk } from './processes.mjs';

const DURATION = Number(process.env.DURATION ?? 60);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 64);
const GATEWAY_PORT = Number(process.env.GATEWAY_PORT ?? 18191);
// RSS is compared from the end of the warm-up, once the heap has grown to its working size.
const WARM_UP_S = Math.max(5, Math.round(DURATION / 10));
const MAX_RSS_GROWTH = 0.1;

for (const needed of ['wrk', 'redis-server']) {
  if (!(await has(needed))) {
    console.error(`soak needs ${needed} (Debian: apt-get install -y ${needed})`);
    process.exit(1);
  }
}

const redisPort = await freePort();
const startRedis = () =>
  spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
let redis = startRedis();
/** Stops Redis (by its PID) and starts it again on the same port, empty. */
async function restartRedis() {
  const stopped = new Promise((resolve) => redis.once('exit', resolve));
  redis.kill('SIGKILL');
  await stopped;
  redis = startRedis();
}

/** RSS of a process and all its descendants (the primary and its workers). */
function treeRssMiB(pid) {
  let total = rssMiB(pid);
  try {
    for (const child of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean)) total += treeRssMiB(Number(child));
  } catch {}
  return total;
}

const deadPort = await new Promise((resolve) => {
  const probe = createServer().listen(0, '127.0.0.1', () => {
    const { port } = probe.address();
    probe.close(() => resolve(port));
  });
});
const upstream = start(1, process.execPath, [here('./upstream.mjs')]);
const upstreamPort = Number(await waitForLine(upstream));
mkdirSync(here('./results'), { recursive: true });
const configFile = here('./results/soak-gateway.json');
writeFileSync(
  configFile,
  JSON.stringify({
    cache: { store: 'redis', redisUrl: `redis://127.0.0.1:${redisPort}` },
    routes: [
      { prefix: '/api', target: `http://127.0.0.1:${upstreamPort}` },
      { prefix: '/dead', target: `http://127.0.0.1:${deadPort}` },
    ],
  }),
);
const gateway = start(0, process.execPath, [...START_FLAGS, here('../dist/main.js')], {
  ...START_ENV,
  GATEWAY_CONFIG: configFile,
  GATEWAY_WORKERS: '2',
  PORT: String(GATEWAY_PORT),
  HOST: '127.0.0.1',
});
const url = `http://127.0.0.1:${GATEWAY_PORT}`;

const samples = [];
const sampler = setInterval(() => samples.push({ at: Date.now(), rss: treeRssMiB(gateway.pid) }), 1000);
const events = [];
const timers = [];
const stopAll = () => {
  clearInterval(sampler);
  for (const timer of timers) clearTimeout(timer);
  for (const child of [gateway, upstream, redis]) child.kill('SIGTERM');
};

try {
  await waitForHttp(`${url}/health`);
  const quarter = Math.max(1, Math.round(CONNECTIONS / 4));
  const mix = [
    { name: 'proxied /api/hello', path: '/api/hello', connections: CONNECTIONS - 2 * quarter, healthy: true },
    { name: 'cache hit /api/cached', path: '/api/cached', connections: quarter, healthy: true },
    { name: 'dead service /dead/x (502)', path: '/dead/x', connections: quarter, healthy: false },
  ];
  console.log(`nest-gateway soak: ${DURATION}s, ${CONNECTIONS} connections (${mix.map((m) => m.connections).join('/')}), node ${START_FLAGS.join(' ')}`);
  const started = Date.now();
  const at = (fraction, name, act) =>
    timers.push(
      setTimeout(async () => {
        events.push(`${name} at ${((Date.now() - started) / 1000).toFixed(1)} s`);
        await act();
      }, DURATION * 1000 * fraction),
    );
  at(1 / 3, 'reload (SIGHUP)', () => gateway.kill('SIGHUP'));
  at(2 / 3, 'Redis restart', restartRedis);
  const results = await Promise.all(mix.map((m) => wrk(url + m.path, { connections: m.connections, duration: DURATION })));

  const rows = mix.map((m, i) => {
    const r = results[i];
    // On the dead route every answer should be a 502: anything else, or a broken socket, is an error.
    const errors = m.healthy ? r.errors : r.socketErrors + (r.requests - r.non2xx);
    return { route: m.name, requests: r.requests, 'req/s': Math.round(r.rps), 'p99 ms': r.p99.toFixed(2), 'non-2xx': r.non2xx, errors };
  });
  const warm = samples.find((sample) => sample.at - started >= WARM_UP_S * 1000) ?? samples[0];
  const last = samples.at(-1);
  const growth = (last.rss - warm.rss) / warm.rss;
  console.table(rows);
  console.log(`during the run: ${events.join(', ')}`);
  console.log(
    `RSS: ${samples[0].rss.toFixed(1)} MiB at start, ${warm.rss.toFixed(1)} MiB after the ${WARM_UP_S}s warm-up, ` +
      `${last.rss.toFixed(1)} MiB at the end (${(growth * 100).toFixed(1)} % growth), ` +
      `peak ${Math.max(...samples.map((s) => s.rss)).toFixed(1)} MiB`,
  );
  const healthyErrors = rows.filter((_, i) => mix[i].healthy).reduce((sum, row) => sum + row.errors, 0);
  const file = here(`./results/soak-${new Date().toISOString().replaceAll(':', '-')}.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), node: process.version, duration: DURATION, connections: CONNECTIONS, events, rows, samples }, null, 2));
  console.log(`written to ${file}`);
  const ok = healthyErrors === 0 && rows[2].errors === 0 && growth < MAX_RSS_GROWTH;
  console.log(ok ? 'soak passed' : `soak FAILED: ${healthyErrors} errors on healthy routes, RSS growth ${(growth * 100).toFixed(1)} %`);
  process.exitCode = ok ? 0 : 1;
} finally {
  stopAll();
}
