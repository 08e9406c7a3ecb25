import request from 'supertest';
import type { GatewayOptions } from '../src/index.js';
import { validateGatewayOptions } from '../src/index.js';
import { gatewayModule, type RunningGateway, startApp, startGateway } from './support/gateway.js';
import { sample } from './support/prometheus.js';
import { openWebSocket, startWebSocketService, type WebSocketService } from './support/websocket.js';
import { rawRequest } from './support/raw-http.js';
import { deadPort, startUpstream, type Upstream } from './support/upstream.js';
import { until } from './support/wait.js';

const API_KEYS = { acme: 'k_live_acme_0123456789', globex: 'k_live_globex_0123456789' };

/** Statuses of `count` requests sent at once. */
async function concurrently(count: number, send: () => request.Test): Promise<number[]> {
  return (await Promise.all(Array.from({ length: count }, () => send()))).map((res) => res.status);
}

describe('address rules', () => {
  let upstream: Upstream;
  let direct: RunningGateway;
  let proxied: RunningGateway;

  const options = (): GatewayOptions => ({
    deny: ['203.0.113.0/24'],
    routes: [
      { prefix: '/open', target: upstream.url },
      { prefix: '/internal', target: upstream.url, allow: ['10.0.0.0/8', 'fd00::/8'], deny: ['10.9.0.0/16'] },
      { prefix: '/per-client', target: upstream.url, rateLimit: { limit: 1, window: '1m' } },
    ],
  });

  beforeAll(async () => {
    upstream = await startUpstream();
    direct = await startGateway(options());
    // Behind a proxy at 127.0.0.1: its X-Forwarded-For is believed, read right to left.
    proxied = await startApp(gatewayModule(options()), { trustProxy: ['127.0.0.1'] });
  });
  afterAll(async () => {
    await direct.close();
    await proxied.close();
    await upstream.close();
  });

  it('refuses an address the top-level deny names on every route, with 403 and a JSON body, before the service', async () => {
    const before = upstream.seen.length;
    for (const path of ['/open/x', '/internal/x']) {
      const res = await request(proxied.url).get(path).set('x-forwarded-for', '203.0.113.9').expect(403);
      expect(res.body).toEqual({ statusCode: 403, error: 'Forbidden', message: 'Forbidden' });
      expect(res.headers['x-request-id']).toBeDefined();
    }
    expect(upstream.seen.length).toBe(before);
    const metrics = await request(proxied.url).get('/metrics');
    expect(sample(metrics.text, 'nest_gateway_requests_refused_total', { route: '/open', reason: 'ip' })).toBe(1);
    expect(sample(metrics.text, 'nest_gateway_requests_total', { route: '/open', method: 'GET', status: '403' })).toBe(1);
  });

  it.each([
    ['10.1.2.3', 200],
    ['fd12::1', 200],
    ['10.9.0.1', 403],
    ['192.0.2.1', 403],
    ['::ffff:10.1.2.3', 200],
  ])("lets %s reach a route that allows 10.0.0.0/8 and fd00::/8 but denies 10.9.0.0/16: %i (deny wins)", async (client, status) => {
    await request(proxied.url).get('/internal/x').set('x-forwarded-for', client).expect(status);
  });

  it('counts an IPv6 client by its /64, and an IPv4-mapped address as the IPv4 one', async () => {
    const from = (client: string) => request(proxied.url).get('/per-client/x').set('x-forwarded-for', client);
    await from('2001:db8:1:2::1').expect(200);
    await from('2001:db8:1:2:ffff:ffff:ffff:ffff').expect(429);
    await from('2001:db8:1:3::1').expect(200);
    await from('::ffff:198.51.100.20').expect(200);
    await from('198.51.100.20').expect(429);
  });

  it('believes X-Forwarded-For only from a trusted peer, and never its client-written left-most entry', async () => {
    // Not trusted: the peer (127.0.0.1) is the client, whatever it claims.
    await request(direct.url).get('/open/x').set('x-forwarded-for', '203.0.113.9').expect(200);
    await request(direct.url).get('/internal/x').set('x-forwarded-for', '10.1.2.3').expect(403);
    // Trusted proxy at 127.0.0.1: the client is what it appended, not what the client wrote before it.
    await request(proxied.url).get('/open/x').set('x-forwarded-for', '203.0.113.9, 198.51.100.7').expect(200);
    await request(proxied.url).get('/internal/x').set('x-forwarded-for', '10.1.2.3, 192.0.2.1').expect(403);
  });
});

describe('rate limits counted in memory', () => {
  let upstream: Upstream;
  let gateway: RunningGateway;
  // Each test asks for `<prefix><prefix>`: the service sees the second half.
  const reached = (prefix: string) => upstream.seen.filter((seen) => seen.url === prefix).length;

  beforeAll(async () => {
    upstream = await startUpstream();
    gateway = await startGateway({
      cache: {},
      routes: [
        { prefix: '/seq', target: upstream.url, rateLimit: { limit: 5, window: '1m' } },
        { prefix: '/burst', target: upstream.url, rateLimit: { limit: 20, window: '1m' } },
        { prefix: '/concurrent', target: upstream.url, rateLimit: { limit: 7, window: '1m' } },
        { prefix: '/window', target: upstream.url, rateLimit: { limit: 3, window: 600 } },
        { prefix: '/by-header', target: upstream.url, rateLimit: { limit: 2, window: '1m', by: 'header:x-tenant' } },
        { prefix: '/by-cookie', target: upstream.url, rateLimit: { limit: 1, window: '1m', by: 'cookie:session' } },
        {
          prefix: '/two',
          target: upstream.url,
          rateLimit: [
            { limit: 10, window: '1m' },
            { limit: 2, window: '10s', by: 'header:x-user', name: 'per-user' },
          ],
        },
      ],
    });
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('lets exactly `limit` sequential requests through, then answers 429 with Retry-After and the RateLimit fields', async () => {
    for (let left = 4; left >= 0; left -= 1) {
      const res = await request(gateway.url).get('/seq/seq').expect(200);
      expect(res.headers['ratelimit-policy']).toBe('"default";q=5;w=60');
      expect(res.headers.ratelimit).toMatch(new RegExp(`^"default";r=${left};t=\\d+$`));
      expect(res.headers['ratelimit-limit']).toBe('5');
      expect(res.headers['ratelimit-remaining']).toBe(String(left));
    }
    const refused = await request(gateway.url).get('/seq/seq').expect(429);
    expect(refused.body).toEqual({ statusCode: 429, error: 'Too Many Requests', message: 'Rate limit exceeded: "default";q=5;w=60' });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(12);
    expect(refused.headers['ratelimit-remaining']).toBe('0');
    expect(refused.headers['ratelimit-policy']).toBe('"default";q=5;w=60');
    expect(reached('/seq')).toBe(5);
    const metrics = await request(gateway.url).get('/metrics');
    expect(sample(metrics.text, 'nest_gateway_requests_refused_total', { route: '/seq', reason: 'rate_limit' })).toBe(1);
  });

  it('lets exactly `limit` of many concurrent requests through', async () => {
    const statuses = await concurrently(20, () => request(gateway.url).get('/concurrent/concurrent'));
    expect(statuses.filter((status) => status === 200)).toHaveLength(7);
    expect(statuses.filter((status) => status === 429)).toHaveLength(13);
    expect(reached('/concurrent')).toBe(7);
  });

  it('gives the whole burst back once the window has passed, and one request per window/limit before', async () => {
    await concurrently(3, () => request(gateway.url).get('/window/x'));
    const refused = await request(gateway.url).get('/window/x').expect(429);
    // One interval (window / limit = 200 ms) to wait, in whole seconds.
    expect(refused.headers['retry-after']).toBe('1');
    // A refused request costs nothing: asking again and again still gets one through.
    await until(async () => (await request(gateway.url).get('/window/x')).status === 200, 'a request let through after an interval');
    await new Promise((resolve) => setTimeout(resolve, 700));
    const statuses = await concurrently(4, () => request(gateway.url).get('/window/x'));
    expect(statuses.sort()).toEqual([200, 200, 200, 429]);
  });

  it('counts by the header it is told to, and by address when the request has none', async () => {
    for (const tenant of ['a', 'b']) {
      await request(gateway.url).get('/by-header/x').set('x-tenant', tenant).expect(200);
      await request(gateway.url).get('/by-header/x').set('x-tenant', tenant).expect(200);
      await request(gateway.url).get('/by-header/x').set('x-tenant', tenant).expect(429);
    }
    await request(gateway.url).get('/by-header/x').expect(200);
    await request(gateway.url).get('/by-header/x').expect(200);
    await request(gateway.url).get('/by-header/x').expect(429);
  });

  it('counts a header value longer than any key by its digest, telling long values apart', async () => {
    const long = (last: string) => `${'t'.repeat(300)}${last}`;
    await request(gateway.url).get('/by-header/x').set('x-tenant', long('1')).expect(200);
    await request(gateway.url).get('/by-header/x').set('x-tenant', long('1')).expect(200);
    await request(gateway.url).get('/by-header/x').set('x-tenant', long('1')).expect(429);
    await request(gateway.url).get('/by-header/x').set('x-tenant', long('2')).expect(200);
  });

  it('counts by a cookie', async () => {
    await request(gateway.url).get('/by-cookie/x').set('cookie', 'session=s1').expect(200);
    await request(gateway.url).get('/by-cookie/x').set('cookie', 'theme=dark; session=s1').expect(429);
    await request(gateway.url).get('/by-cookie/x').set('cookie', 'session=s2').expect(200);
  });

  it('applies every limit of a route, naming each in RateLimit, the legacy fields telling of the tightest', async () => {
    const first = await request(gateway.url).get('/two/x').set('x-user', 'u1').expect(200);
    // Several limits: each is named by what it counts by, unless given a name.
    expect(first.headers['ratelimit-policy']).toBe('"ip";q=10;w=60, "per-user";q=2;w=10');
    expect(first.headers.ratelimit).toMatch(/^"ip";r=9;t=\d+, "per-user";r=1;t=\d+$/);
    expect(first.headers['ratelimit-limit']).toBe('2');
    expect(first.headers['ratelimit-remaining']).toBe('1');
    await request(gateway.url).get('/two/x').set('x-user', 'u1').expect(200);
    const refused = await request(gateway.url).get('/two/x').set('x-user', 'u1').expect(429);
    expect(refused.body.message).toBe('Rate limit exceeded: "per-user";q=2;w=10');
    // Refused by one limit, it counted under none: three requests let through so far.
    const last = await request(gateway.url).get('/two/x').set('x-user', 'u2').expect(200);
    expect(last.headers.ratelimit).toMatch(/^"ip";r=7;t=\d+, "per-user";r=1;t=\d+$/);
  });

  it("puts its fields in place of a service's own, and on the gateway's own errors", async () => {
    const service = await startUpstream((_req, res) => {
      res.writeHead(200, { 'ratelimit-limit': '999', ratelimit: '"svc";r=998;t=1', 'content-type': 'text/plain' });
      res.end('ok');
    });
    const limited = await startGateway({
      routes: [
        { prefix: '/svc', target: service.url, rateLimit: { limit: 3, window: '1m' } },
        { prefix: '/dead', target: `http://127.0.0.1:${await deadPort()}`, rateLimit: { limit: 3, window: '1m' } },
      ],
    });
    try {
      const res = await request(limited.url).get('/svc/x').expect(200);
      expect(res.headers['ratelimit-limit']).toBe('3');
      expect(res.headers.ratelimit).toMatch(/^"default";r=2;t=\d+$/);
      const failed = await request(limited.url).get('/dead/x').expect(502);
      expect(failed.headers['ratelimit-remaining']).toBe('2');
    } finally {
      await limited.close();
      await service.close();
    }
  });

  it('adds its fields to what an onResponse hook sends, for an answer forwarded or stored', async () => {
    const stored = await startUpstream((_req, res) => {
      res.writeHead(200, { 'x-cache-timeout': '1 minute', 'content-type': 'text/plain' });
      res.end('stored');
    });
    const hooked = await startGateway({
      cache: {},
      routes: [
        {
          prefix: '/hooked',
          target: stored.url,
          rateLimit: { limit: 5, window: '1m' },
          hooks: {
            async onResponse(_req, reply, res) {
              const chunks: Buffer[] = [];
              for await (const chunk of res) chunks.push(chunk as Buffer);
              reply.removeHeader('content-length');
              reply.send(`hooked ${Buffer.concat(chunks).toString()}`);
            },
          },
        },
      ],
    });
    try {
      const forwarded = await request(hooked.url).get('/hooked/x').expect(200);
      expect(forwarded.text).toBe('hooked stored');
      expect(forwarded.headers['ratelimit-remaining']).toBe('4');
      const hit = await request(hooked.url).get('/hooked/x').expect(200);
      expect(hit.headers['x-cache']).toBe('HIT');
      expect(hit.headers['ratelimit-remaining']).toBe('3');
    } finally {
      await hooked.close();
      await stored.close();
    }
  });

  it('never serves a stored answer to a request over the limit, and counts hits against it', async () => {
    const stored = await startUpstream((_req, res) => {
      res.writeHead(200, { 'x-cache-timeout': '1 minute', 'content-type': 'text/plain' });
      res.end('stored');
    });
    const cachedGateway = await startGateway({ cache: {}, routes: [{ prefix: '/cached', target: stored.url, rateLimit: { limit: 2, window: '1m' } }] });
    try {
      await request(cachedGateway.url).get('/cached/x').expect(200);
      const hit = await request(cachedGateway.url).get('/cached/x').expect(200);
      expect(hit.headers['x-cache']).toBe('HIT');
      expect(hit.headers['ratelimit-remaining']).toBe('0');
      const refused = await request(cachedGateway.url).get('/cached/x').expect(429);
      expect(refused.text).not.toContain('stored');
      expect(stored.seen).toHaveLength(1);
    } finally {
      await cachedGateway.close();
      await stored.close();
    }
  });
});

describe('API keys', () => {
  let upstream: Upstream;
  let webSockets: WebSocketService;
  let gateway: RunningGateway;

  beforeAll(async () => {
    upstream = await startUpstream();
    webSockets = await startWebSocketService();
    gateway = await startGateway({
      routes: [
        { prefix: '/partners', target: upstream.url, auth: { apiKey: { keys: API_KEYS } } },
        { prefix: '/custom', target: upstream.url, auth: { apiKey: { header: 'X-Partner-Key', keys: API_KEYS } } },
        { prefix: '/ws', target: webSockets.url, auth: { apiKey: { keys: API_KEYS } }, deny: ['192.0.2.0/24'] },
        { prefix: '/ws-denied', target: webSockets.url, deny: ['127.0.0.0/8'] },
      ],
    });
  });
  afterAll(async () => {
    await gateway.close();
    await webSockets.close();
    await upstream.close();
  });

  it('forwards a request with a known key, without the key', async () => {
    await request(gateway.url).get('/partners/x').set('x-api-key', API_KEYS.globex).expect(200);
    expect(upstream.seen.at(-1)!.headers['x-api-key']).toBeUndefined();
    await request(gateway.url).get('/custom/x').set('x-partner-key', API_KEYS.acme).expect(200);
    expect(upstream.seen.at(-1)!.headers['x-partner-key']).toBeUndefined();
  });

  it.each([
    ['no key', undefined],
    ['an unknown key', 'k_live_nobody_0123456789'],
    ['a known key with one character more', `${API_KEYS.acme}x`],
    ['an empty key', ''],
  ])('answers %s with 401 and a challenge, never reaching the service', async (_name, key) => {
    const before = upstream.seen.length;
    const req = request(gateway.url).get('/partners/x');
    if (key !== undefined) void req.set('x-api-key', key);
    const res = await req.expect(401);
    expect(res.body).toEqual({ statusCode: 401, error: 'Unauthorized', message: 'A valid API key is required' });
    expect(res.headers['www-authenticate']).toBe('ApiKey realm="gateway", header="x-api-key"');
    expect(upstream.seen.length).toBe(before);
  });

  it('checks a WebSocket upgrade the same way, answering plain HTTP before any upgrade', async () => {
    const refused = await openWebSocket(`${gateway.url.replace('http', 'ws')}/ws/echo`);
    expect(refused.status).toBe(401);
    expect(webSockets.upgrades()).toBe(0);
    const opened = await openWebSocket(`${gateway.url.replace('http', 'ws')}/ws/echo`, { 'x-api-key': API_KEYS.acme });
    expect(opened.status).toBe(101);
    opened.ws!.close();
    expect(webSockets.seen.at(-1)!.headers['x-api-key']).toBeUndefined();
    const denied = await openWebSocket(`${gateway.url.replace('http', 'ws')}/ws-denied/echo`);
    expect(denied.status).toBe(403);
  });

  it('closes the connection of a refused request whose body it has not read', async () => {
    const before = upstream.seen.length;
    const head = `POST /partners/upload HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 1000000\r\n\r\n`;
    const res = await rawRequest(Number(new URL(gateway.url).port), head + 'x'.repeat(1000));
    expect(res.status).toBe(401);
    expect(res.text).toMatch(/\r\nconnection: close\r\n/i);
    expect(res.closedByServer).toBe(true);
    expect(upstream.seen.length).toBe(before);
  });
});

describe('access control config', () => {
  const route = (extra: object) => ({ routes: [{ prefix: '/a', target: 'http://127.0.0.1:1', ...extra }] });
  const issuesOf = (options: unknown) => {
    try {
      validateGatewayOptions(options);
    } catch (error) {
      return (error as { issues: string[] }).issues;
    }
    return [];
  };
  const jwt = { jwks: { url: 'https://idp.example/jwks.json' }, algorithms: ['RS256'] };

  it.each([
    [route({ deny: ['10.0.0.0/33'] }), 'routes[0].deny[0]: expected an IP address or a CIDR subnet'],
    [{ ...route({}), allow: ['not-an-ip'] }, 'allow[0]: expected an IP address or a CIDR subnet'],
    [route({ rateLimit: { window: '1m' } }), 'routes[0].rateLimit.limit'],
    [route({ rateLimit: { limit: 0, window: '1m' } }), 'routes[0].rateLimit.limit'],
    [route({ rateLimit: { limit: 5, window: 'soon' } }), 'routes[0].rateLimit.window'],
    [route({ rateLimit: { limit: 5, window: '1m', by: 'jwt:sub' } }), 'routes[0].rateLimit.by: counting by a claim needs auth.jwt on the route'],
    [route({ rateLimit: { limit: 5, window: '1m', by: 'query:x' } }), "routes[0].rateLimit.by: expected 'ip', 'header:<name>', 'cookie:<name>' or 'jwt:<claim>'"],
    [route({ rateLimit: { limit: 5, window: '1m', store: 'redis' } }), 'routes[0].rateLimit.redisUrl: required by the redis store'],
    [route({ rateLimit: [{ limit: 5, window: '1m' }, { limit: 5, window: '1h', name: 'ip' }] }), 'routes[0].rateLimit: expected a different name for each limit'],
    [
      route({ rateLimit: [{ limit: 5, window: '1m', store: 'redis', redisUrl: 'redis://a:6379' }, { limit: 5, window: '1h', name: 'other', store: 'redis', redisUrl: 'redis://b:6379' }] }),
      'routes[0].rateLimit: expected one Redis server for a route',
    ],
    [route({ auth: {} }), 'routes[0].auth: expected exactly one of jwt and apiKey'],
    [route({ auth: { jwt, apiKey: { keys: API_KEYS } } }), 'routes[0].auth: expected exactly one of jwt and apiKey'],
    [route({ auth: { jwt: { ...jwt, algorithms: ['none'] } } }), "routes[0].auth.jwt.algorithms[0]: expected one of RS256"],
    [route({ auth: { jwt: { ...jwt, algorithms: ['HS256'] } } }), "('none' and HS* are refused)"],
    [route({ auth: { jwt: { jwks: { url: 'ftp://x' }, algorithms: ['RS256'] } } }), 'routes[0].auth.jwt.jwks.url'],
    [route({ auth: { jwt: { ...jwt, forwardClaims: { sub: 'X-Forwarded-For' } } } }), 'routes[0].auth.jwt.forwardClaims.sub: expected a header of the request the gateway does not frame'],
    [route({ auth: { jwt: { ...jwt, forwardClaims: { sub: 'authorization' } } } }), 'routes[0].auth.jwt.forwardClaims.sub'],
    [route({ auth: { apiKey: { keys: { acme: 'short' } } } }), 'routes[0].auth.apiKey.keys.acme: expected a key of at least 16 characters'],
    [route({ auth: { apiKey: { keys: { a: API_KEYS.acme, b: API_KEYS.acme } } } }), 'routes[0].auth.apiKey.keys: expected a different key for each name'],
  ])('refuses %j naming the field', (options, message) => {
    expect(issuesOf(options).join('\n')).toContain(message);
  });

  it('takes a rate limit counted in Redis with the URL of the cache, and a valid JWT route', () => {
    expect(issuesOf({ cache: { store: 'redis', redisUrl: 'redis://127.0.0.1:6379' }, ...route({ rateLimit: { limit: 5, window: '1m', store: 'redis' } }) })).toEqual([]);
    expect(issuesOf(route({ auth: { jwt: { ...jwt, issuer: 'https://idp.example/', audience: ['a', 'b'], clockTolerance: '30s', forwardClaims: { sub: 'x-user-id' } } }, rateLimit: { limit: 1, window: 1000, by: 'jwt:sub' } }))).toEqual([]);
  });
});
