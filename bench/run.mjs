// `npm run bench`: our gateway against fast-gateway 5, nginx and two Node floors, like for like,
// all in one run. Everything listens on 127.0.0.1; every load is bounded by DURATION; every
// process it starts is ended by its PID when the run ends, fails or is interrupted.
import { generateKeyPairSync, sign } from 'node:crypto';
import { createServer } from 'node:http';
import { connect as connectHttp2 } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { report } from './report.mjs';
import { coreTimes, freePort, grpcLoad, h2load, has, here, pinning, rssMiB, run, start, START_ENV, START_FLAGS, stolenShares, stopAll, waitForHttp, waitForLine, wrk, wsLoad } from './processes.mjs';

const DURATION = Number(process.env.DURATION ?? 4);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 32);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
// Five short rounds rather than two long ones: the host's slow spells (minutes long, and not all
// of them visible as steal) then touch a minority of each scenario's runs, which the median drops.
// One unmeasured load per scenario before the first round, so that no row is measured cold.
const WARMUP = Number(process.env.WARMUP ?? 1);
const WS_CONNECTIONS = Number(process.env.WS_CONNECTIONS ?? 64);
// The HTTP/2 rows: as many requests in flight as wrk's CONNECTIONS, multiplexed as HTTP/2
// clients do, over H2_CONNECTIONS connections.
const H2_CONNECTIONS = Number(process.env.H2_CONNECTIONS ?? 4);
const H2_STREAMS = Math.max(1, Math.round(CONNECTIONS / H2_CONNECTIONS));
// On a shared VM the hypervisor takes a core for other guests at times (steal): a measured load
// during which either core lost more than MAX_STEAL of its time is run again, up to STEAL_RETRIES
// times, and the attempt that lost the least is kept. Every kept run records its steal.
const MAX_STEAL = Number(process.env.MAX_STEAL ?? 0.05);
const STEAL_RETRIES = Number(process.env.STEAL_RETRIES ?? 2);
// ONLY=ws (or hello,big,...): measure those kinds only, starting only the systems they need.
const ONLY = process.env.ONLY?.split(',').map((kind) => kind.trim());
// SYSTEMS=gateway,gateway-tracing: those rows only (their keys), for a target that compares two.
const SYSTEMS = process.env.SYSTEMS?.split(',').map((key) => key.trim());

if (!(await has('wrk'))) {
  console.error('bench needs wrk (Debian: apt-get install -y wrk)');
  process.exit(1);
}

const version = (name) => JSON.parse(readFileSync(here(`../node_modules/${name}/package.json`), 'utf8')).version;
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

// Every child, so that the end of the run (normal, failed or interrupted) stops each by its PID.
const children = [];
const stopLoad = new AbortController();
let stopping;
let sampler;
// Files a row writes its log to, removed once the run ends.
const logFiles = [];
const removeLogFiles = () => {
  for (const { dir, fd } of logFiles.splice(0)) {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
};
const cleanUp = () => {
  stopping ??= (clearInterval(sampler), stopLoad.abort(), stopAll(children).then(removeLogFiles));
  return stopping;
};
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    console.error(`bench: ${signal}, stopping what it started`);
    cleanUp().then(() => process.exit(130));
  });
}
// A system that exits during the run ends the run: its rows would be meaningless.
let reportDeath;
const died = new Promise((_, reject) => (reportDeath = reject));
died.catch(() => undefined);
const guard = (promise) => Promise.race([promise, died]);

function launch(name, core, command, args, env, options) {
  const child = start(core, command, args, env, options);
  children.push(child);
  child.once('exit', (code, signal) => stopping || reportDeath(new Error(`${name} (pid ${child.pid}) exited with ${signal ?? `code ${code}`}`)));
  child.once('error', (error) => stopping || reportDeath(new Error(`${name}: ${error.message}`)));
  return child;
}

const node = (name, core, script, env, options) => launch(name, core, process.execPath, [script], env, options);
const gatewayProcess = (name, core, config, env, stdout = 'ignore') => {
  const file = here(`./results/${name}.json`);
  writeFileSync(file, JSON.stringify(config));
  return launch(name, core, process.execPath, [...START_FLAGS, here('../dist/main.js')], { ...START_ENV, GATEWAY_CONFIG: file, HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env }, { stdout });
};
/**
 * A new temporary file's descriptor, for a row's stdout: its log lines then cost what they cost
 * on a real file (what a container's log driver also reads from), where /dev/null would make
 * every write free and hide what buffering them saves.
 */
const logFile = (name) => {
  const dir = mkdtempSync(join(tmpdir(), `bench-${name}-`));
  const fd = openSync(join(dir, 'stdout.log'), 'w');
  logFiles.push({ dir, fd });
  return fd;
};

/** nginx as a reverse proxy with upstream keep-alive: a reference for what one hop can cost. */
async function startNginx(upstreamPorts, port, name = 'nginx', tls) {
  const prefix = here(`./results/${name}/`);
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
  client_body_temp_path ${prefix}client_body;
  proxy_temp_path ${prefix}proxy;
  # Room for a 64 KiB answer in memory, so that nginx never spills it to a temporary file.
  proxy_buffer_size 16k;
  proxy_buffers 8 16k;
  upstream service { ${upstreamPorts.map((upstreamPort) => `server 127.0.0.1:${upstreamPort};`).join(' ')} keepalive 64; }
  server {
    listen 127.0.0.1:${port}${tls ? ' ssl http2' : ''};
${tls ? `    ssl_certificate ${tls.cert};\n    ssl_certificate_key ${tls.key};\n    ssl_protocols TLSv1.2 TLSv1.3;\n    keepalive_requests 1000000;\n` : ''}    location /api/ {
      proxy_pass http://service/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
    location = /ws {
      proxy_pass http://service;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
    }
  }
}
`,
  );
  const child = launch(name, 0, 'nginx', ['-e', `${prefix}error.log`, '-p', prefix, '-c', `${prefix}nginx.conf`], {}, { stdout: 'ignore' });
  child.stopSignal = 'SIGQUIT';
  return child;
}

const paths = { hello: '/api/hello', big: '/api/big' };

/**
 * A self-signed ECDSA P-256 certificate for 127.0.0.1 (what the TLS rows present, gateway and
 * nginx alike), made with the openssl CLI in results/tls/.
 */
async function makeCertificate() {
  const dir = here('./results/tls/');
  mkdirSync(dir, { recursive: true });
  const cert = join(dir, 'server.crt');
  const key = join(dir, 'server.key');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert]);
  return { cert, key, ca: readFileSync(cert) };
}

/** GETs `url` over TLS (HTTP/1.1, or HTTP/2 with `h2`), trusting `ca`: its status and body length. */
function fetchTls(url, { ca, h2 = false }) {
  return new Promise((resolve, reject) => {
    const answer = (status, body) => {
      let bytes = 0;
      body.on('data', (chunk) => (bytes += chunk.length));
      body.on('end', () => resolve({ status, bytes }));
      body.on('error', reject);
    };
    if (!h2) {
      httpsRequest(url, { ca, agent: false }, (res) => answer(res.statusCode, res)).on('error', reject).end();
      return;
    }
    const { origin, pathname } = new URL(url);
    const session = connectHttp2(origin, { ca });
    session.on('error', reject);
    const stream = session.request({ ':path': pathname });
    stream.on('response', (head) => answer(head[':status'], stream));
    stream.on('close', () => session.close());
    stream.end();
  });
}
const GRPC_PATH = '/bench.Echo/Unary';

/** Retries a one-second gRPC load at `base` until every call of it answers with status 0 (the gateway may still be starting). */
async function checkGrpc(base) {
  for (let attempt = 0; ; attempt++) {
    const result = await grpcLoad(base, { connections: 1, duration: 1, signal: stopLoad.signal }).catch((error) => ({ requests: 0, errors: error.message }));
    if (result.requests > 0 && !result.errors) return;
    if (attempt === 10) throw new Error(`${base}${GRPC_PATH}: no gRPC answer (${result.errors} errors)`);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

/** A limit the load never reaches: what counting every request costs, with nothing refused. */
const NEVER_REACHED = { limit: 1_000_000_000, window: '1s' };

/** An identity provider in the bench's own process: an RSA key made here, its JWKS, and a token signed with it. */
function startIssuer() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwks = JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'bench', alg: 'RS256', use: 'sig' }] });
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(jwks));
  server.listen(0, '127.0.0.1');
  server.unref();
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${part({ alg: 'RS256', typ: 'JWT', kid: 'bench' })}.${part({ iss: 'bench', aud: 'bench', sub: 'bench-user', exp: Math.floor(Date.now() / 1000) + 3600 })}`;
  const token = `${input}.${sign('RSA-SHA256', Buffer.from(input), privateKey).toString('base64url')}`;
  return {
    token,
    get url() {
      return `http://127.0.0.1:${server.address().port}/jwks.json`;
    },
  };
}

/**
 * How long a system may take to answer after the run starts it. Every system starts at once, the
 * gateways all on core 0: on Node 24 the whole set took longer than 15 s to be up, and the run
 * stopped at its first gateway.
 */
const START_TIMEOUT_MS = 120_000;

/** Retries fetchTls until `url` answers (the listener may still be starting). */
async function waitForTls(url, options) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    try {
      return await fetchTls(url, options);
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${url}: ${error.message}`);
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
  }
}

/** Opens a WebSocket to `url`, checks that a message comes back as sent, and closes it. */
function checkEcho(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), { perMessageDeflate: false });
    const fail = (why) => (ws.terminate(), reject(new Error(`${url}: ${why}`)));
    const timer = setTimeout(() => fail('no echo within 5 s'), 5000);
    ws.once('open', () => ws.send('bench check'));
    ws.once('message', (data) => {
      clearTimeout(timer);
      ws.close();
      if (data.toString() === 'bench check') resolve();
      else fail(`echoed ${JSON.stringify(data.toString())}`);
    });
    ws.once('unexpected-response', (_req, res) => fail(`answered ${res.statusCode} to the upgrade`));
    ws.once('error', (error) => fail(error.message));
  });
}

try {
  mkdirSync(here('./results'), { recursive: true });
  // One service on three ports: the first for the single-target rows, all three for the balanced ones.
  const upstream = node('upstream', 1, here('./upstream.mjs'), { LISTENERS: '3' });
  const upstreamPorts = (await guard(waitForLine(upstream))).split(' ').map(Number);
  const [upstreamPort] = upstreamPorts;
  const target = `http://127.0.0.1:${upstreamPort}`;
  const balancedTargets = upstreamPorts.map((port) => `http://127.0.0.1:${port}`);
  const nginxVersion = (await has('nginx')) ? (await run('nginx', ['-v'])).stderr.trim().replace(/^nginx version: /, '') : undefined;
  if (!nginxVersion) console.log('nginx is not installed: its row is left out (Debian: apt-get install -y nginx)');
  // What the access-control rows need: a Redis beside the service, and an issuer whose key set
  // the bench serves itself, with one RS256 token that every request of the JWT row repeats.
  const redisVersion = (await has('redis-server')) ? (await run('redis-server', ['--version'])).stdout.match(/v=(\S+)/)?.[1] : undefined;
  if (!redisVersion) console.log('redis-server is not installed: the Redis rate limit row is left out (Debian: apt-get install -y redis-server)');
  let redisUrl;
  if (redisVersion) {
    const redisPort = await freePort();
    launch('redis', 1, 'redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {}, { stdout: 'ignore' });
    redisUrl = `redis://127.0.0.1:${redisPort}`;
  }
  // The gRPC rows' service: grpc-js, one unary method, core 1 beside the other service.
  const grpcWanted = !ONLY || ONLY.includes('grpc');
  const grpcTarget = grpcWanted ? `http://127.0.0.1:${await guard(waitForLine(node('grpc-upstream', 1, here('./grpc-upstream.mjs'), {}, { stdout: 'pipe' })))}` : undefined;
  const issuer = startIssuer();
  // The tracing row's collector, a service like the others: on core 1, not in this process, which
  // no core is kept for (the scheduler could put it on the gateways' core).
  const collectorUrl = `http://127.0.0.1:${await guard(waitForLine(node('collector', 1, here('./collector-sink.mjs'), {}, { stdout: 'pipe' })))}/v1/traces`;
  const tlsWanted = !ONLY || ONLY.includes('tls') || ONLY.includes('h2');
  const certificate = tlsWanted ? await guard(makeCertificate()) : undefined;
  const tls = certificate && { cert: certificate.cert, key: certificate.key };
  const h2loadInstalled = await has('h2load');
  if (tlsWanted && !h2loadInstalled) console.log('h2load is not installed: the HTTP/2 rows are left out (Debian: apt-get install -y nghttp2-client)');
  const gatewayFlags = [...Object.entries(START_ENV).map(([name, value]) => `${name}=${value}`), 'node', ...START_FLAGS].join(' ');

  // `rss`: the row's process is sampled for its peak RSS; `ours`: a single-process gateway, held to the RSS target.
  const systems = [
    { key: 'direct', label: 'direct', paths: { hello: '/hello', big: '/big', hit: '/cached', ws: '/ws' }, setup: 'bench/upstream.mjs alone (node:http, keep-alive), core 1 beside wrk; its cache-hit cell is the upstream answering /cached itself', wsSetup: `bench/upstream.mjs's echo on /ws (ws ${version('ws')}, no permessage-deflate, on its node:http server), core 1 beside the client` },
    { key: 'floor-node-http', label: 'floor: node:http', paths, run: (port) => node('floor-node-http', 0, here('./floor-node-http.mjs'), { TARGET: target, PORT: String(port) }, { stdout: 'ignore' }), rss: true, setup: 'bench/floor-node-http.mjs, core 0: node:http server, node:http client with a keep-alive Agent, bodies piped both ways' },
    { key: 'floor-undici', label: 'floor: undici', paths, run: (port) => node('floor-undici', 0, here('./floor-undici.mjs'), { TARGET: target, PORT: String(port) }, { stdout: 'ignore' }), rss: true, setup: `bench/floor-undici.mjs, core 0: node:http server, undici ${version('undici')} Pool.dispatch, streamed request body, legacy handler writing raw headers and chunks with back-pressure` },
    ...(nginxVersion ? [{ key: 'nginx', label: 'nginx', paths: { ...paths, ws: '/ws' }, run: (port) => startNginx([upstreamPort], port), setup: `${nginxVersion}, core 0: worker_processes 1, upstream keepalive 64, access_log off, proxy_buffers 8 16k`, wsSetup: `the nginx row's process, core 0: location = /ws with proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade"` }] : []),
    ...(nginxVersion ? [{ key: 'nginx-3-targets', label: 'nginx, 3 servers', paths: { hello: '/api/hello' }, run: (port) => startNginx(upstreamPorts, port, 'nginx-3-targets'), setup: 'the same nginx with 3 servers in its upstream block (round-robin), the same service on 3 ports' }] : []),
    { key: 'fast-gateway', label: 'fast-gateway', paths, run: (port) => node('fast-gateway', 0, here('./fast-gateway.mjs'), { TARGET: target, PORT: String(port) }, { stdout: 'ignore' }), rss: true, setup: `fast-gateway ${version('fast-gateway')} (bench/fast-gateway.mjs), core 0: no middlewares` },
    { key: 'fast-gateway-cache', label: 'fast-gateway + http-cache-middleware', paths: { hit: '/api/cached' }, run: (port) => node('fast-gateway-cache', 0, here('./fast-gateway.mjs'), { TARGET: target, PORT: String(port), CACHE: '1' }, { stdout: 'ignore' }), rss: true, setup: `fast-gateway ${version('fast-gateway')} with http-cache-middleware ${version('http-cache-middleware')} (CACHE=1), core 0: memory store, /cached kept by x-cache-timeout` },
    { key: 'hit-ceiling', label: 'ceiling: node:http from memory', paths: { hit: '/api/cached' }, run: (port) => node('hit-ceiling', 0, here('./hit-ceiling.mjs'), { PORT: String(port) }, { stdout: 'ignore' }), setup: "bench/hit-ceiling.mjs, core 0: node:http answering /cached's body and head from memory, what no Node gateway's cache hit can beat" },
    { key: 'gateway', label: 'gateway', paths: { ...paths, ws: '/api/ws' }, run: (port) => gatewayProcess('gateway', 0, { routes: [{ prefix: '/api', target }] }, { PORT: String(port) }), rss: true, ours: true, setup: `dist/main.js (${gatewayFlags}), core 0: no cache configured, LOG_LEVEL=warn (access log off)`, wsSetup: "the gateway row's process, core 0: the route /api (websocket on by default) proxies the upgrade of /api/ws to the service's /ws through http-proxy-3; no access log" },
    { key: 'gateway-3-targets', label: 'gateway, 3 targets', paths: { hello: '/api/hello' }, run: (port) => gatewayProcess('gateway-3-targets', 0, { routes: [{ prefix: '/api', targets: balancedTargets, retries: 0 }] }, { PORT: String(port) }), rss: true, setup: 'the same with targets: the service on 3 ports, balance round-robin, retries 0: the cost of the pool and its balancing alone' },
    { key: 'gateway-access-log', label: 'gateway, access log on', paths, run: (port) => gatewayProcess('gateway-access-log', 0, { routes: [{ prefix: '/api', target }] }, { PORT: String(port), LOG_LEVEL: 'info' }, logFile('gateway-access-log')), rss: true, ours: true, setup: 'the same with LOG_LEVEL=info: one access line per request, stdout a temporary file (removed after the run), written as the gateway buffers it' },
    { key: 'gateway-cache', label: 'gateway + memory cache', paths: { hit: '/api/cached' }, run: (port) => gatewayProcess('gateway-cache', 0, { cache: { store: 'memory' }, routes: [{ prefix: '/api', target }] }, { PORT: String(port) }), rss: true, ours: true, setup: 'the same (LOG_LEVEL=warn) with cache: { store: "memory" }; /cached kept by x-cache-timeout' },
    { key: 'gateway-stale', label: 'gateway + memory cache, stale hit', paths: { hit: '/api/stale' }, run: (port) => gatewayProcess('gateway-stale', 0, { cache: { store: 'memory' }, routes: [{ prefix: '/api', target, timeout: '1 hour' }] }, { PORT: String(port) }), rss: true, setup: 'the gateway + memory cache row with /stale kept 1 s by x-cache-timeout and served stale for an hour by x-cache-stale; the service holds every refresh unanswered (route timeout 1 hour), so each request is a stale hit with one refresh in flight' },
    { key: 'gateway-rate-limit', label: 'gateway, rate limit (memory)', paths: { hello: '/api/hello' }, run: (port) => gatewayProcess('gateway-rate-limit', 0, { routes: [{ prefix: '/api', target, rateLimit: NEVER_REACHED }] }, { PORT: String(port) }), rss: true, setup: `the gateway row's route with rateLimit: { limit: ${NEVER_REACHED.limit}, window: '${NEVER_REACHED.window}' } (by ip, in memory): every request counted, none refused` },
    ...(redisUrl ? [{ key: 'gateway-rate-limit-redis', label: 'gateway, rate limit (Redis)', paths: { hello: '/api/hello' }, run: (port) => gatewayProcess('gateway-rate-limit-redis', 0, { routes: [{ prefix: '/api', target, rateLimit: { ...NEVER_REACHED, store: 'redis', redisUrl } }] }, { PORT: String(port) }), rss: true, setup: `the same limit with store: redis: one EVALSHA round trip per request to redis-server ${redisVersion} on core 1 (beside the service and wrk), no persistence` }] : []),
    { key: 'gateway-jwt', label: 'gateway, JWT (RS256)', paths: { hello: '/api/hello' }, headers: { authorization: `Bearer ${issuer.token}` }, run: (port) => gatewayProcess('gateway-jwt', 0, { routes: [{ prefix: '/api', target, auth: { jwt: { jwks: { url: issuer.url }, algorithms: ['RS256'], issuer: 'bench', audience: 'bench', forwardClaims: { sub: 'x-user-id' } } } }] }, { PORT: String(port) }), rss: true, setup: "the gateway row's route with auth.jwt (RS256, 2048-bit key, issuer and audience checked, sub forwarded as x-user-id); wrk sends the same token on every request, as a client does, so after the first it is a verified token looked up" },
    { key: 'gateway-tracing', label: 'gateway, tracing', paths: { hello: '/api/hello' }, run: (port) => gatewayProcess('gateway-tracing', 0, { routes: [{ prefix: '/api', target }], tracing: { otlpUrl: collectorUrl, sampleRatio: 1 } }, { PORT: String(port) }), rss: true, setup: "the gateway row's route with tracing: { sampleRatio: 1 } (a SERVER and a CLIENT span per request, OTLP/HTTP protobuf every 1 s or 1,024 spans, queue 2048) to a collector (bench/collector-sink.mjs, core 1) that answers 200 and keeps nothing" },
    { key: 'gateway-2-workers', label: 'gateway, 2 workers', paths: { hello: '/api/hello' }, run: (port) => gatewayProcess('gateway-2-workers', '0,1', { routes: [{ prefix: '/api', target }] }, { PORT: String(port), GATEWAY_WORKERS: '2' }), setup: 'the same (no cache, LOG_LEVEL=warn) with GATEWAY_WORKERS=2, not pinned: both cores, shared with the upstream and wrk' },
    ...(tls
      ? [
          ...(nginxVersion ? [{ key: 'nginx-tls', label: 'nginx, TLS + HTTP/2', scheme: 'https', paths: { tls: '/api/hello', h2: '/api/hello' }, run: (port) => startNginx([upstreamPort], port, 'nginx-tls', tls), setup: 'the nginx row with listen ssl http2, the same certificate, ssl_protocols TLSv1.2 TLSv1.3 (its default ciphers, no session cache: wrk and h2load keep their connections), keepalive_requests 1000000 as the gateway has no such cap (at its default of 1000, the GOAWAY of nginx cuts the streams h2load has in flight, counted as failed)' }] : []),
          { key: 'gateway-tls', label: 'gateway, TLS', scheme: 'https', paths: { tls: '/api/hello' }, run: (port) => gatewayProcess('gateway-tls', 0, { server: { tls }, routes: [{ prefix: '/api', target }] }, { PORT: String(port) }), rss: true, ours: true, setup: "the gateway row with server.tls (ECDSA P-256 certificate for 127.0.0.1, made by openssl per run; TLS 1.3 negotiated)" },
          { key: 'gateway-h2', label: 'gateway, TLS + HTTP/2', scheme: 'https', paths: { h2: '/api/hello' }, run: (port) => gatewayProcess('gateway-h2', 0, { server: { tls, http2: true }, routes: [{ prefix: '/api', target }] }, { PORT: String(port) }), rss: true, ours: true, setup: 'the same with server.http2: true (h2 by ALPN); the service behind it still HTTP/1.1' },
        ]
      : []),
    ...(grpcWanted
      ? [
          { key: 'direct-grpc', label: 'direct (gRPC)', base: grpcTarget, paths: { grpc: GRPC_PATH }, setup: `bench/grpc-upstream.mjs alone (grpc-js ${version('@grpc/grpc-js')}, h2c), core 1 beside the load` },
          { key: 'gateway-grpc', label: 'gateway, gRPC', paths: { grpc: GRPC_PATH }, run: (port) => gatewayProcess('gateway-grpc', 0, { server: { http2: true }, routes: [{ prefix: '/bench.Echo', target: grpcTarget, protocol: 'grpc' }] }, { PORT: String(port) }), rss: true, setup: 'dist/main.js as the gateway row, core 0, with server.http2: true (h2c by preface) and one protocol: grpc route; one node:http2 session to the service; no access log' },
        ]
      : []),
  ].flatMap((system) => {
    if (SYSTEMS && !SYSTEMS.includes(system.key)) return [];
    const kept = Object.fromEntries(Object.entries(system.paths).filter(([kind]) => (!ONLY || ONLY.includes(kind)) && (kind !== 'h2' || h2loadInstalled)));
    return Object.keys(kept).length ? [{ ...system, paths: kept }] : [];
  });
  const taken = new Set([upstreamPort]);
  for (const system of systems) {
    if (!system.run) {
      system.base ??= target;
      continue;
    }
    let port;
    do port = await freePort();
    while (taken.has(port));
    taken.add(port);
    system.base = `${system.scheme ?? 'http'}://127.0.0.1:${port}`;
    system.child = await system.run(port);
  }
  const peakRss = {};
  sampler = setInterval(() => {
    for (const { key, rss, child } of systems) if (rss) peakRss[key] = Math.max(peakRss[key] ?? 0, rssMiB(child.pid));
  }, 200);

  // Each system answers every path it is measured on, in full (as many bytes as the upstream
  // alone, which comes first); the cache rows hit, the others never do.
  const expectedBytes = {};
  for (const system of systems) {
    // An h2c listener answers no HTTP/1.1 request: the gRPC rows are checked by calls.
    if (system.paths.grpc) {
      await guard(checkGrpc(system.base));
      continue;
    }
    // A TLS listener is checked with the run's certificate as its CA, each kind as it is loaded.
    if (system.scheme === 'https') {
      for (const [kind, path] of Object.entries(system.paths)) {
        const answer = await guard(waitForTls(system.base + path, { ca: certificate.ca, h2: kind === 'h2' }));
        expectedBytes.hello ??= answer.bytes;
        if (answer.status !== 200 || answer.bytes !== expectedBytes.hello) throw new Error(`${system.label} ${path} (${kind}): ${answer.status} with ${answer.bytes} bytes, expected 200 with ${expectedBytes.hello}`);
      }
      continue;
    }
    await guard(waitForHttp(system.base + Object.values(system.paths)[0], START_TIMEOUT_MS));
    for (const [kind, path] of Object.entries(system.paths)) {
      if (kind === 'ws') {
        await guard(checkEcho(system.base + path));
        continue;
      }
      const answers = [];
      for (let i = 0; i < 2; i++) answers.push(await guard(fetch(system.base + path, { headers: system.headers }).then(async (res) => ({ res, bytes: (await res.arrayBuffer()).byteLength }))));
      const { res, bytes } = answers[1];
      expectedBytes[kind] ??= bytes;
      const expected = expectedBytes[kind];
      const hit = res.headers.get('x-cache-hit') === '1';
      if (res.status !== 200 || bytes !== expected) throw new Error(`${system.label} ${path}: ${res.status} with ${bytes} bytes, expected 200 with ${expected}`);
      if (hit !== (kind === 'hit' && system.key !== 'direct')) throw new Error(`${system.label} ${path}: the second answer ${hit ? 'was' : 'was not'} a cache hit`);
    }
  }

  const scenarios = systems.flatMap((system) => Object.entries(system.paths).map(([kind, path]) => ({ system, kind, url: system.base + path })));
  const load = ({ system, kind, url }, duration) =>
    guard(kind === 'h2' ? h2load(url, { connections: H2_CONNECTIONS, streams: H2_STREAMS, duration, signal: stopLoad.signal }) : kind === 'grpc' ? grpcLoad(url.slice(0, -GRPC_PATH.length), { connections: CONNECTIONS, duration, signal: stopLoad.signal }) : kind === 'ws' ? wsLoad(url, { connections: WS_CONNECTIONS, duration, signal: stopLoad.signal }) : wrk(url, { connections: CONNECTIONS, duration, signal: stopLoad.signal, headers: system.headers }));
  console.log(
    `nest-gateway bench: ${scenarios.length} scenarios × ${ROUNDS} rounds of ${DURATION}s (after ${WARMUP}s warm-up each), alternating order, medians; ` +
      `wrk -t1 -c${CONNECTIONS}, h2load -c${H2_CONNECTIONS} -m${H2_STREAMS}, WebSocket echo over ${WS_CONNECTIONS}; node ${process.version}; ` +
      (pinning ? 'systems under test on core 0, upstream and wrk on core 1 (taskset)' : 'NO CPU pinning (taskset or a second core missing)'),
  );
  const warmUpErrors = {};
  if (WARMUP > 0) {
    for (const scenario of scenarios) {
      const { system, kind } = scenario;
      const result = await load(scenario, WARMUP);
      if (result.errors) warmUpErrors[`${system.key} ${kind}`] = result.errors;
    }
  }
  let rerun = 0;
  const measure = async (scenario) => {
    let kept;
    for (let attempt = 0; attempt <= STEAL_RETRIES; attempt++) {
      const before = coreTimes();
      const result = await load(scenario, DURATION);
      const steal = Math.max(...stolenShares(before, coreTimes()));
      if (!kept || steal < kept.steal) kept = { ...result, steal };
      if (steal <= MAX_STEAL) break;
      if (attempt < STEAL_RETRIES) rerun++;
    }
    return kept;
  };
  const samples = new Map(scenarios.map((scenario) => [scenario, []]));
  for (let round = 0; round < ROUNDS; round++) {
    // Alternating order, so that drift of a shared machine hits every scenario alike.
    const order = round % 2 === 0 ? scenarios : [...scenarios].reverse();
    for (const scenario of order) samples.get(scenario).push(await measure(scenario));
  }
  const steals = [...samples.values()].flat().map((run) => run.steal);
  const percent = (share) => `${(share * 100).toFixed(1)} %`;
  const stealSummary =
    `steal (the hypervisor's share of a core during a measured load, the larger of the two cores): median ${percent(median(steals))}, ` +
    `max ${percent(Math.max(...steals))}; ${rerun} load(s) run again for more than ${percent(MAX_STEAL)}, ` +
    `${steals.filter((steal) => steal > MAX_STEAL).length} kept above it after ${STEAL_RETRIES} retries`;
  clearInterval(sampler);

  const results = Object.fromEntries(systems.map((system) => [system.key, {}]));
  for (const [{ system, kind }, runs] of samples) {
    results[system.key][kind] = {
      rps: median(runs.map((r) => r.rps)),
      mbps: median(runs.map((r) => r.mbps)),
      p50: median(runs.map((r) => r.p50)),
      p99: median(runs.map((r) => r.p99)),
      socketErrors: runs.reduce((sum, r) => sum + r.socketErrors, 0),
      non2xx: runs.reduce((sum, r) => sum + r.non2xx, 0),
      runs,
    };
  }
  const { table, targets } = report(systems, results, peakRss);
  console.log(`\n${table.join('\n')}\n`);
  console.log(`Targets (${targets.filter((t) => t.pass).length}/${targets.length} pass):`);
  for (const { target: name, pass, figures } of targets) console.log(`${pass ? 'PASS' : 'FAIL'}  ${name}: ${figures}`);
  console.log(stealSummary);
  if (Object.keys(warmUpErrors).length) console.log(`(warm-up loads, not counted above, had errors: ${JSON.stringify(warmUpErrors)})`);

  const file = here(`./results/bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        gatewayEnv: START_ENV,
        gatewayFlags: START_FLAGS,
        settings: { duration: DURATION, rounds: ROUNDS, warmUp: WARMUP, connections: CONNECTIONS, http2Connections: H2_CONNECTIONS, http2Streams: H2_STREAMS, webSocketConnections: WS_CONNECTIONS, only: ONLY ?? null, systems: SYSTEMS ?? null, pinning, maxSteal: MAX_STEAL, stealRetries: STEAL_RETRIES },
        steal: stealSummary,
        systems: systems.map(({ key, label, setup, paths: measured }) => ({ key, label, setup, paths: measured, peakRssMiB: peakRss[key] ?? null, results: results[key] })),
        warmUpErrors,
        targets,
      },
      null,
      2,
    ),
  );
  console.log(`written to ${file}`);
} catch (error) {
  console.error(`bench failed: ${error.message}`);
  process.exitCode = 1;
} finally {
  await cleanUp();
}
// Nothing of ours is left running; leftover timers (a readiness poll cut short) need not be waited for.
process.exit();
