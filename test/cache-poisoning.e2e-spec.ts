import request from 'supertest';
import { rawRequest } from './support/raw-http.js';
import { startGateway, type RunningGateway } from './support/gateway.js';
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
