import { get as httpGet, type IncomingMessage, type ServerResponse } from 'node:http';
import { createClient } from '@redis/client';
import request from 'supertest';
import { resolveValidGatewayOptions } from '../src/config/gateway-options.schema.js';
import { loadConfigFile } from '../src/config/load-config-file.js';
import type { CacheOptions, GatewayOptions } from '../src/index.js';
import { startGateway, type RunningGateway } from './support/gateway.js';
import { startRedisServer, type RedisServer } from './support/redis-server.js';
import { configFile, startStandalone, type StandaloneGateway } from './support/standalone.js';
import { listeningWorkers } from './support/supervised.js';
import { startUpstream, type Upstream } from './support/upstream.js';
import { until } from './support/wait.js';

const TOKEN = 'purge-token-0123456789';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A service that tags what it answers from the path: `/users/42` is `user:42 users`, `/teams/x`
 * is `teams`, `/untagged` has none; `/update/<tags>` (any method) answers with
 * `x-cache-expire-tags: <tags>`. Every body carries a serial number.
 */
async function startTaggingService(): Promise<Upstream & { hits(path: string): number }> {
  let serial = 0;
  const upstream = await startUpstream((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url!, 'http://x').pathname;
    const headers: Record<string, string> = { 'content-type': 'text/plain', 'x-cache-timeout': '1 minute' };
    const [, kind, id] = path.split('/');
    if (kind === 'users') headers['x-cache-tags'] = `user:${id} users`;
    if (kind === 'teams') headers['x-cache-tags'] = 'teams';
    if (kind === 'stale') Object.assign(headers, { 'x-cache-tags': 'stale', 'x-cache-timeout': '1', 'x-cache-stale': '1 minute' });
    if (kind === 'brief') Object.assign(headers, { 'x-cache-tags': 'brief', 'x-cache-timeout': '1' });
    if (kind === 'too-many') headers['x-cache-tags'] = Array.from({ length: 65 }, (_, i) => `t${i}`).join(' ');
    if (kind === 'aged') Object.assign(headers, { age: '100', 'cache-status': 'upstream-cache; hit' });
    if (kind === 'negotiated') headers.vary = 'accept';
    if (kind === 'update') {
      delete headers['x-cache-timeout'];
      headers['x-cache-expire-tags'] = decodeURIComponent(id);
    }
    const answer = () => {
      res.writeHead(200, headers);
      res.end(`${path} #${++serial}`);
    };
    if (kind === 'slow') setTimeout(answer, 200);
    else answer();
  });
  return Object.assign(upstream, { hits: (path: string) => upstream.seen.filter((seen) => new URL(seen.url, 'http://x').pathname === path).length });
}

const routesTo = (service: Upstream): GatewayOptions['routes'] => [
  { prefix: '/a', target: service.url },
  { prefix: '/b', target: service.url },
];

describe('tags (memory store)', () => {
  let service: Awaited<ReturnType<typeof startTaggingService>>;
  let gateway: RunningGateway;
  const get = (path: string) => request(gateway.url).get(path);

  beforeAll(async () => {
    service = await startTaggingService();
    gateway = await startGateway({ cache: {}, routes: routesTo(service) });
  });
  afterAll(async () => {
    await gateway.close();
    await service.close();
  });

  it('expires exactly the entries carrying a tag, across routes, before the answer that names it', async () => {
    const paths = ['/a/users/42', '/b/users/42', '/a/users/7', '/b/teams/x', '/a/untagged'];
    for (const path of paths) await get(path).expect('x-cache', 'MISS');
    for (const path of paths) await get(path).expect('x-cache', 'HIT');

    const update = await request(gateway.url).post('/a/update/user%3A42').expect(200);
    expect(update.headers['x-cache-expire-tags']).toBeUndefined();
    await get('/a/users/42').expect('x-cache', 'MISS');
    await get('/b/users/42').expect('x-cache', 'MISS');
    for (const path of ['/a/users/7', '/b/teams/x', '/a/untagged']) await get(path).expect('x-cache', 'HIT');

    // Several tags, spaces and commas: every user and the teams, the untagged entry kept.
    await request(gateway.url).delete('/b/update/users%2C%20teams').expect(200);
    for (const path of ['/a/users/42', '/a/users/7', '/b/teams/x']) await get(path).expect('x-cache', 'MISS');
    await get('/a/untagged').expect('x-cache', 'HIT');
  });

  it('purges stale entries too', async () => {
    await get('/a/stale/1').expect('x-cache', 'MISS');
    await sleep(1100);
    await get('/a/stale/1').expect('x-cache', 'STALE');
    await get('/a/update/stale').expect(200);
    await get('/a/stale/1').expect('x-cache', 'MISS');
  });

  it('purges nothing for an x-cache-expire-tags that breaks the rules of tags, and passes the answer on', async () => {
    await get('/a/users/3').expect('x-cache', 'MISS');
    const tooMany = Array.from({ length: 64 }, (_, i) => `t${i}`).concat('user:3').join(' ');
    const answer = await get(`/a/update/${encodeURIComponent(tooMany)}`).expect(200);
    expect(answer.headers['x-cache-expire-tags']).toBeUndefined();
    await get('/a/users/3').expect('x-cache', 'HIT');
  });

  it('stores no answer with a tag it could not be purged by', async () => {
    await get('/a/too-many/1').expect('x-cache', 'MISS');
    await get('/a/too-many/1').expect('x-cache', 'MISS');
    expect(service.hits('/too-many/1')).toBe(2);
  });

  it('lets no client steer the cache with the service headers or Cache-Status and Age', async () => {
    await get('/a/users/99').expect('x-cache', 'MISS');
    await get('/a/untagged?client').set('x-cache-tags', 'mine').expect('x-cache', 'MISS');
    const spoofed = await get('/a/untagged?client')
      .set('x-cache-expire-tags', 'user:99, mine')
      .set('cache-status', 'nest-gateway; hit; ttl=99999')
      .set('age', '99999')
      .expect('x-cache', 'HIT');
    expect(spoofed.headers['cache-status']).toMatch(/^nest-gateway; hit; ttl=\d+$/);
    expect(Number(spoofed.headers.age)).toBeLessThan(5);
    await get('/a/users/99').expect('x-cache', 'HIT');
    // The tag the client sent is no tag of the entry: purging it leaves the entry.
    await get('/a/update/mine').expect(200);
    await get('/a/untagged?client').expect('x-cache', 'HIT');
  });

  it('says how each answer came to be in Cache-Status, after the service member, with one Age', async () => {
    const miss = await get('/a/aged').expect(200);
    expect(miss.headers['cache-status']).toBe('upstream-cache; hit, nest-gateway; fwd=uri-miss; stored');
    expect(miss.headers.age).toBe('100');
    const hit = await get('/a/aged').expect(200);
    expect(hit.headers['cache-status']).toMatch(/^upstream-cache; hit, nest-gateway; hit; ttl=(59|60)$/);
    // supertest keeps Node's response (its raw header list) on `res`, outside its types.
    const { rawHeaders } = (hit as unknown as { res: { rawHeaders: string[] } }).res;
    const ages = rawHeaders.filter((name, i) => i % 2 === 0 && name.toLowerCase() === 'age');
    expect(ages).toHaveLength(1);
    expect(Number(hit.headers.age)).toBeGreaterThanOrEqual(100);
    expect(Number(hit.headers.age)).toBeLessThan(105);

    const untagged = await get('/a/untagged?fresh').expect(200);
    expect(untagged.headers.age).toBeUndefined();

    const post = await request(gateway.url).post('/a/untagged').expect(200);
    expect(post.headers['cache-status']).toBe('nest-gateway; fwd=method');
    const cookie = await get('/a/untagged').set('cookie', 'session=1').expect(200);
    expect(cookie.headers['cache-status']).toBe('nest-gateway; fwd=bypass');
    const plain = await get('/a/update/none').expect(200);
    expect(plain.headers['cache-status']).toBe('nest-gateway; fwd=uri-miss');
    await get('/a/negotiated').set('accept', 'text/html').expect(200);
    const otherVariant = await get('/a/negotiated').set('accept', 'application/json').expect(200);
    expect(otherVariant.headers['cache-status']).toBe('nest-gateway; fwd=vary-miss; stored');
    const conditional = await get('/a/aged').set('if-none-match', hit.headers.etag).expect(304);
    expect(conditional.headers['cache-status']).toMatch(/^upstream-cache; hit, nest-gateway; hit; ttl=\d+$/);
  });

  it('names a request that waited for another fill as collapsed', async () => {
    const answers = await Promise.all(Array.from({ length: 4 }, () => get('/a/slow')));
    const statuses = answers.map((answer) => answer.headers['cache-status']).sort();
    expect(statuses).toEqual([
      'nest-gateway; fwd=uri-miss; collapsed',
      'nest-gateway; fwd=uri-miss; collapsed',
      'nest-gateway; fwd=uri-miss; collapsed',
      'nest-gateway; fwd=uri-miss; stored',
    ]);
  });
});

describe('tags and purges in Redis, two gateways', () => {
  let redis: RedisServer;
  let service: Awaited<ReturnType<typeof startTaggingService>>;
  let a: RunningGateway;
  let b: RunningGateway;
  let client: ReturnType<typeof createClient>;
  const cache: CacheOptions = { store: 'redis', namespace: 'tags', purge: { token: TOKEN } };

  beforeAll(async () => {
    redis = await startRedisServer();
    service = await startTaggingService();
    a = await startGateway({ cache: { ...cache, redisUrl: redis.url }, routes: routesTo(service) });
    b = await startGateway({ cache: { ...cache, redisUrl: redis.url }, routes: [...routesTo(service), { prefix: '/', target: service.url }] });
    client = createClient({ url: redis.url });
    // The last test stops Redis under it.
    client.on('error', () => undefined);
    await client.connect();
  });
  afterAll(async () => {
    await client.close();
    await a.close();
    await b.close();
    await service.close();
    await redis.stop();
  });

  const get = (gateway: RunningGateway, path: string) => request(gateway.url).get(path).set('host', 'api.example');
  const purge = (gateway: RunningGateway) => request(gateway.url).post('/_gateway/cache/purge');

  it("sees the other gateway's tag purge at once", async () => {
    await get(a, '/a/users/42').expect('x-cache', 'MISS');
    await get(b, '/b/users/7').expect('x-cache', 'MISS');
    await get(b, '/a/users/42').expect('x-cache', 'HIT');
    await request(a.url).put('/a/update/user:42').expect(200);
    await get(b, '/a/users/42').expect('x-cache', 'MISS');
    await get(a, '/b/users/7').expect('x-cache', 'HIT');
  });

  it('purges by tags and patterns through the API, with the token only', async () => {
    await get(a, '/a/teams/1').expect(200);
    await get(a, '/a/teams/2').expect(200);
    await get(a, '/b/untagged').expect(200);
    await purge(b).set('authorization', 'Bearer wrong-token-0123456789').send({ tags: ['teams'] }).expect(401);
    const basic = await purge(b).auth('any', TOKEN).send({ tags: ['teams'] }).expect(401);
    expect(basic.headers['www-authenticate']).toMatch(/^Bearer/);
    await request(b.url).post(`/_gateway/cache/purge?token=${TOKEN}`).send({ tags: ['teams'] }).expect(401);
    await request(b.url).post(`/_gateway/cache/purge?access_token=${TOKEN}`).send({ tags: ['teams'] }).expect(401);
    await purge(b).send({ tags: ['teams'] }).expect(401);
    await get(a, '/a/teams/1').expect('x-cache', 'HIT');

    await purge(b).set('authorization', `Bearer ${TOKEN}`).set('content-type', 'application/json').send('{"tags": [').expect(400);
    await purge(b).set('authorization', `Bearer ${TOKEN}`).send({ tags: 'teams' }).expect(400);
    await purge(b).set('authorization', `Bearer ${TOKEN}`).send({ tags: [] }).expect(400);
    await purge(b).set('authorization', `Bearer ${TOKEN}`).send({ tags: ['has space'] }).expect(400);
    await purge(b).set('authorization', `Bearer ${TOKEN}`).send({ tags: ['teams'], extra: 1 }).expect(400);
    for (const method of ['get', 'put', 'delete'] as const) {
      const refused = await request(b.url)[method]('/_gateway/cache/purge').set('authorization', `Bearer ${TOKEN}`).send({ tags: ['teams'] }).expect(405);
      expect(refused.headers.allow).toBe('POST');
    }
    await get(a, '/a/teams/1').expect('x-cache', 'HIT');

    const purged = await purge(b).set('authorization', `Bearer ${TOKEN}`).send({ tags: ['teams'], patterns: ['*/b/untagged'] }).expect(200);
    expect(purged.body).toEqual({ purged: 3 });
    for (const path of ['/a/teams/1', '/a/teams/2', '/b/untagged']) await get(a, path).expect('x-cache', 'MISS');
  });

  it('keeps its own path from the routes: never forwarded, even under a catch-all route; the same path under a prefix is proxied', async () => {
    const before = service.seen.length;
    await request(b.url).get('/_gateway/cache/purge').expect(405);
    await request(b.url).post('/_gateway/cache/purge').expect(401);
    expect(service.seen.length).toBe(before);
    await request(b.url).post('/a/_gateway/cache/purge').expect(200);
    expect(service.seen.at(-1)!.url).toBe('/_gateway/cache/purge');
  });

  it('drops the members of expired entries from a tag as it is written again: no tag grows without bound', async () => {
    for (let i = 0; i < 5; i++) await get(a, `/a/brief/${i}`).expect(200);
    expect(await client.zCard('tags:tag:brief')).toBe(5);
    await sleep(1100);
    await get(a, '/a/brief/next').expect(200);
    expect(await client.zCard('tags:tag:brief')).toBe(1);
    await until(async () => (await client.exists('tags:tag:brief')) === 0, 'the tag to expire with its last entry', 5000);
  });

  it('answers 503 to a purge the store could not confirm, and the purge after Redis is back works', async () => {
    await get(a, '/a/teams/9').expect(200);
    await redis.stop();
    const refused = await purge(a).set('authorization', `Bearer ${TOKEN}`).send({ tags: ['teams'], patterns: ['*'] }).expect(503);
    expect(refused.headers['retry-after']).toBe('1');
    // A service's expiry while Redis is down does not hold its answer.
    await request(a.url).post('/a/update/teams').expect(200);
    await redis.restart();
    await until(async () => (await purge(a).set('authorization', `Bearer ${TOKEN}`).send({ tags: ['teams'] })).status === 200, 'Redis to be back');
  });
});

describe('purge API configuration', () => {
  const routes = [{ prefix: '/api', target: 'http://127.0.0.1:9' }];

  it('refuses a route claiming the purge path, naming the field', () => {
    expect(() => resolveValidGatewayOptions({ cache: { purge: { token: TOKEN } }, routes: [{ prefix: '/_gateway/cache/purge', target: 'http://127.0.0.1:9' }] })).toThrow(
      /cache\.purge\.path.*already served by routes\[0\]|routes\[0\].*already served by cache\.purge\.path/,
    );
    expect(() => resolveValidGatewayOptions({ cache: { purge: { token: TOKEN, path: '/api' } }, routes })).toThrow(/cache\.purge\.path/);
  });

  it('refuses a short token, naming the field', () => {
    expect(() => resolveValidGatewayOptions({ cache: { purge: { token: 'short' } }, routes })).toThrow(/cache\.purge\.token: expected a token of at least 16 characters/);
  });

  it('takes the token from GATEWAY_CACHE_PURGE_TOKEN over the file', async () => {
    const file = await configFile({ cache: { purge: { token: TOKEN } }, routes });
    const options = await loadConfigFile(file, { purgeToken: 'from-the-environment-0123' });
    expect(options.cache?.purge).toEqual({ token: 'from-the-environment-0123' });
    const turnedOn = await loadConfigFile(await configFile({ cache: {}, routes }), { purgeToken: 'from-the-environment-0123' });
    expect(turnedOn.cache?.purge?.token).toBe('from-the-environment-0123');
  });
});

describe('purges with the memory store and GATEWAY_WORKERS=2', () => {
  let service: Awaited<ReturnType<typeof startTaggingService>>;
  let gateway: StandaloneGateway | undefined;

  beforeAll(async () => {
    service = await startTaggingService();
  });
  afterAll(async () => {
    if (gateway && gateway.child.exitCode === null && gateway.child.signalCode === null) gateway.child.kill('SIGTERM');
    await gateway?.exited;
    await service.close();
  });

  /** A GET on a connection of its own: the primary hands each new connection to the next worker. */
  const getAlone = (url: string) =>
    new Promise<string>((resolve, reject) => {
      httpGet(url, { agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(String(res.headers['x-cache'])));
      }).on('error', reject);
    });

  it('reaches every worker, by tag through a service answer and through the API', async () => {
    gateway = await startStandalone({ cache: { purge: { token: TOKEN } }, routes: [{ prefix: '/a', target: service.url }] }, { GATEWAY_WORKERS: '2' });
    await until(() => listeningWorkers(gateway!.output()).length >= 2, 'both workers to listen');
    // The kernel hands each new connection to a worker (SCHED_NONE): enough of them reach both.
    // A worker the purge missed keeps answering from its memory, and the count never gets there.
    const fillUntil = async (hits: number) => {
      for (let i = 0; i < 400 && service.hits('/users/5') < hits; i++) await getAlone(`${gateway!.url}/a/users/5`);
      expect(service.hits('/users/5')).toBe(hits);
    };
    // Each worker fills its own memory once; then both answer from it.
    await fillUntil(2);
    const answers = [];
    for (let i = 0; i < 20; i++) answers.push(await getAlone(`${gateway.url}/a/users/5`));
    expect(new Set(answers)).toEqual(new Set(['HIT']));
    expect(service.hits('/users/5')).toBe(2);

    await getAlone(`${gateway.url}/a/update/user:5`);
    await fillUntil(4);

    const purged = await request(gateway.url).post('/_gateway/cache/purge').set('authorization', `Bearer ${TOKEN}`).send({ tags: ['users'] }).expect(200);
    // What the answering worker's own memory held.
    expect(purged.body.purged).toBe(1);
    await fillUntil(6);
  });
});
