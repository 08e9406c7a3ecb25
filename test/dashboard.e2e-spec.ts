import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Gauge } from 'prom-client';
import request from 'supertest';
import { validateGatewayOptions, type GatewayOptions } from '../src/index.js';
import { validateGatewayConfigFile } from '../src/config/gateway-options.schema.js';
import { loadConfigFile, overridesFromEnvironment } from '../src/config/load-config-file.js';
import { DASHBOARD_MAX_EVENT_CLIENTS, type DashboardState } from '../src/admin/index.js';
import { GATEWAY_METRICS } from '../src/gateway.constants.js';
import type { GatewayMetrics } from '../src/metrics/index.js';
import { launchChromium, type RunningBrowser } from './support/chromium.js';
import { startGateway, type RunningGateway } from './support/gateway.js';
import { startStandalone } from './support/standalone.js';
import { deadPort, echo, startUpstream, type Upstream, type UpstreamHandler } from './support/upstream.js';
import { until } from './support/wait.js';

const TOKEN = 'operator-token-0123456789';
// The docs' picture is taken again only when asked (UPDATE_SCREENSHOT=1): every run's ports and
// times differ, and a test run should leave the tree as it found it.
const SCREENSHOT = process.env.UPDATE_SCREENSHOT ? fileURLToPath(new URL('../docs/dashboard.png', import.meta.url)) : join(tmpdir(), `gw-dashboard-${process.pid}.png`);
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const href = (url: string) => new URL(url).href;

/** Answers its health checks, and everything else with the echo. */
const withHealth: UpstreamHandler = (req, res, body) => {
  if (req.url === '/health') return void res.end('ok');
  echo(req, res, body);
};

/** Server-sent events as they arrive: each event's parsed `data`. */
interface EventStream {
  events: DashboardState[];
  /** Each event's `id`, in order. */
  ids: number[];
  response: IncomingMessage;
  close(): void;
}

function openEvents(url: string, headers: Record<string, string>): Promise<EventStream> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, { headers, agent: false }, (response) => {
      const events: DashboardState[] = [];
      const ids: number[] = [];
      let buffered = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        buffered += chunk;
        let end: number;
        while ((end = buffered.indexOf('\n\n')) >= 0) {
          const block = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const data = block
            .split('\n')
            .filter((line) => line.startsWith('data: '))
            .map((line) => line.slice(6))
            .join('\n');
          if (!data) continue;
          events.push(JSON.parse(data) as DashboardState);
          const id = block.split('\n').find((line) => line.startsWith('id: '));
          if (id) ids.push(Number(id.slice(4)));
        }
      });
      response.on('error', () => undefined);
      resolve({ events, ids, response, close: () => req.destroy() });
    });
    req.on('error', reject);
  });
}

describe('the operator page: access and data', () => {
  let api: Upstream;
  let poolA: Upstream;
  let poolB: Upstream;
  let gateway: RunningGateway;
  const bearer = { authorization: `Bearer ${TOKEN}` };

  beforeAll(async () => {
    api = await startUpstream((req, res, body) => {
      if (req.url === '/cached') {
        res.writeHead(200, { 'x-cache-timeout': '1 minute' });
        return void res.end('cached');
      }
      if (req.url === '/missing') {
        res.writeHead(404);
        return void res.end();
      }
      echo(req, res, body);
    });
    poolA = await startUpstream(withHealth);
    poolB = await startUpstream(withHealth);
    gateway = await startGateway({
      cache: {},
      dashboard: { token: TOKEN, refresh: '200ms' },
      routes: [
        { prefix: '/api', target: api.url },
        { prefix: '/pool', targets: [poolA.url, poolB.url], healthCheck: { path: '/health', interval: '100ms' } },
        // Every other path: the page's must still be the gateway's.
        { prefix: '/', target: api.url },
      ],
    });
  });
  afterAll(async () => {
    await gateway.close();
    await Promise.all([api.close(), poolA.close(), poolB.close()]);
  });

  it('asks for the token with Basic, takes it as the Basic password or a Bearer token, never from the query', async () => {
    const page = `${gateway.url}/_gateway/`;
    const refused = await request(page).get('').expect(401);
    expect(refused.headers['www-authenticate']).toBe('Basic realm="nest-gateway dashboard"');
    await request(page).get('').set('authorization', `Bearer ${TOKEN}x`).expect(401);
    await request(page).get('').set('authorization', basic('ops', 'not-the-token-at-all')).expect(401);
    await request(page).get('').set('authorization', basic(TOKEN, '')).expect(401);
    await request(`${gateway.url}/_gateway/?token=${TOKEN}`).get('').expect(401);
    await request(`${gateway.url}/_gateway/api/state?access_token=${TOKEN}`).get('').expect(401);
    await request(page).get('').set('authorization', `Bearer ${TOKEN}`).expect(200);
    await request(page).get('').set('authorization', basic('anyone', TOKEN)).expect(200);
    // Nothing of it was forwarded, though the route `/` takes every other path.
    expect(api.seen.filter((seen) => seen.url.startsWith('/_gateway'))).toEqual([]);
  });

  it('serves a page that needs nothing from elsewhere: inline style and script under a strict CSP, no external URL', async () => {
    const res = await request(`${gateway.url}/_gateway/`).get('').set(bearer).expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['cache-control']).toBe('no-store');
    const csp = res.headers['content-security-policy'];
    expect(csp).toContain("default-src 'none'");
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(csp).not.toContain('unsafe-inline');
    expect(res.text).not.toMatch(/(src|href)=|https?:\/\//);
    expect(res.text).toContain('<script>');
  });

  it('keeps its whole path: unknown paths get 404, other methods 405, the path without its slash a redirect; none forwarded', async () => {
    await request(gateway.url).get('/_gateway/nothing/here').set(bearer).expect(404);
    await request(gateway.url).post('/_gateway/api/state').set(bearer).send('{}').expect(405).expect('allow', 'GET, HEAD');
    await request(gateway.url).get('/_gateway').set(bearer).expect(308).expect('location', '/_gateway/');
    await request(gateway.url).get('/_gateway/nothing').expect(401);
    expect(api.seen.filter((seen) => seen.url.startsWith('/_gateway'))).toEqual([]);
    // The routes still take their paths.
    await request(gateway.url).get('/elsewhere').expect(200);
  });

  it('answers api/state: the routes with their targets and state, counts, latency, cache hits, config and process', async () => {
    await request(gateway.url).get('/api/a').expect(200);
    await request(gateway.url).get('/api/missing').expect(404);
    await request(gateway.url).get('/api/cached').expect(200);
    await request(gateway.url).get('/api/cached').expect(200).expect('x-cache', 'HIT');
    const res = await request(`${gateway.url}/_gateway/api/state`).get('').set(bearer).expect(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const state = res.body as DashboardState;
    expect(state).toEqual({
      version: expect.stringMatching(/^[0-9a-f]{12}$/),
      loadedAt: expect.any(String),
      workers: 1,
      uptimeSeconds: expect.any(Number),
      at: expect.any(String),
      refreshMs: 200,
      routes: [expect.objectContaining({ prefix: '/api' }), expect.objectContaining({ prefix: '/pool' }), expect.objectContaining({ prefix: '/' })],
    });
    expect(Date.parse(state.loadedAt)).toBeLessThanOrEqual(Date.parse(state.at));
    const apiRoute = state.routes[0];
    expect(apiRoute).toEqual({
      prefix: '/api',
      targets: [{ url: href(api.url), state: 'up' }],
      requests: expect.any(Number),
      rate: expect.any(Number),
      status4xx: expect.any(Number),
      status5xx: 0,
      latency: { p50: expect.any(Number), p95: expect.any(Number), p99: expect.any(Number) },
      cache: { requests: expect.any(Number), hits: expect.any(Number), hitRatio: expect.any(Number) },
    });
    expect(apiRoute.requests).toBeGreaterThanOrEqual(4);
    expect(apiRoute.status4xx).toBeGreaterThanOrEqual(1);
    expect(apiRoute.cache!.hits).toBeGreaterThanOrEqual(1);
    expect(apiRoute.cache!.hitRatio).toBeGreaterThan(0);
    expect(apiRoute.cache!.hitRatio).toBeLessThanOrEqual(1);
    expect(apiRoute.latency.p50!).toBeLessThanOrEqual(apiRoute.latency.p95!);
    expect(apiRoute.latency.p95!).toBeLessThanOrEqual(apiRoute.latency.p99!);
    expect(state.routes[1].targets).toEqual([
      { url: href(poolA.url), state: 'up' },
      { url: href(poolB.url), state: 'up' },
    ]);
  });

  it('streams one event per refresh over api/events, its counts rising as requests come', async () => {
    const stream = await openEvents(`${gateway.url}/_gateway/api/events`, bearer);
    try {
      expect(stream.response.statusCode).toBe(200);
      expect(stream.response.headers['content-type']).toMatch(/^text\/event-stream/);
      await until(() => stream.events.length >= 1, 'a first event');
      const first = stream.events[0].routes.find((route) => route.prefix === '/api')!.requests;
      for (let i = 0; i < 5; i++) await request(gateway.url).get(`/api/live-${i}`).expect(200);
      await until(() => (stream.events.at(-1)!.routes.find((route) => route.prefix === '/api')?.requests ?? 0) >= first + 5, 'the five requests in an event');
      const rising = stream.events.at(-1)!.routes.find((route) => route.prefix === '/api')!;
      expect(rising.requests).toBe(first + 5);
      const before = stream.events.length;
      await until(() => stream.events.length >= before + 3, 'three more events');
    } finally {
      stream.close();
    }
  });

  it('answers HEAD on api/events with the stream\'s head and no stream', async () => {
    const res = await request(`${gateway.url}/_gateway/api/events`).head('').set(bearer).expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(res.headers.connection).toBe('close');
    expect(res.text ?? '').toBe('');
  });

  it('skips the refreshes whose state it cannot read, keeping its event streams open, and answers api/state 500 then', async () => {
    const registry = gateway.app.get<GatewayMetrics>(GATEWAY_METRICS).registry;
    const stream = await openEvents(`${gateway.url}/_gateway/api/events`, bearer);
    let reads = 0;
    try {
      await until(() => stream.events.length >= 1, 'a first event');
      // A collector that throws fails the whole read of the metrics, as any failed read would.
      new Gauge({
        name: 'test_broken_collector',
        help: 'fails every read',
        registers: [registry],
        collect() {
          reads++;
          throw new Error('collector broke');
        },
      });
      const failed = await request(gateway.url).get('/_gateway/api/state').set(bearer).expect(500);
      expect(failed.body).toMatchObject({ statusCode: 500 });
      await until(() => reads >= 3, 'two refreshes read and failed');
      const before = stream.events.length;
      registry.removeSingleMetric('test_broken_collector');
      await until(() => stream.events.length >= before + 2, 'events again');
      expect(stream.response.complete).toBe(false);
      // Each refresh takes the next id; the failed ones sent nothing.
      const steps = stream.ids.slice(1).map((id, i) => id - stream.ids[i]);
      expect(Math.max(...steps)).toBeGreaterThan(1);
    } finally {
      stream.close();
      registry.removeSingleMetric('test_broken_collector');
    }
  });

  it('tells an ejected target (outlier detection) from one whose checks fail', async () => {
    const good = await startUpstream();
    const dead = `http://127.0.0.1:${await deadPort()}`;
    const ejecting = await startGateway({
      dashboard: {},
      routes: [{ prefix: '/x', targets: [good.url, dead], outlierDetection: { failures: 1, ejectionTime: '1m' } }],
    });
    try {
      for (let i = 0; i < 4; i++) await request(ejecting.url).get(`/x/${i}`).expect(200);
      const state = (await request(ejecting.url).get('/_gateway/api/state').expect(200)).body as DashboardState;
      expect(state.routes[0].targets).toEqual([
        { url: href(good.url), state: 'up' },
        { url: href(dead), state: 'ejected' },
      ]);
    } finally {
      await ejecting.close();
      await good.close();
    }
  });

  it(`serves at most ${DASHBOARD_MAX_EVENT_CLIENTS} event streams at once, and takes one again when one leaves`, async () => {
    const streams = await Promise.all(Array.from({ length: DASHBOARD_MAX_EVENT_CLIENTS }, () => openEvents(`${gateway.url}/_gateway/api/events`, bearer)));
    try {
      expect(streams.map((stream) => stream.response.statusCode)).toEqual(streams.map(() => 200));
      await request(`${gateway.url}/_gateway/api/events`).get('').set(bearer).expect(503).expect('retry-after', '5');
      streams.pop()!.close();
      await until(async () => {
        const again = await openEvents(`${gateway.url}/_gateway/api/events`, bearer);
        if (again.response.statusCode === 200) streams.push(again);
        else again.close();
        return again.response.statusCode === 200;
      }, 'a stream taken again');
    } finally {
      for (const stream of streams) stream.close();
    }
  });
});

describe('the operator page: who may open it', () => {
  it('answers 404 to a peer outside dashboard.allow, token or not, and forwards nothing even under a route of /', async () => {
    const upstream = await startUpstream();
    const gateway = await startGateway({ dashboard: { allow: ['10.0.0.0/8'], token: TOKEN }, routes: [{ prefix: '/', target: upstream.url }] });
    try {
      for (const path of ['/_gateway/', '/_gateway/api/state', '/_gateway/api/events', '/_gateway']) {
        await request(gateway.url).get(path).set('authorization', `Bearer ${TOKEN}`).expect(404);
        const bare = await request(gateway.url).get(path).expect(404);
        expect(bare.headers['www-authenticate']).toBeUndefined();
      }
      expect(upstream.seen).toEqual([]);
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });

  it('needs no token when none is set, and is off without the key', async () => {
    const upstream = await startUpstream();
    const withPage = await startGateway({ dashboard: {}, routes: [{ prefix: '/api', target: upstream.url }] });
    const without = await startGateway({ routes: [{ prefix: '/', target: upstream.url }] });
    try {
      await request(withPage.url).get('/_gateway/api/state').expect(200);
      await request(without.url).get('/_gateway/api/state').expect(200).expect('x-upstream', 'echo');
    } finally {
      await withPage.close();
      await without.close();
      await upstream.close();
    }
  });

  it('counts for the page with metrics: false', async () => {
    const upstream = await startUpstream();
    const gateway = await startGateway({ metrics: false, dashboard: { path: '/ops/' }, routes: [{ prefix: '/api', target: upstream.url }] });
    try {
      await request(gateway.url).get('/api/x').expect(200);
      await request(gateway.url).get('/metrics').expect(404);
      const state = (await request(gateway.url).get('/ops/api/state').expect(200)).body as DashboardState;
      expect(state.routes[0].requests).toBe(1);
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });
});

describe('the operator page: config', () => {
  const routes = (prefix: string) => [{ prefix, target: 'http://127.0.0.1:3000' }];

  it('refuses at start a route within the page path, naming dashboard.path', () => {
    for (const prefix of ['/_gateway', '/_gateway/', '/_gateway/api', '/_gateway/x/y']) {
      expect(() => validateGatewayOptions({ dashboard: {}, routes: routes(prefix) })).toThrow(
        `routes[0].prefix: ${prefix} is within dashboard.path /_gateway/, the gateway's own`,
      );
    }
    expect(() => validateGatewayOptions({ dashboard: { path: '/ops/' }, routes: routes('/ops') })).toThrow('dashboard.path /ops/');
    // The purge API's default path is in the page's tree: both are the gateway's, each on its own path.
    expect(() => validateGatewayOptions({ dashboard: {}, cache: { purge: { token: TOKEN } }, routes: routes('/') })).not.toThrow();
    expect(() => validateGatewayOptions({ dashboard: {}, routes: routes('/_gatewayx') })).not.toThrow();
    expect(() => validateGatewayOptions({ routes: routes('/_gateway') })).not.toThrow();
    expect(() => validateGatewayOptions({ dashboard: {}, health: { liveness: '/_gateway/api/state' }, routes: routes('/') })).toThrow(
      'dashboard.path: GET, HEAD /_gateway/api/state already served by health.liveness',
    );
  });

  it('checks its fields: a path ending in /, a token of 16 characters, a refresh of 100 ms or more, addresses', () => {
    const issues = (dashboard: unknown) => {
      try {
        validateGatewayOptions({ dashboard, routes: routes('/api') } as GatewayOptions);
        return '';
      } catch (error) {
        return (error as Error).message;
      }
    };
    expect(issues({ path: '/ops' })).toContain("dashboard.path: expected a path ending in '/'");
    expect(issues({ path: '/' })).toContain("dashboard.path: expected a path ending in '/'");
    expect(issues({ token: 'short' })).toContain('dashboard.token: expected a token of at least 16 characters');
    expect(issues({ refresh: '50ms' })).toContain('dashboard.refresh: expected at least 100 ms');
    expect(issues({ refresh: 'soon' })).toContain('dashboard.refresh: expected a duration');
    expect(issues({ allow: ['10.0.0.0/33'] })).toContain('dashboard.allow[0]: expected an IP address or a CIDR subnet');
    expect(issues({ alow: [] })).toContain('Unrecognized key: "alow" (did you mean "allow"?)');
    expect(issues({ path: '/ops/', refresh: '2s', allow: ['::1'], token: TOKEN })).toBe('');
    expect(() => validateGatewayConfigFile({ dashboard: {}, routes: routes('/api') }, 'gateway.yaml')).not.toThrow();
  });

  it('takes GATEWAY_DASHBOARD_TOKEN over the file token, only where the file has a dashboard', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gw-dashboard-'));
    try {
      const withPage = join(dir, 'with.yaml');
      await writeFile(withPage, `dashboard:\n  token: file-token-0123456789\nroutes:\n  - prefix: /api\n    target: http://127.0.0.1:3000\n`);
      const without = join(dir, 'without.yaml');
      await writeFile(without, `routes:\n  - prefix: /api\n    target: http://127.0.0.1:3000\n`);
      const env = overridesFromEnvironment({ GATEWAY_DASHBOARD_TOKEN: TOKEN });
      expect(env.dashboardToken).toBe(TOKEN);
      expect((await loadConfigFile(withPage, env)).dashboard).toEqual({ token: TOKEN });
      expect((await loadConfigFile(without, env)).dashboard).toBeUndefined();
      await expect(loadConfigFile(withPage, overridesFromEnvironment({ GATEWAY_DASHBOARD_TOKEN: 'short' }))).rejects.toThrow('dashboard.token');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the operator page across workers', () => {
  it('sums every worker, counts them, and takes its token from GATEWAY_DASHBOARD_TOKEN', async () => {
    const upstream = await startUpstream();
    const gateway = await startStandalone(
      { dashboard: { token: 'file-token-0123456789' }, routes: [{ prefix: '/api', target: upstream.url }] },
      { GATEWAY_WORKERS: '2', GATEWAY_DASHBOARD_TOKEN: TOKEN },
    );
    try {
      await until(() => /2 gateway workers listening/.test(gateway.output()), 'two workers');
      // New connections each time, so that both workers take some.
      const get = (path: string, headers: Record<string, string> = {}) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          httpGet(`${gateway.url}${path}`, { agent: false, headers }, (res) => {
            let body = '';
            res.on('data', (chunk: Buffer) => (body += chunk));
            res.on('end', () => resolve({ status: res.statusCode!, body }));
          }).on('error', reject);
        });
      for (let i = 0; i < 20; i++) await get('/api/x');
      expect((await get('/_gateway/api/state', { authorization: 'Bearer file-token-0123456789' })).status).toBe(401);
      for (let i = 0; i < 4; i++) {
        const { status, body } = await get('/_gateway/api/state', { authorization: basic('ops', TOKEN) });
        expect(status).toBe(200);
        const state = JSON.parse(body) as DashboardState;
        expect(state.workers).toBe(2);
        expect(state.routes[0].requests).toBe(20);
      }
    } finally {
      gateway.child.kill('SIGTERM');
      await gateway.exited;
      await upstream.close();
    }
  });
});

describe('the operator page in a browser', () => {
  let chromium: RunningBrowser;

  beforeAll(async () => {
    chromium = await launchChromium();
  });
  afterAll(async () => {
    await chromium?.close();
  });

  /**
   * A page in a browser context of its own, closed with it: the context's sockets go with it,
   * among them those chromium opens ahead of need, which the gateway's close would wait for.
   */
  async function openPage(gateway: RunningGateway) {
    const context = await chromium.browser.createBrowserContext();
    const page = await context.newPage();
    const elsewhere: string[] = [];
    page.on('request', (sent) => {
      if (!sent.url().startsWith(gateway.url)) elsewhere.push(sent.url());
    });
    await page.setViewport({ width: 1180, height: 420 });
    await page.authenticate({ username: 'ops', password: TOKEN });
    await page.goto(`${gateway.url}/_gateway/`, { waitUntil: 'domcontentloaded' });
    return { page, elsewhere, close: () => context.close() };
  }

  it('shows each route and its targets, its requests rising live, and writes a screenshot (docs/dashboard.png with UPDATE_SCREENSHOT=1)', async () => {
    const users = await startUpstream(withHealth);
    const orders = await startUpstream((req, res, body) => {
      if (req.url?.startsWith('/slow')) return void setTimeout(() => echo(req, res, body), 40);
      if (req.url === '/fail') {
        res.writeHead(500);
        return void res.end();
      }
      if (req.url === '/catalog') {
        res.writeHead(200, { 'x-cache-timeout': '1 minute' });
        return void res.end('catalog');
      }
      echo(req, res, body);
    });
    const dead = `http://127.0.0.1:${await deadPort()}`;
    const gateway = await startGateway({
      cache: {},
      dashboard: { token: TOKEN, refresh: '250ms' },
      routes: [
        { prefix: '/users', targets: [users.url, dead], healthCheck: { path: '/health', interval: '100ms' } },
        { prefix: '/orders', target: orders.url },
        { prefix: '/legacy', target: dead },
      ],
    });
    const { page, elsewhere, close } = await openPage(gateway);
    try {
      await page.waitForSelector('[data-route="/orders"] [data-field="requests"]');
      const requests = () => page.$eval('[data-route="/orders"] [data-field="requests"]', (cell) => cell.textContent);
      expect(await requests()).toBe('0');
      for (let i = 0; i < 12; i++) await request(gateway.url).get(i % 4 === 0 ? '/orders/catalog' : `/orders/slow/${i}`).expect(200);
      await request(gateway.url).get('/orders/fail').expect(500);
      for (let i = 0; i < 6; i++) await request(gateway.url).get(`/users/${i}`);
      await request(gateway.url).get('/legacy/x').expect(502);
      // A string, evaluated in the page: the test program has no DOM types.
      await page.waitForFunction(`document.querySelector('[data-route="/orders"] [data-field="requests"]')?.textContent === '13'`, { timeout: 5000 });
      expect(Number.isInteger(Number(await requests()))).toBe(true);
      await page.waitForSelector(`[data-route="/users"] [data-target="${href(dead)}"][data-state="down"]`, { timeout: 5000 });
      await page.waitForSelector(`[data-route="/users"] [data-target="${href(users.url)}"][data-state="up"]`);
      await page.waitForSelector(`[data-route="/legacy"] [data-target="${href(dead)}"][data-state="down"]`, { timeout: 5000 });
      expect(await page.$$eval('[data-route]', (rows) => rows.map((row) => row.getAttribute('data-route')))).toEqual(['/users', '/orders', '/legacy']);
      await page.screenshot({ path: SCREENSHOT, type: 'png' });
      expect(elsewhere).toEqual([]);
    } finally {
      await close();
      await gateway.close();
      await Promise.all([users.close(), orders.close()]);
    }
    const png = await readFile(SCREENSHOT);
    expect((await stat(SCREENSHOT)).size).toBeGreaterThan(1000);
    expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    if (!process.env.UPDATE_SCREENSHOT) await rm(SCREENSHOT);
  });

  it('shows a target as down within a few seconds of its closing', async () => {
    const stays = await startUpstream(withHealth);
    const closes = await startUpstream(withHealth);
    const gateway = await startGateway({
      dashboard: { token: TOKEN, refresh: '200ms' },
      routes: [{ prefix: '/pool', targets: [stays.url, closes.url], healthCheck: { path: '/health', interval: '100ms', timeout: '100ms' } }],
    });
    const { page, close } = await openPage(gateway);
    try {
      const target = (url: string, state: string) => `[data-route="/pool"] [data-target="${href(url)}"][data-state="${state}"]`;
      await page.waitForSelector(target(closes.url, 'up'), { timeout: 5000 });
      await closes.close();
      await page.waitForSelector(target(closes.url, 'down'), { timeout: 5000 });
      expect(await page.$(target(stays.url, 'up'))).not.toBeNull();
    } finally {
      await close();
      await gateway.close();
      await stays.close();
    }
  });
});
