import request from 'supertest';
import { type RunningGateway, startGateway } from './support/gateway.js';
import { hmacToken, inSeconds, type Issuer, startIssuer } from './support/jwt-issuer.js';
import { sample } from './support/prometheus.js';
import { startStandalone } from './support/standalone.js';
import { deadPort, startUpstream, type Upstream } from './support/upstream.js';
import { until } from './support/wait.js';

const ISS = 'https://idp.test/';
const AUD = 'api://orders';

describe('JWT authentication against the issuer’s key set', () => {
  let issuer: Issuer;
  let upstream: Upstream;
  let gateway: RunningGateway;
  let unreachableJwks: string;
  const claims = (extra: Record<string, unknown> = {}) => ({ iss: ISS, aud: AUD, sub: 'user-1', exp: inSeconds(300), ...extra });
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    issuer = await startIssuer();
    upstream = await startUpstream();
    unreachableJwks = `http://127.0.0.1:${await deadPort()}/jwks.json`;
    const jwt = {
      jwks: { url: issuer.jwksUrl, cooldown: '30s' },
      issuer: ISS,
      audience: AUD,
      algorithms: ['RS256'],
      clockTolerance: '30s',
      forwardClaims: { sub: 'x-user-id', email: 'x-user-email' },
    };
    gateway = await startGateway({
      cache: {},
      routes: [
        { prefix: '/orders', target: upstream.url, auth: { jwt } },
        { prefix: '/rotating', target: upstream.url, auth: { jwt: { ...jwt, jwks: { url: issuer.jwksUrl, cooldown: 50 } } } },
        { prefix: '/per-user', target: upstream.url, auth: { jwt }, rateLimit: { limit: 2, window: '1m', by: 'jwt:sub' } },
        { prefix: '/per-tenant', target: upstream.url, auth: { jwt }, rateLimit: { limit: 1, window: '1m', by: 'jwt:tenant' } },
        {
          prefix: '/claims',
          target: upstream.url,
          auth: { jwt: { ...jwt, forwardClaims: { roles: 'x-roles', org: 'x-org', level: 'x-level', admin: 'x-admin', note: 'x-note', empty: 'x-empty' } } },
        },
        { prefix: '/idp-down', target: upstream.url, auth: { jwt: { ...jwt, jwks: { url: unreachableJwks, timeout: '1s' } } } },
      ],
    });
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
    await issuer.close();
  });

  it('forwards a valid token’s request with the claims it is told to, as headers', async () => {
    await request(gateway.url).get('/orders/x').set(bearer(issuer.token(claims({ email: 'a@example.test' })))).expect(200);
    const seen = upstream.seen.at(-1)!.headers;
    expect(seen['x-user-id']).toBe('user-1');
    expect(seen['x-user-email']).toBe('a@example.test');
    expect(seen.authorization).toMatch(/^Bearer /);
  });

  it('removes the client’s own copies of the claim headers, also of a claim the token lacks', async () => {
    await request(gateway.url)
      .get('/orders/x')
      .set(bearer(issuer.token(claims())))
      .set('x-user-id', 'admin')
      .set('x-user-email', 'forged@example.test')
      .expect(200);
    const seen = upstream.seen.at(-1)!.headers;
    expect(seen['x-user-id']).toBe('user-1');
    expect(seen['x-user-email']).toBeUndefined();
  });

  it('forwards the claim headers even when the client’s Connection names them', async () => {
    await request(gateway.url).get('/orders/x').set(bearer(issuer.token(claims({ email: 'a@example.test' })))).set('connection', 'keep-alive, X-User-Id,x-user-email').expect(200);
    const seen = upstream.seen.at(-1)!.headers;
    expect(seen['x-user-id']).toBe('user-1');
    expect(seen['x-user-email']).toBe('a@example.test');
  });

  it.each([
    ['no Authorization', {}],
    ['a Basic credential', { authorization: 'Basic dXNlcjpwdw==' }],
  ])('answers %s with 401 and a Bearer challenge', async (_name, headers) => {
    const before = upstream.seen.length;
    const res = await request(gateway.url).get('/orders/x').set(headers).expect(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="gateway"');
    expect(res.body).toEqual({ statusCode: 401, error: 'Unauthorized', message: 'a bearer token is required' });
    expect(upstream.seen.length).toBe(before);
  });

  const invalid: [string, () => string, string][] = [
    ['a signature that does not match', () => issuer.token(claims()).replace(/.{4}$/, 'AAAA'), 'signature invalid'],
    ['an HS256 token signed with the public key as secret', () => hmacToken(claims(), JSON.stringify(issuer.keys[0].publicJwk), { alg: 'HS256', kid: issuer.keys[0].kid }), 'algorithm not allowed'],
    ['alg none', () => `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims())).toString('base64url')}.`, 'malformed token'],
    ['an unknown key id', () => issuer.token(claims(), { kid: 'made-up' }), 'unknown signing key'],
    ['exp past the tolerance', () => issuer.token(claims({ exp: inSeconds(-60) })), 'token expired'],
    ['nbf beyond the tolerance', () => issuer.token(claims({ nbf: inSeconds(120) })), 'claim check failed'],
    ['another issuer', () => issuer.token(claims({ iss: 'https://evil.test/' })), 'claim check failed'],
    ['another audience', () => issuer.token(claims({ aud: 'api://billing' })), 'claim check failed'],
    ['three parts that are no JWT', () => 'abc.def.ghi', 'malformed token'],
    ['no JWT at all', () => 'not-a-token', 'malformed token'],
  ];
  it.each(invalid)('refuses %s with 401 invalid_token', async (_name, token, description) => {
    const before = upstream.seen.length;
    const res = await request(gateway.url).get('/orders/x').set(bearer(token())).expect(401);
    expect(res.headers['www-authenticate']).toBe(`Bearer realm="gateway", error="invalid_token", error_description="${description}"`);
    expect(res.body.message).toBe(description);
    expect(upstream.seen.length).toBe(before);
  });

  it('takes exp and nbf within the clock tolerance', async () => {
    await request(gateway.url).get('/orders/x').set(bearer(issuer.token(claims({ exp: inSeconds(-10) })))).expect(200);
    await request(gateway.url).get('/orders/x').set(bearer(issuer.token(claims({ nbf: inSeconds(10) })))).expect(200);
  });

  it('fetches the key set again at most once per cooldown, however many made-up key ids come', async () => {
    await request(gateway.url).get('/orders/x').set(bearer(issuer.token(claims()))).expect(200);
    const before = issuer.fetches;
    for (let i = 0; i < 20; i += 1) await request(gateway.url).get('/orders/x').set(bearer(issuer.token(claims(), { kid: `made-up-${i}` }))).expect(401);
    expect(issuer.fetches - before).toBeLessThanOrEqual(1);
  });

  it('takes a token signed with a rotated-in key without a restart', async () => {
    await request(gateway.url).get('/rotating/x').set(bearer(issuer.token(claims()))).expect(200);
    const rotated = issuer.rotate();
    const token = issuer.token(claims({ sub: 'rotated' }), { key: rotated });
    await until(async () => (await request(gateway.url).get('/rotating/x').set(bearer(token))).status === 200, 'the rotated key to be taken');
    expect(upstream.seen.at(-1)!.headers['x-user-id']).toBe('rotated');
  });

  it('answers 503 with Retry-After while no key set could be fetched, and counts the refusals', async () => {
    const res = await request(gateway.url).get('/idp-down/x').set(bearer(issuer.token(claims()))).expect(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.body).toEqual({ statusCode: 503, error: 'Service Unavailable', message: 'Cannot authenticate: the signing keys cannot be fetched' });
    const metrics = await request(gateway.url).get('/metrics');
    expect(sample(metrics.text, 'nest_gateway_requests_refused_total', { route: '/idp-down', reason: 'auth' })).toBe(1);
  });

  it('keeps using the keys it holds while the issuer fails, past their maxAge, asking it at most once per cooldown', async () => {
    const flaky = await startIssuer();
    const flakyGateway = await startGateway({
      routes: [{ prefix: '/api', target: upstream.url, auth: { jwt: { jwks: { url: flaky.jwksUrl, cooldown: '30s', maxAge: 200 }, algorithms: ['RS256'] } } }],
    });
    try {
      await request(flakyGateway.url).get('/api/x').set(bearer(flaky.token({ sub: 'before' }))).expect(200);
      flaky.available = false;
      const fetchesBefore = flaky.fetches;
      // The held set's age is the behaviour under test.
      await new Promise((resolve) => setTimeout(resolve, 300));
      for (let i = 0; i < 10; i += 1) await request(flakyGateway.url).get('/api/x').set(bearer(flaky.token({ sub: `during-${i}` }))).expect(200);
      for (let i = 0; i < 10; i += 1) {
        const res = await request(flakyGateway.url).get('/api/x').set(bearer(flaky.token({ sub: 'x' }, { kid: `made-up-${i}` }))).expect(401);
        expect(res.body.message).toBe('unknown signing key');
      }
      expect(flaky.fetches - fetchesBefore).toBeLessThanOrEqual(1);
    } finally {
      await flakyGateway.close();
      await flaky.close();
    }
  });

  it('warns at start of a JWT route that checks no audience', async () => {
    const standalone = await startStandalone({
      routes: [
        { prefix: '/any-audience', target: upstream.url, auth: { jwt: { jwks: { url: issuer.jwksUrl }, algorithms: ['RS256'] } } },
        { prefix: '/one-audience', target: upstream.url, auth: { jwt: { jwks: { url: issuer.jwksUrl }, algorithms: ['RS256'], audience: AUD } } },
      ],
    });
    try {
      expect(standalone.output()).toContain('Route /any-audience: auth.jwt has no audience');
      expect(standalone.output()).not.toContain('Route /one-audience');
    } finally {
      standalone.child.kill('SIGTERM');
      await standalone.exited;
    }
  });

  it('asks an issuer that has never answered at most once per cooldown', async () => {
    const down = await startIssuer();
    down.available = false;
    const downGateway = await startGateway({ routes: [{ prefix: '/api', target: upstream.url, auth: { jwt: { jwks: { url: down.jwksUrl, cooldown: '30s' }, algorithms: ['RS256'] } } }] });
    try {
      for (let i = 0; i < 10; i += 1) await request(downGateway.url).get('/api/x').set(bearer(down.token({ sub: `s-${i}` }))).expect(503);
      // The fetch at start, and none since.
      expect(down.fetches).toBe(1);
    } finally {
      await downGateway.close();
      await down.close();
    }
  });

  it('forwards lists of strings joined, objects as JSON, numbers and booleans as text; nothing a header cannot carry', async () => {
    const token = issuer.token(claims({ roles: ['admin', 'ops'], org: { id: 7 }, level: 3, admin: false, note: 'line\nbreak', empty: null }));
    await request(gateway.url).get('/claims/x').set(bearer(token)).set('x-note', 'forged').expect(200);
    const seen = upstream.seen.at(-1)!.headers;
    expect(seen['x-roles']).toBe('admin, ops');
    expect(seen['x-org']).toBe('{"id":7}');
    expect(seen['x-level']).toBe('3');
    expect(seen['x-admin']).toBe('false');
    expect(seen['x-note']).toBeUndefined();
    expect(seen['x-empty']).toBeUndefined();
  });

  it('counts a request whose token lacks the claim by its address', async () => {
    await request(gateway.url).get('/per-tenant/x').set(bearer(issuer.token(claims({ sub: 'no-tenant-1' })))).expect(200);
    // Another user, also without the claim, from the same address: the same count.
    await request(gateway.url).get('/per-tenant/x').set(bearer(issuer.token(claims({ sub: 'no-tenant-2' })))).expect(429);
    await request(gateway.url).get('/per-tenant/x').set(bearer(issuer.token(claims({ tenant: 'acme' })))).expect(200);
  });

  it('refuses a token over 8 KiB, even a validly signed one, without checking it', async () => {
    const padded = issuer.token(claims({ padding: 'p'.repeat(7 * 1024) }));
    expect(padded.length).toBeGreaterThan(8 * 1024);
    const res = await request(gateway.url).get('/orders/x').set(bearer(padded)).expect(401);
    expect(res.body.message).toBe('malformed token');
  });

  it('counts a limit by a claim of the verified token', async () => {
    const alice = bearer(issuer.token(claims({ sub: 'alice' })));
    await request(gateway.url).get('/per-user/x').set(alice).expect(200);
    await request(gateway.url).get('/per-user/x').set(alice).expect(200);
    const refused = await request(gateway.url).get('/per-user/x').set(alice).expect(429);
    expect(refused.headers['ratelimit-policy']).toBe('"default";q=2;w=60');
    await request(gateway.url).get('/per-user/x').set(bearer(issuer.token(claims({ sub: 'bob' })))).expect(200);
    // No token: refused by authentication before any limit counts it.
    await request(gateway.url).get('/per-user/x').expect(401);
  });
});
