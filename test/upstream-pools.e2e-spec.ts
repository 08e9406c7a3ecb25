import { Agent, createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import type { RouteOptions } from '../src/index.js';
import { gatewayModule, startApp, startGateway, type RunningGateway } from './support/gateway.js';
import { deadPort } from './support/upstream.js';
import { startDnsServer } from './support/dns-server.js';
import { sample } from './support/prometheus.js';
import { until } from './support/wait.js';

/** A target that records what it got and answers as `answer` says. */
interface Target {
  name: string;
  url: string;
  port: number;
  seen: { method: string; url: string; body: string }[];
  answer: (res: import('node:http').ServerResponse, url: string) => void;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

async function startTarget(name: string, port = 0): Promise<Target> {
  let server: Server;
  const target: Target = {
    name,
    url: '',
    port,
    seen: [],
    answer: (res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(name),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
    restart: () => listen(),
  };
  const listen = async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        target.seen.push({ method: req.method!, url: req.url!, body: Buffer.concat(chunks).toString() });
        if (req.url === '/health') return res.end('ok');
        target.answer(res, req.url!);
      });
    });
    await new Promise<void>((resolve) => server.listen(target.port, '127.0.0.1', resolve));
    target.port = (server.address() as AddressInfo).port;
    target.url = `http://127.0.0.1:${target.port}`;
  };
  await listen();
  return target;
}

const agent = new Agent({ keepAlive: true, maxSockets: 32 });
afterAll(() => agent.destroy());

/** GETs `path` through the gateway on a keep-alive agent: the status and the body. */
function get(gateway: RunningGateway, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${gateway.url}${path}`, { agent, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function load(gateway: RunningGateway, count: number, path = '/api/x', concurrency = 16, headers?: (i: number) => Record<string, string>) {
  const results: { status: number; body: string }[] = [];
  for (let done = 0; done < count; done += concurrency) {
    results.push(...(await Promise.all(Array.from({ length: Math.min(concurrency, count - done) }, (_, j) => get(gateway, path, headers?.(done + j))))));
  }
  return results;
}

/** `workers` clients, each sending its next request as soon as the last is answered, `count` in all. */
async function steadyLoad(gateway: RunningGateway, count: number, workers: number) {
  const results: { status: number; body: string }[] = [];
  let sent = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (sent < count) {
        sent += 1;
        results.push(await get(gateway, '/api/x'));
      }
    }),
  );
  return results;
}

const countBy = (values: string[]) => values.reduce<Record<string, number>>((counts, value) => ({ ...counts, [value]: (counts[value] ?? 0) + 1 }), {});

describe('a route with several targets', () => {
  const targets: Target[] = [];
  let gateway: RunningGateway | undefined;
  const start = async (route: Omit<RouteOptions, 'prefix'>) => {
    gateway = await startGateway({ routes: [{ prefix: '/api', ...route }] });
    return gateway;
  };
  const newTargets = async (...names: string[]) => {
    const started = await Promise.all(names.map((name) => startTarget(name)));
    targets.push(...started);
    return started;
  };
  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
    await Promise.all(targets.splice(0).map((target) => target.stop()));
  });

  it('shares requests by weight, 1:2 within 5 % over 3,000 requests (round-robin)', async () => {
    const [a, b] = await newTargets('a', 'b');
    const gw = await start({ targets: [a.url, { url: b.url, weight: 2 }] });
    const counts = countBy((await load(gw, 3000)).map((res) => res.body));
    expect(counts.a + counts.b).toBe(3000);
    expect(Math.abs(counts.b / counts.a - 2)).toBeLessThan(0.1);
  }, 30_000);

  it('sends more to the faster of two targets (least-request)', async () => {
    const [fast, slow] = await newTargets('fast', 'slow');
    slow.answer = (res) => setTimeout(() => res.end('slow'), 50);
    const gw = await start({ targets: [fast.url, slow.url], balance: 'least-request' });
    const counts = countBy((await steadyLoad(gw, 400, 8)).map((res) => res.body));
    expect(counts.fast).toBeGreaterThan(3 * (counts.slow ?? 0));
  }, 30_000);

  it('keeps a key on one target (consistent-hash on a header)', async () => {
    const started = await newTargets('a', 'b', 'c');
    const gw = await start({ targets: started.map((target) => target.url), balance: 'consistent-hash', hashOn: 'header:x-user-id' });
    const first = await load(gw, 60, '/api/x', 12, (i) => ({ 'x-user-id': `user-${i % 20}` }));
    const byUser = new Map<string, Set<string>>();
    first.forEach((res, i) => byUser.set(`user-${i % 20}`, (byUser.get(`user-${i % 20}`) ?? new Set()).add(res.body)));
    expect([...byUser.values()].every((served) => served.size === 1)).toBe(true);
    // The keys spread over the targets.
    expect(new Set(first.map((res) => res.body)).size).toBeGreaterThan(1);
  });

  it('keys consistent-hash on the client behind a trusted proxy, not on the proxy', async () => {
    const started = await newTargets('a', 'b', 'c');
    gateway = await startApp(gatewayModule({ routes: [{ prefix: '/api', targets: started.map((target) => target.url), balance: 'consistent-hash', hashOn: 'ip' }] }), { trustProxy: ['127.0.0.1'] });
    // Every request comes from the proxy at 127.0.0.1; the clients are what it appended.
    const served = await load(gateway, 60, '/api/x', 12, (i) => ({ 'x-forwarded-for': `198.51.100.${i % 30}` }));
    const byClient = new Map<number, Set<string>>();
    served.forEach((res, i) => byClient.set(i % 30, (byClient.get(i % 30) ?? new Set()).add(res.body)));
    expect([...byClient.values()].every((targetsOfClient) => targetsOfClient.size === 1)).toBe(true);
    expect(new Set(served.map((res) => res.body)).size).toBeGreaterThan(1);
  });

  it('loses no request when one of three targets dies mid-load, and takes it back after its checks pass', async () => {
    const started = await newTargets('a', 'b', 'c');
    const gw = await start({
      targets: started.map((target) => target.url),
      retries: 2,
      healthCheck: { path: '/health', interval: 100, timeout: 1000, unhealthyThreshold: 2, healthyThreshold: 1 },
    });
    const before = await load(gw, 90);
    expect(new Set(before.map((res) => res.body))).toEqual(new Set(['a', 'b', 'c']));
    await started[1].stop();
    const during = await load(gw, 300);
    expect(during.filter((res) => res.status !== 200)).toEqual([]);
    expect(new Set(during.slice(-90).map((res) => res.body))).toEqual(new Set(['a', 'c']));
    const metrics = (await request(gw.url).get('/metrics')).text;
    expect(sample(metrics, 'nest_gateway_upstream_target_up', { route: '/api', target: `${started[1].url}/` })).toBe(0);
    // Outlier detection may take it out before its checks do; they go on failing meanwhile.
    const failedChecks = async () => sample((await request(gw.url).get('/metrics')).text, 'nest_gateway_upstream_health_checks_total', { route: '/api', result: 'fail' }) ?? 0;
    await until(async () => (await failedChecks()) >= 2, 'two failed checks to be counted', 5000);
    expect(sample(metrics, 'nest_gateway_upstream_health_checks_total', { route: '/api', result: 'pass' })).toBeGreaterThan(0);

    await started[1].restart();
    await until(async () => (await load(gw, 30)).some((res) => res.body === 'b'), 'the restarted target to take requests again', 5000);
  }, 30_000);

  it('ejects a target that answers 503, answering from the others meanwhile', async () => {
    const [good, other, failing] = await newTargets('good', 'other', 'failing');
    failing.answer = (res) => res.writeHead(503).end('down');
    const gw = await start({ targets: [good.url, other.url, failing.url], retries: 2 });
    // Until it is ejected, most of its 503s are retried on the others (within the retry budget).
    const results = await load(gw, 60, '/api/x', 4);
    expect(results.filter((res) => res.status === 200).length).toBeGreaterThan(55);
    const seenBefore = failing.seen.length;
    const after = await load(gw, 60, '/api/x', 4);
    expect(after.filter((res) => res.status !== 200)).toEqual([]);
    expect(failing.seen.length).toBe(seenBefore);
    const metrics = (await request(gw.url).get('/metrics')).text;
    expect(sample(metrics, 'nest_gateway_upstream_ejections_total', { route: '/api' })).toBe(1);
  });

  it('ejects at most maxEjectedShare of the targets, after outlierDetection.failures in a row', async () => {
    const [good, bad, worse] = await newTargets('good', 'bad', 'worse');
    for (const failing of [bad, worse]) failing.answer = (res) => res.writeHead(503).end('down');
    const route = { targets: [good.url, bad.url, worse.url], retries: 2 };
    const strict = await start({ ...route, outlierDetection: { failures: 2 } });
    await load(strict, 60, '/api/x', 2);
    // Half of three, rounded down: one ejected at a time.
    expect(sample((await request(strict.url).get('/metrics')).text, 'nest_gateway_upstream_ejections_total', { route: '/api' })).toBe(1);
    await strict.close();
    const lenient = await start({ ...route, outlierDetection: { failures: 2, maxEjectedShare: 1, ejectionTime: '1 minute' } });
    await load(lenient, 60, '/api/x', 2);
    // Both failing targets, never the last one.
    expect(sample((await request(lenient.url).get('/metrics')).text, 'nest_gateway_upstream_ejections_total', { route: '/api' })).toBe(2);
    const before = bad.seen.length + worse.seen.length;
    expect((await load(lenient, 20, '/api/x', 2)).every((res) => res.body === 'good')).toBe(true);
    expect(bad.seen.length + worse.seen.length).toBe(before);
  });

  it('takes an ejected target back when its active check passes, as Envoy does', async () => {
    const [good, flaky] = await newTargets('good', 'flaky');
    let failing = true;
    flaky.answer = (res) => (failing ? res.writeHead(503).end('down') : res.end('flaky'));
    const gw = await start({ targets: [good.url, flaky.url], retries: 2, healthCheck: { path: '/health', interval: 100, timeout: 1000 } });
    await load(gw, 40, '/api/x', 2);
    failing = false;
    await until(async () => (await load(gw, 10)).some((res) => res.body === 'flaky'), 'the ejected target to take requests again', 5000);
  });

  it("waits for a service's short Retry-After before the retry, and answers at once when it is long", async () => {
    const [slowly, other] = await newTargets('slowly', 'other');
    let retryAfter = '0';
    slowly.answer = (res) => res.writeHead(503, { 'retry-after': retryAfter }).end('busy');
    const gw = await start({ targets: [slowly.url, other.url], retries: 1 });
    // Round-robin begins with the first target: the retry goes to the other.
    expect(await get(gw, '/api/x')).toEqual({ status: 200, body: 'other' });
    await get(gw, '/api/x');
    retryAfter = '120';
    const statuses = (await load(gw, 4, '/api/x', 1)).map((res) => res.status);
    expect(statuses).toContain(503);
  });

  it('never sends a POST with a body twice, and sends one whose connection was refused to another target', async () => {
    const [failing] = await newTargets('failing');
    failing.answer = (res) => res.writeHead(503).end('down');
    const gw = await start({ targets: [failing.url, `http://127.0.0.1:${await deadPort()}`], retries: 2 });
    await request(gw.url).post('/api/order').send('{"n":1}').set('content-type', 'application/json').expect(503);
    expect(failing.seen.filter((seen) => seen.method === 'POST')).toHaveLength(1);
    await gw.close();

    const [live] = await newTargets('live');
    const refusing = `http://127.0.0.1:${await deadPort()}`;
    gateway = await startGateway({ routes: [{ prefix: '/api', targets: [refusing, live.url], balance: 'round-robin', retries: 2 }] });
    for (let i = 0; i < 4; i++) await request(gateway.url).post('/api/order').send(`{"n":${i}}`).set('content-type', 'application/json').expect(200);
    expect(live.seen.map((seen) => seen.body)).toEqual(['{"n":0}', '{"n":1}', '{"n":2}', '{"n":3}']);
  });

  it('rides out a 3 s outage of every target: fast 503s, no retry storm, back as soon as a check passes', async () => {
    const started = await newTargets('a', 'b', 'c');
    const interval = 200;
    const gw = await start({ targets: started.map((target) => target.url), retries: 2, healthCheck: { path: '/health', interval, timeout: 500, unhealthyThreshold: 1 } });
    expect((await load(gw, 30)).every((res) => res.status === 200)).toBe(true);
    await Promise.all(started.map((target) => target.stop()));
    // Until the checks see the outage, requests meet refused connects (fast on loopback).
    await until(async () => /No target/.test((await get(gw, '/api/x')).body), 'every target to be out', 2000);
    // Fast: each 503 is the pool's own answer, given without trying a target (no connect to
    // wait for), rather than the end of attempts on dead ones.
    let answered = 0;
    const outageEnds = Date.now() + 3000;
    while (Date.now() < outageEnds) {
      const res = await get(gw, '/api/x');
      expect(res).toEqual({ status: 503, body: expect.stringMatching(/No target/) });
      answered += 1;
    }
    const metrics = (await request(gw.url).get('/metrics')).text;
    const requests = sample(metrics, 'nest_gateway_requests_total', { route: '/api', method: 'GET', status: '503' })!;
    expect(requests).toBeGreaterThanOrEqual(answered);
    // No target takes part while they are all out: no attempt at all, let alone retries.
    expect(sample(metrics, 'nest_gateway_upstream_retries_total', { route: '/api' })!).toBeLessThanOrEqual(0.25 * requests);
    const passedChecks = async () => sample((await request(gw.url).get('/metrics')).text, 'nest_gateway_upstream_health_checks_total', { route: '/api', result: 'pass' }) ?? 0;
    const passedBefore = await passedChecks();
    await Promise.all(started.map((target) => target.restart()));
    // Back as soon as a check passes: the first request after one is served, however long
    // the check took to come round.
    await until(async () => (await passedChecks()) > passedBefore, 'a check of a restarted target to pass');
    expect(await get(gw, '/api/x')).toEqual({ status: 200, body: expect.stringMatching(/^[abc]$/) });
  }, 20_000);

  it('retries every request of a quiet route whose other target fails, and ejects that one after 5 failures in a row', async () => {
    const [good, failing] = await newTargets('good', 'failing');
    failing.answer = (res) => res.writeHead(503).end('down');
    const gw = await start({ targets: [failing.url, good.url], balance: 'round-robin', retries: 2 });
    const results = await load(gw, 20, '/api/x', 1);
    expect(results.filter((res) => res.status !== 200)).toEqual([]);
    // Round-robin sends every other first attempt to it until it is out: 5 failures in a row.
    expect(failing.seen).toHaveLength(5);
    expect(sample((await request(gw.url).get('/metrics')).text, 'nest_gateway_upstream_ejections_total', { route: '/api' })).toBe(1);
  });

  it('ejects a target whose every answer is a 500 after 5 in a row, as Envoy counts consecutive 5xx', async () => {
    const [good, broken] = await newTargets('good', 'broken');
    broken.answer = (res) => res.writeHead(500).end('broken');
    const gw = await start({ targets: [broken.url, good.url], balance: 'round-robin' });
    const results = await load(gw, 20, '/api/x', 1);
    // A 500 is the service's answer, passed on (never retried) until the target is out.
    expect(results.filter((res) => res.status === 500)).toHaveLength(5);
    expect(results.slice(-10).every((res) => res.body === 'good')).toBe(true);
    expect(sample((await request(gw.url).get('/metrics')).text, 'nest_gateway_upstream_ejections_total', { route: '/api' })).toBe(1);
  });

  it('keeps retries within the budget when every target fails', async () => {
    const started = await newTargets('a', 'b', 'c');
    for (const target of started) target.answer = (res) => res.writeHead(503).end('down');
    const gw = await start({ targets: started.map((target) => target.url), retries: { attempts: 2, budget: 0.2 } });
    const results = await load(gw, 300, '/api/x', 10);
    expect(results.every((res) => res.status === 503)).toBe(true);
    const attempts = started.reduce((sum, target) => sum + target.seen.length, 0);
    expect(attempts).toBeLessThanOrEqual(1.25 * 300);
    expect(attempts).toBeGreaterThan(300);
  });

  it('reports its targets in /ready, and fails readiness without any only when health.requireTargets says so', async () => {
    const started = await newTargets('a', 'b');
    const healthCheck = { path: '/health', interval: 50, timeout: 500, unhealthyThreshold: 1 };
    const routes = [{ prefix: '/api', targets: started.map((target) => target.url), healthCheck }];
    gateway = await startGateway({ routes });
    const strict = await startGateway({ health: { requireTargets: true }, routes });
    try {
      const ready = await request(gateway.url).get('/ready').expect(200);
      expect(ready.body.info.upstreams).toEqual({ status: 'up', routes: { '/api': { up: 2, targets: 2 } } });
      await started[0].stop();
      await until(async () => (await request(gateway!.url).get('/ready')).body.info?.upstreams.routes['/api'].up === 1, 'a target to be out', 5000);
      await request(strict.url).get('/ready').expect(200);
      await started[1].stop();
      await until(async () => (await request(gateway!.url).get('/ready')).body.info?.upstreams.routes['/api'].up === 0, 'both targets to be out', 5000);
      await request(gateway.url).get('/ready').expect(200);
      await until(async () => (await request(strict.url).get('/ready')).status === 503, 'strict readiness to fail', 5000);
      expect((await request(strict.url).get('/ready')).body.error.upstreams).toEqual({ status: 'down', routes: { '/api': { up: 0, targets: 2 } } });
    } finally {
      await strict.close();
    }
  });

  it('answers 503 with Retry-After at once when no target passes its checks', async () => {
    // Targets that listen but fail their checks: a request tried on one would reach it.
    const tried: string[] = [];
    const failingChecks = await Promise.all(
      [1, 2].map(async () => {
        const server = createServer((req, res) => {
          if (req.url !== '/health') tried.push(req.url!);
          req.resume();
          res.writeHead(503).end('failing');
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        return server;
      }),
    );
    try {
      const gw = await start({
        targets: failingChecks.map((server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`),
        healthCheck: { path: '/health', interval: 50, timeout: 50, unhealthyThreshold: 1 },
      });
      await until(async () => (await get(gw, '/api/x')).status === 503 && /No target/.test((await get(gw, '/api/x')).body), 'every target to be out', 5000);
      const triedBefore = tried.length;
      const res = await request(gw.url).get('/api/x').expect(503);
      expect(res.headers['retry-after']).toBe('1');
      expect(res.body).toMatchObject({ statusCode: 503, message: 'No target of the route is available' });
      // At once: the pool's own answer, without trying a target.
      expect(tried).toHaveLength(triedBefore);
    } finally {
      for (const server of failingChecks) {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    }
  });
});

describe('circuit breaking', () => {
  const targets: Target[] = [];
  let gateway: RunningGateway | undefined;
  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
    await Promise.all(targets.splice(0).map((target) => target.stop()));
  });

  it('opens on a high error rate, answers 503 at once while open, and closes after its probes pass', async () => {
    const target = await startTarget('flaky');
    targets.push(target);
    let failing = true;
    target.answer = (res) => (failing ? res.writeHead(502).end('bad') : res.end('flaky'));
    gateway = await startGateway({
      // A cooldown long enough for the load below to meet the breaker open on a busy machine:
      // the test waits for its end rather than sleep through it.
      routes: [{ prefix: '/api', target: target.url, circuitBreaker: { errorRate: 0.5, minRequests: 10, cooldown: 2000, probes: 2 } }],
    });
    const first = await load(gateway, 10, '/api/x', 1);
    expect(first.every((res) => res.status === 502)).toBe(true);
    const seen = target.seen.length;
    const open = await load(gateway, 20, '/api/x', 4);
    expect(open.every((res) => res.status === 503 && /No target/.test(res.body))).toBe(true);
    // At once: the breaker's own answers, none of them tried on the target.
    expect(target.seen.length).toBe(seen);

    failing = false;
    // Answered by the breaker until the cooldown ends; the first request after it is a probe.
    let firstProbe: { status: number; body: string } | undefined;
    await until(async () => (firstProbe = await get(gateway!, '/api/x')).status !== 503, 'the cooldown to end');
    const probes = [firstProbe!, ...(await load(gateway, 1, '/api/x', 1))];
    expect(probes.map((res) => res.status)).toEqual([200, 200]);
    expect(target.seen.length).toBe(seen + 2);
    const closed = await load(gateway, 20, '/api/x', 4);
    expect(closed.every((res) => res.status === 200)).toBe(true);
  });

  it('caps the requests in flight to a target (maxPending): beyond, 503 at once', async () => {
    const target = await startTarget('slow');
    targets.push(target);
    target.answer = (res) => setTimeout(() => res.end('slow'), 300);
    gateway = await startGateway({ routes: [{ prefix: '/api', target: target.url, circuitBreaker: { maxPending: 2 } }] });
    const results = await Promise.all(Array.from({ length: 5 }, () => get(gateway!, '/api/x')));
    expect(results.map((res) => res.status).sort()).toEqual([200, 200, 503, 503, 503]);
  });
});

describe('DNS discovery', () => {
  it('makes each address a name resolves to a target, following the records as they change', async () => {
    const dnsServer = await startDnsServer();
    // Two services on one port, on two loopback addresses.
    const a = await startTarget('a');
    const b = createServer((req, res) => {
      b.seenHosts.push(req.headers.host!);
      req.resume();
      res.end('b');
    }) as Server & { seenHosts: string[] };
    b.seenHosts = [];
    await new Promise<void>((resolve) => b.listen(a.port, '127.0.0.2', resolve));
    dnsServer.records.set('svc.test', ['127.0.0.1']);
    const gw = await startGateway({
      routes: [
        { prefix: '/api', target: `http://svc.test:${a.port}`, discovery: { type: 'dns', interval: 200, servers: [dnsServer.address] } },
        // An address needs no resolving: it stays as it is.
        { prefix: '/direct', target: a.url, discovery: { type: 'dns', servers: [dnsServer.address] } },
      ],
    });
    try {
      await until(async () => (await get(gw, '/api/x')).body === 'a', 'the first address to serve', 5000);
      expect(await get(gw, '/direct/x')).toEqual({ status: 200, body: 'a' });
      dnsServer.records.set('svc.test', ['127.0.0.1', '127.0.0.2']);
      await until(async () => new Set((await load(gw, 20)).map((res) => res.body)).size === 2, 'both addresses to serve', 5000);
      dnsServer.records.set('svc.test', ['127.0.0.2']);
      await until(async () => (await load(gw, 20)).every((res) => res.body === 'b'), 'only the second address to serve', 5000);
      // The requests still name the service, not the address.
      expect(new Set(b.seenHosts)).toEqual(new Set([`svc.test:${a.port}`]));
      // A name that resolves to nothing, and then a DNS outage, keep the targets found last.
      dnsServer.records.delete('svc.test');
      await new Promise((resolve) => setTimeout(resolve, 1200));
      expect((await load(gw, 10)).every((res) => res.status === 200 && res.body === 'b')).toBe(true);
      await dnsServer.close();
      await new Promise((resolve) => setTimeout(resolve, 3500));
      expect((await load(gw, 10)).every((res) => res.status === 200 && res.body === 'b')).toBe(true);
    } finally {
      await gw.close();
      await a.stop();
      b.closeAllConnections();
      await new Promise((resolve) => b.close(resolve));
    }
  }, 30_000);
});
