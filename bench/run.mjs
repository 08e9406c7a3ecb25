// `npm run bench`: measures the gateway against the limit of one hop on this machine.
// Everything listens on 127.0.0.1; every load is bounded by DURATION.
import { mkdirSync, writeFileSync } from 'node:fs';
import { findJemalloc, has, here, pinning, rssMiB, start, START_FLAGS, waitForHttp, waitForLine, wrk } from './processes.mjs';

const DURATION = Number(process.env.DURATION ?? 8);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 32);
const ROUNDS = Number(process.env.ROUNDS ?? 2);
const GATEWAY_PORT = Number(process.env.GATEWAY_PORT ?? 18181);
const PEER_PORT = GATEWAY_PORT + 1;
const NGINX_PORT = GATEWAY_PORT + 2;
const WORKERS_PORT = GATEWAY_PORT + 3;
const JEMALLOC_PORT = GATEWAY_PORT + 4;

const load = (url) => wrk(url, { connections: CONNECTIONS, duration: DURATION });
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

if (!(await has('wrk'))) {
  console.error('bench needs wrk (Debian: apt-get install -y wrk)');
  process.exit(1);
}

const upstream = start(1, process.execPath, [here('./upstream.mjs')]);
const upstreamPort = Number(await waitForLine(upstream));
const configFile = here('./results/bench-gateway.json');
mkdirSync(here('./results'), { recursive: true });
writeFileSync(configFile, JSON.stringify({ cache: { store: 'memory' }, routes: [{ prefix: '/api', target: `http://127.0.0.1:${upstreamPort}` }] }));
// No access log, as nginx here (access_log off) and fast-gateway (none): the rows compare proxying.
const LOG_LEVEL = process.env.LOG_LEVEL ?? 'warn';
const gateway = start(0, process.execPath, [...START_FLAGS, here('../dist/main.js')], {
  LOG_LEVEL,
  GATEWAY_CONFIG: configFile,
  PORT: String(GATEWAY_PORT),
  HOST: '127.0.0.1',
});
const gatewayUrl = `http://127.0.0.1:${GATEWAY_PORT}`;
// Two workers need both cores: this one is not pinned, and shares them with the service and wrk.
const workers = start('0,1', process.execPath, [...START_FLAGS, here('../dist/main.js')], {
  LOG_LEVEL,
  GATEWAY_CONFIG: configFile,
  GATEWAY_WORKERS: '2',
  PORT: String(WORKERS_PORT),
  HOST: '127.0.0.1',
});
const workersUrl = `http://127.0.0.1:${WORKERS_PORT}`;
// The same gateway with jemalloc preloaded instead of glibc's malloc: an operator's choice, measured.
const jemalloc = await findJemalloc();
const gatewayJemalloc = jemalloc
  ? start(0, process.execPath, [...START_FLAGS, here('../dist/main.js')], {
      LOG_LEVEL,
      GATEWAY_CONFIG: configFile,
      PORT: String(JEMALLOC_PORT),
      HOST: '127.0.0.1',
      LD_PRELOAD: jemalloc,
    })
  : undefined;
const jemallocUrl = `http://127.0.0.1:${JEMALLOC_PORT}`;
const peer = start(0, process.execPath, [here('./fast-gateway.mjs')], {
  TARGET: `http://127.0.0.1:${upstreamPort}`,
  PORT: String(PEER_PORT),
});
const peerUrl = `http://127.0.0.1:${PEER_PORT}`;
const nginx = (await has('nginx')) ? startNginx(upstreamPort) : undefined;
let peakRss = 0;
let peakRssJemalloc = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, rssMiB(gateway.pid));
  if (gatewayJemalloc) peakRssJemalloc = Math.max(peakRssJemalloc, rssMiB(gatewayJemalloc.pid));
}, 200);

/** nginx as a reverse proxy with upstream keep-alive: a reference for what one hop can cost. */
function startNginx(port) {
  const prefix = here('./results/nginx/');
  mkdirSync(prefix, { recursive: true });
  writeFileSync(
    `${prefix}nginx.conf`,
    `worker_processes 1;
daemon off;
pid ${prefix}nginx.pid;
error_log ${prefix}error.log;
events { worker_connections 1024; }
http {
  access_log off;
  upstream service { server 127.0.0.1:${port}; keepalive 64; }
  server {
    listen 127.0.0.1:${NGINX_PORT};
    location /api/ {
      proxy_pass http://service/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`,
  );
  return start(0, 'nginx', ['-p', prefix, '-c', `${prefix}nginx.conf`]);
}

// `peer`: the fast-gateway row a gateway row is compared with.
const scenarios = [
  { name: 'direct', url: `http://127.0.0.1:${upstreamPort}/hello` },
  { name: 'gateway', url: `${gatewayUrl}/api/hello`, peer: 'fast-gateway' },
  { name: 'gateway-cache-hit', url: `${gatewayUrl}/api/cached`, peer: 'fast-gateway-cache-hit' },
  { name: 'gateway-big', url: `${gatewayUrl}/api/big`, peer: 'fast-gateway-big' },
  { name: 'gateway-2-workers', url: `${workersUrl}/api/hello`, peer: 'fast-gateway' },
  ...(gatewayJemalloc
    ? [
        { name: 'gateway-jemalloc', url: `${jemallocUrl}/api/hello`, peer: 'fast-gateway' },
        { name: 'gateway-jemalloc-big', url: `${jemallocUrl}/api/big`, peer: 'fast-gateway-big' },
      ]
    : []),
  { name: 'fast-gateway', url: `${peerUrl}/api/hello` },
  { name: 'fast-gateway-cache-hit', url: `${peerUrl}/api/cached` },
  { name: 'fast-gateway-big', url: `${peerUrl}/api/big` },
  ...(nginx ? [{ name: 'nginx', url: `http://127.0.0.1:${NGINX_PORT}/api/hello` }] : []),
];

try {
  await waitForHttp(`${gatewayUrl}/api/hello`);
  await waitForHttp(`${workersUrl}/api/hello`);
  if (gatewayJemalloc) await waitForHttp(`${jemallocUrl}/api/hello`);
  await waitForHttp(`${peerUrl}/api/hello`);
  if (nginx) await waitForHttp(`http://127.0.0.1:${NGINX_PORT}/api/hello`);
  await fetch(`${gatewayUrl}/api/cached`);
  await fetch(`${peerUrl}/api/cached`);
  console.log(`nest-gateway bench: ${DURATION}s × ${ROUNDS} rounds per scenario, ${CONNECTIONS} connections, wrk -t1; gateway runs with node ${START_FLAGS.join(' ') || '(no flags)'}, LOG_LEVEL=${LOG_LEVEL}; ` +
    (pinning ? 'gateway (and fast-gateway, nginx) pinned to core 0, service and wrk to core 1 (taskset); gateway-2-workers on both cores' : 'no CPU pinning (taskset or a second core missing)'));
  const samples = Object.fromEntries(scenarios.map(({ name }) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    // Alternating order, so that drift of a shared machine hits every scenario alike.
    const order = round % 2 === 0 ? scenarios : [...scenarios].reverse();
    for (const { name, url } of order) samples[name].push(await load(url));
  }
  const rows = scenarios.map(({ name }) => {
    const runs = samples[name];
    return {
      scenario: name,
      rps: median(runs.map((r) => r.rps)),
      mbps: median(runs.map((r) => r.mbps)),
      p50: median(runs.map((r) => r.p50)),
      p99: median(runs.map((r) => r.p99)),
      errors: runs.reduce((sum, r) => sum + r.errors, 0),
    };
  });
  const byName = Object.fromEntries(rows.map((row) => [row.scenario, row]));
  const direct = byName.direct;
  // Each scenario against its fast-gateway counterpart (same path), and against our proxied path.
  const peerOf = (name) => byName[scenarios.find((scenario) => scenario.name === name).peer];
  console.table(
    rows.map((row) => ({
      scenario: row.scenario,
      'req/s': Math.round(row.rps),
      'MB/s': row.mbps.toFixed(1),
      'p50 ms': row.p50.toFixed(2),
      'p99 ms': row.p99.toFixed(2),
      errors: row.errors,
      '× direct': (row.rps / direct.rps).toFixed(2),
      '× fast-gateway': peerOf(row.scenario) ? (row.rps / peerOf(row.scenario).rps).toFixed(2) : '',
    })),
  );
  console.log(`cache hit / proxied: ${(byName['gateway-cache-hit'].rps / byName.gateway.rps).toFixed(2)}×`);
  console.log(`gateway peak RSS: ${peakRss.toFixed(1)} MiB` + (gatewayJemalloc ? `; with jemalloc: ${peakRssJemalloc.toFixed(1)} MiB` : '; jemalloc rows left out (apt-get install -y libjemalloc2)'));
  const file = here(`./results/bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), node: process.version, duration: DURATION, connections: CONNECTIONS, rounds: ROUNDS, pinning, peakRssMiB: peakRss, peakRssJemallocMiB: gatewayJemalloc ? peakRssJemalloc : null, rows }, null, 2));
  console.log(`written to ${file}`);
} finally {
  clearInterval(sampler);
  gateway.kill('SIGTERM');
  workers.kill('SIGTERM');
  gatewayJemalloc?.kill('SIGTERM');
  peer.kill('SIGTERM');
  nginx?.kill('SIGQUIT');
  upstream.kill('SIGTERM');
}
