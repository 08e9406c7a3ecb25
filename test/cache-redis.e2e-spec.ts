import request from 'supertest';
import { gatewayModule, startGateway, type RunningGateway } from './support/gateway.js';
import { startCachedUpstream } from './support/cached-upstream.js';
import { startRedisServer, type RedisServer } from './support/redis-server.js';

type CachedUpstream = Awaited<ReturnType<typeof startCachedUpstream>>;

const waitFor = async (check: () => Promise<boolean>, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
};

describe('two gateway instances sharing Redis', () => {
  let redis: RedisServer;
  let upstream: CachedUpstream;
  let a: RunningGateway;
  let b: RunningGateway;

  beforeAll(async () => {
    redis = await startRedisServer();
    upstream = await startCachedUpstream();
    const options = { cache: { store: 'redis' as const, redisUrl: redis.url }, routes: [{ prefix: '/api', target: upstream.url }] };
    a = await startGateway(options);
    b = await startGateway(options, 'forRootAsync');
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    await upstream.close();
    await redis.stop();
  });

  it('fills through one, hits through the other, and expires for both', async () => {
    // Both reached under one public host, as behind a load balancer: the host is in the key.
    const get = (gateway: RunningGateway, path: string) => request(gateway.url).get(path).set('host', 'api.example');
    const filled = await get(a, '/api/numbers?shared=1').expect('x-cache', 'MISS');
    const hit = await get(b, '/api/numbers?shared=1').expect('x-cache', 'HIT');
    expect(hit.body).toEqual(filled.body);
    await get(b, '/api/numbers').expect('x-cache', 'MISS');
    await get(a, '/api/numbers').expect('x-cache', 'HIT');

    await request(b.url).patch('/api/numbers').set('host', 'api.example').expect(200);
    await get(a, '/api/numbers').expect('x-cache', 'MISS');
    await get(a, '/api/numbers?shared=1').expect('x-cache', 'HIT');
    expect(upstream.hits('/numbers')).toBe(4);
  });
});

describe('Redis outage', () => {
  it('serves every request while Redis is down and caches again once it is back', async () => {
    const redis = await startRedisServer();
    const upstream = await startCachedUpstream();
    const gateway = await startGateway({
      cache: { store: 'redis', redisUrl: redis.url },
      routes: [{ prefix: '/api', target: upstream.url }],
    });
    try {
      await request(gateway.url).get('/api/numbers').expect('x-cache', 'MISS');
      await request(gateway.url).get('/api/numbers').expect('x-cache', 'HIT');

      // Load runs through the outage: not one request may fail.
      let stop = false;
      const failures: number[] = [];
      const load = (async () => {
        let sent = 0;
        while (!stop) {
          const res = await request(gateway.url).get(`/api/numbers?n=${sent++ % 5}`);
          if (res.status !== 200) failures.push(res.status);
        }
        return sent;
      })();

      await redis.stop();
      await request(gateway.url).get('/api/numbers').expect(200).expect('x-cache', 'BYPASS');
      await new Promise((resolve) => setTimeout(resolve, 300));
      await redis.restart();
      await waitFor(async () => (await request(gateway.url).get('/api/users?after=restart')).headers['x-cache'] !== 'BYPASS');
      stop = true;
      const sent = await load;

      expect(sent).toBeGreaterThan(10);
      expect(failures).toEqual([]);
      await request(gateway.url).get('/api/users?after=restart').expect('x-cache', 'HIT');
    } finally {
      await gateway.close();
      await upstream.close();
      await redis.stop();
    }
  });

  it('starts while Redis is unreachable and proxies uncached', async () => {
    const redis = await startRedisServer();
    await redis.stop();
    const upstream = await startCachedUpstream();
    const gateway = await startGateway({
      cache: { store: 'redis', redisUrl: redis.url },
      routes: [{ prefix: '/api', target: upstream.url }],
    });
    try {
      await request(gateway.url).get('/api/numbers').expect(200).expect('x-cache', 'BYPASS');
      await request(gateway.url).get('/api/numbers').expect(200).expect('x-cache', 'BYPASS');
      expect(upstream.hits('/numbers')).toBe(2);
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });

  it('refuses a redis store without a URL, naming the field, before anything starts', () => {
    expect(() => gatewayModule({ cache: { store: 'redis' }, routes: [{ prefix: '/api', target: 'http://127.0.0.1:1' }] })).toThrow(
      /cache\.redisUrl: required by the redis store/,
    );
  });
});

describe('Redis failing under requests', () => {
  let redis: RedisServer;
  let upstream: CachedUpstream;
  let gateway: RunningGateway;
  beforeEach(async () => {
    redis = await startRedisServer();
    upstream = await startCachedUpstream();
    gateway = await startGateway({
      cache: { store: 'redis', redisUrl: redis.url, namespace: 'failing' },
      routes: [{ prefix: '/api', target: upstream.url }],
    });
  });
  afterEach(async () => {
    redis.thaw();
    await gateway.close();
    await upstream.close();
    await redis.stop();
  });

  it('proxies requests as misses while Redis hangs without answering', async () => {
    await request(gateway.url).get('/api/numbers?frozen=1').expect('x-cache', 'MISS');
    redis.freeze();
    const res = await request(gateway.url).get('/api/users?frozen=1').timeout(5000).expect(200);
    expect(res.headers['x-cache']).toBe('MISS');
    expect(upstream.hits('/users')).toBe(1);
  });

  it('treats an unreadable entry as a miss', async () => {
    const { createClient } = await import('@keyv/redis');
    const client = createClient({ url: redis.url });
    await client.connect();
    await client.set(`failing::GET ${new URL(gateway.url).host}/api/numbers`, '{ not json');
    await client.close();
    const res = await request(gateway.url).get('/api/numbers').expect(200);
    expect(res.headers['x-cache']).toBe('MISS');
  });

  it('answers a response whose entry cannot be stored because Redis died meanwhile', async () => {
    // supertest sends on then(): start the request now, while Redis is up.
    const pending = request(gateway.url)
      .get('/api/slow?dies=1')
      .then((res) => res);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await redis.stop();
    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.headers['x-cache']).toBe('MISS');
  });

  it('answers a response carrying x-cache-expire while Redis is down', async () => {
    await redis.stop();
    await request(gateway.url).patch('/api/numbers').expect(200);
  });
});
