// `npm run soak`: a bounded mixed load (proxied, cache hits, a dead service) against one gateway,
// watching errors and memory. Exits 1 when a healthy route errs or RSS grows by 10 % or more.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { has, here, rssMiB, start, START_FLAGS, waitForHttp, waitForLine, wrk } from './processes.mjs';

const DURATION = Number(process.env.DURATION ?? 60);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 64);
const GATEWAY_PORT = Number(process.env.GATEWAY_PORT ?? 18191);
// RSS is compared from the end of the warm-up, once the heap has grown to its working size.
const WARM_UP_S = Math.max(5, Math.round(DURATION / 10));
const MAX_RSS_GROWTH = 0.1;

if (!(await has('wrk'))) {
  console.error('soak needs wrk (Debian: apt-get install -y wrk)');
  process.exit(1);
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
    cache: { store: 'memory' },
    routes: [
      { prefix: '/api', target: `http://127.0.0.1:${upstreamPort}` },
      { prefix: '/dead', target: `http://127.0.0.1:${deadPort}` },
    ],
  }),
);
const gateway = start(0, process.execPath, [...START_FLAGS, here('../dist/main.js')], {
  GATEWAY_CONFIG: configFile,
  PORT: String(GATEWAY_PORT),
  HOST: '127.0.0.1',
});
const url = `http://127.0.0.1:${GATEWAY_PORT}`;

const samples = [];
const sampler = setInterval(() => samples.push({ at: Date.now(), rss: rssMiB(gateway.pid) }), 1000);
const stopAll = () => {
  clearInterval(sampler);
  for (const child of [gateway, upstream]) child.kill('SIGTERM');
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
  console.log(
    `RSS: ${samples[0].rss.toFixed(1)} MiB at start, ${warm.rss.toFixed(1)} MiB after the ${WARM_UP_S}s warm-up, ` +
      `${last.rss.toFixed(1)} MiB at the end (${(growth * 100).toFixed(1)} % growth), ` +
      `peak ${Math.max(...samples.map((s) => s.rss)).toFixed(1)} MiB`,
  );
  const healthyErrors = rows.filter((_, i) => mix[i].healthy).reduce((sum, row) => sum + row.errors, 0);
  const file = here(`./results/soak-${new Date().toISOString().replaceAll(':', '-')}.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), node: process.version, duration: DURATION, connections: CONNECTIONS, rows, samples }, null, 2));
  console.log(`written to ${file}`);
  const ok = healthyErrors === 0 && rows[2].errors === 0 && growth < MAX_RSS_GROWTH;
  console.log(ok ? 'soak passed' : `soak FAILED: ${healthyErrors} errors on healthy routes, RSS growth ${(growth * 100).toFixed(1)} %`);
  process.exitCode = ok ? 0 : 1;
} finally {
  stopAll();
}
