import request from 'supertest';
import { rawRequest } from './support/raw-http.js';
import { gatewayModule, startApp, startGateway, type RunningGateway } from './support/gateway.js';
import { startCachedUpstream } from './support/cached-upstream.js';

type CachedUpstream = Awaited<ReturnType<typeof startCachedUpstream>>;

/** A raw GET with the given extra header lines; returns the status, the headers and the body. */
async function rawGetWith(gateway: RunningGateway, path: string, lines: string, body = '') {
  const res = await rawRequest(Number(new URL(gateway.url).port), `GET ${path} HTTP/1.1\r\n${lines}Connection: close\r\n\r\n${body}`);
  const [head, answer] = res.text.split('\r\n\r\n');
  const header = (name: string) => new RegExp(`^${name}: (.*)$`, 'im').exec(head)?.[1];
  return { status: res.status, header, body: answer };
}

// Each case below once let one client's request decide what every other client was served.
describe('cache keys cover what an answer depends on', () => {
  let upstream: CachedUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    upstream = await startCachedUpstream();
    gateway = await startGateway({ cache: { store: 'memory' }, routes: [{ prefix: '/api', target: upstream.url }] });
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('keys on the host the gateway forwards: a link built from Host: evil.example answers no other host', async () => {
    const planted = await rawGetWith(gateway, '/api/links', 'Host: evil.example\r\n');
    expect(planted.header('link')).toBe('<https://evil.example/next>');
    const honest = await rawGetWith(gateway, '/api/links', 'Host: gateway.test\r\n');
    expect(honest.header('x-cache')).toBe('MISS');
    expect(honest.header('link')).toBe('<https://gateway.test/next>');
    expect((await rawGetWith(gateway, '/api/links', 'Host: gateway.test\r\n')).header('x-cache')).toBe('HIT');
  });

  it('honours Vary without respectCacheControl: a br answer never reaches a gzip client', async () => {
    await request(gateway.url).get('/api/encoded').set('accept-encoding', 'br').expect('x-cache', 'MISS');
    await request(gateway.url).get('/api/encoded').set('accept-encoding', 'br').expect('x-cache', 'HIT');
    const gzip = await request(gateway.url).get('/api/encoded').set('accept-encoding', 'gzip').expect('x-cache', 'MISS');
    expect(gzip.text).toMatch(/^encoding=gzip;/);
  });

  it.each(['/api/private', '/api/no-store'])('never stores %s, whatever its x-cache-timeout', async (path) => {
    await request(gateway.url).get(path).expect(200).expect('x-cache', 'MISS');
    await request(gateway.url).get(path).expect(200).expect('x-cache', 'MISS');
  });

  it('neither serves nor stores a GET with a Cookie or a body unless a middleware keys it', async () => {
    await request(gateway.url).get('/api/numbers?case=cookie').set('cookie', 'session=alice').expect('x-cache', 'BYPASS');
    await request(gateway.url).get('/api/numbers?case=cookie').expect('x-cache', 'MISS');
    await request(gateway.url).get('/api/numbers?case=cookie').expect('x-cache', 'HIT');
    // A cookie never reads the anonymous entry either.
    await request(gateway.url).get('/api/numbers?case=cookie').set('cookie', 'session=alice').expect('x-cache', 'BYPASS');
    const fat = await rawGetWith(gateway, '/api/numbers?case=cookie', `Host: ${new URL(gateway.url).host}\r\nContent-Length: 5\r\n`, 'hello');
    expect(fat.status).toBe(200);
    expect(fat.header('x-cache')).toBe('BYPASS');
  });

  it('keys a variant on the request as the service got it: a header the client has dropped by Connection is no variant', async () => {
    const planted = await rawGetWith(gateway, '/api/negotiated', 'Host: gateway.test\r\nAccept: application/json\r\nConnection: close, accept\r\n');
    expect(planted.header('content-type')).toBe('text/html');
    const api = await rawGetWith(gateway, '/api/negotiated', 'Host: gateway.test\r\nAccept: application/json\r\n');
    expect(api.header('content-type')).toBe('application/json');
    expect(api.header('x-cache')).toBe('MISS');
  });

  it('never stores an answer that varies on everything (Vary: *)', async () => {
    for (const expected of ['MISS', 'MISS']) await request(gateway.url).get('/api/vary-star').expect(200).expect('x-cache', expected);
  });

  it('matches x-cache-expire patterns case-sensitively: */NUMBERS* leaves /numbers stored', async () => {
    await request(gateway.url).get('/api/numbers?case=upper').expect('x-cache', 'MISS');
    await request(gateway.url).get('/api/expire-upper').expect(200);
    await request(gateway.url).get('/api/numbers?case=upper').expect('x-cache', 'HIT');
  });

  it('combines a Cache-Control sent on two lines and obeys each: never a 502, never a private answer stored', async () => {
    for (const expected of ['MISS', 'MISS']) await request(gateway.url).get('/api/two-lines-private').expect(200).expect('x-cache', expected);
    for (const expected of ['MISS', 'HIT']) await request(gateway.url).get('/api/two-lines-public').expect(200).expect('x-cache', expected);
  });

  it('refuses an X-Forwarded-Host that is no host[:port] with 400, even from a peer it does not trust', async () => {
    const before = upstream.seen.length;
    const refused = await rawGetWith(gateway, '/api/links', 'Host: gateway.test\r\nX-Forwarded-Host: gw/api/numbers?x=\r\n');
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body)).toMatchObject({ statusCode: 400, message: 'X-Forwarded-Host is not a list of host[:port]' });
    expect(upstream.seen.length).toBe(before);
  });

  it('passes neither x-cache-timeout nor x-cache-expire to clients', async () => {
    const miss = await request(gateway.url).get('/api/numbers?case=headers');
    const hit = await request(gateway.url).get('/api/numbers?case=headers').expect('x-cache', 'HIT');
    const expiring = await request(gateway.url).patch('/api/numbers').expect(200);
    for (const res of [miss, hit, expiring]) {
      expect(res.headers['x-cache-timeout']).toBeUndefined();
      expect(res.headers['x-cache-expire']).toBeUndefined();
    }
  });
});

describe('cache keys behind a trusted proxy', () => {
  let upstream: CachedUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    upstream = await startCachedUpstream();
    gateway = await startApp(gatewayModule({ cache: { store: 'memory' }, routes: [{ prefix: '/api', target: upstream.url }] }), { trustProxy: '127.0.0.1' });
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it("keys on the scheme the service is told: a redirect to https answered to http never answers https", async () => {
    const toHttps = await rawGetWith(gateway, '/api/secure-only', 'Host: gw.example\r\nX-Forwarded-Proto: http\r\n');
    expect(toHttps.status).toBe(301);
    expect(toHttps.header('location')).toBe('https://gw.example/secure-only');
    const secure = await rawGetWith(gateway, '/api/secure-only', 'Host: gw.example\r\nX-Forwarded-Proto: https\r\n');
    expect(secure.status).toBe(200);
    expect(secure.header('x-cache')).toBe('MISS');
    expect((await rawGetWith(gateway, '/api/secure-only', 'Host: gw.example\r\nX-Forwarded-Proto: https\r\n')).header('x-cache')).toBe('HIT');
    expect((await rawGetWith(gateway, '/api/secure-only', 'Host: gw.example\r\nX-Forwarded-Proto: http\r\n')).status).toBe(301);
  });

  it("never lets X-Forwarded-Host spell another URL's key", async () => {
    const attack = await rawGetWith(gateway, '/api/attack', 'Host: gw.example\r\nX-Forwarded-Host: gw.example/api/numbers?x=\r\n');
    expect(attack.status).toBe(400);
    const victim = await rawGetWith(gateway, '/api/numbers?x=/api/attack', 'Host: gw.example\r\n');
    expect(victim.header('x-cache')).toBe('MISS');
    expect(victim.body).toContain('"url":"/numbers?x=/api/attack"');
    const spaced = await rawGetWith(gateway, '/api/links', 'Host: gw.example\r\nX-Forwarded-Host: "a b"\r\n');
    expect(spaced.status).toBe(400);
  });
});
