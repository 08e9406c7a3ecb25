import request from 'supertest';
import { CACHE_SKIP_AFTER_TIMEOUTS } from '../src/gateway.constants.js';
import { createCacheEntry } from '../src/cache/cache-entry.js';
import { encodeEntry } from '../src/cache/stores/entry-codec.js';
import type { CacheOptions } from '../src/index.js';
import { gatewayModule, startGateway, type RunningGateway } from './support/gateway.js';
import { startCachedUpstream } from './support/cached-upstream.js';
import { startRedisServer, type RedisServer } from './support/redis-server.js';
import { startUpstream, type Upstream } from './support/upstream.js';
import { until } from './support/wait.js';

type CachedUpstream = Awaited<ReturnType<typeof startCachedUpstream>>;

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

describe('entries in Redis', () => {
  let redis: RedisServer;
  let upstream: CachedUpstream;
  let gateway: RunningGateway;
  let client: Awaited<ReturnType<typeof import('@redis/client').createClient>>;

  beforeAll(async () => {
    redis = await startRedisServer();
    upstream = await startCachedUpstream();
    gateway = await startGateway({
      cache: { store: 'redis', redisUrl: redis.url, namespace: 'entries', respectCacheControl: true },
      routes: [{ prefix: '/api', target: upstream.url }],
    });
    const { createClient } = await import('@redis/client');
    client = createClient({ url: redis.url });
    await client.connect();
  });
  afterAll(async () => {
    await client.close();
    await gateway.close();
    await upstream.close();
    await redis.stop();
  });

  it('stores each entry as one string that Redis expires with it', async () => {
    await request(gateway.url).get('/api/numbers?one=1').set('host', 'h').expect('x-cache', 'MISS');
    const ttl = await client.pTTL('entries::GET http://h/api/numbers?one=1');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('answers from the service when Redis refuses a read, and stores the answer over what it refused', async () => {
    // A key of another type: Redis answers GET with a WRONGTYPE error.
    await client.lPush('entries::GET http://h/api/numbers?wrong=type', 'not an entry');
    await request(gateway.url).get('/api/numbers?wrong=type').set('host', 'h').expect(200).expect('x-cache', 'MISS');
    await request(gateway.url).get('/api/numbers?wrong=type').set('host', 'h').expect(200).expect('x-cache', 'HIT');
  });

  it('takes an entry whose head Node would refuse (a line break in a header) as a miss, and replaces it', async () => {
    // Written into the shared Redis by something else, or damaged there.
    const poisoned = createCacheEntry(200, { 'x-note': 'a\r\nset-cookie: session=stolen' }, Buffer.from('poisoned'), { ttl: 60_000, staleWhileRevalidate: 0, staleIfError: 0 });
    await client.set('entries::GET http://h/api/numbers?poisoned=1', encodeEntry(poisoned), { PX: 60_000 });
    const missed = await request(gateway.url).get('/api/numbers?poisoned=1').set('host', 'h').expect(200).expect('x-cache', 'MISS');
    expect(missed.text).not.toBe('poisoned');
    expect(missed.headers['set-cookie']).toBeUndefined();
    const hit = await request(gateway.url).get('/api/numbers?poisoned=1').set('host', 'h').expect(200).expect('x-cache', 'HIT');
    expect(hit.text).toBe(missed.text);
  });

  // Stored as JSON, an entry that varied on a header its request lacked lost that header, and
  // then answered requests carrying any value of it.
  it('keeps the variant of requests without the varied-on header for those requests', async () => {
    const without = await request(gateway.url).get('/api/cache-control').expect('x-cache', 'MISS');
    await request(gateway.url).get('/api/cache-control').expect('x-cache', 'HIT');
    const fr = await request(gateway.url).get('/api/cache-control').set('accept-language', 'fr').expect('x-cache', 'MISS');
    expect(fr.text).toMatch(/^lang=fr;/);
    expect(without.text).toMatch(/^lang=undefined;/);
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
      let bypassed = 0;
      let answered = 0;
      const failures: number[] = [];
      const load = (async () => {
        while (!stop) {
          const res = await request(gateway.url).get(`/api/numbers?n=${answered % 5}`);
          answered += 1;
          if (res.status !== 200) failures.push(res.status);
          else if (res.headers['x-cache'] === 'BYPASS') bypassed += 1;
        }
      })();

      await redis.stop();
      await request(gateway.url).get('/api/numbers').expect(200).expect('x-cache', 'BYPASS');
      await until(() => bypassed >= 5, 'the load to be served through the outage');
      await redis.restart();
      await until(async () => (await request(gateway.url).get('/api/users?after=restart')).headers['x-cache'] !== 'BYPASS', 'the cache to be used again');
      // The load goes on across the return, as it went on across the loss.
      const atReturn = answered;
      await until(() => answered >= atReturn + 5, 'the load to go on once Redis is back');
      stop = true;
      await load;

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

  // Every request on every cached route once waited the read deadline while Redis was frozen,
  // and the end of a response the write deadline on top.
  it('skips a frozen Redis after a few timeouts, and uses it again once it answers', async () => {
    await request(gateway.url).get('/api/numbers?breaker=1').expect('x-cache', 'MISS');
    redis.freeze();
    const results: string[] = [];
    for (let i = 0; i < 20; i++) {
      const path = i % 2 ? `/api/plain?breaker=${i}` : `/api/numbers?breaker=${i}`;
      results.push((await request(gateway.url).get(path).expect(200)).headers['x-cache']);
    }
    // A request that waited for the frozen Redis, its read past the deadline, is a miss; one that
    // skipped it is a bypass. Only the first few wait, then none.
    const waited = results.filter((result) => result === 'MISS').length;
    expect(waited).toBeLessThanOrEqual(CACHE_SKIP_AFTER_TIMEOUTS);
    expect(results.slice(waited)).toEqual(Array(results.length - waited).fill('BYPASS'));
    const skipped = await request(gateway.url).get('/api/numbers?breaker=1').expect(200);
    expect(skipped.headers['x-cache']).toBe('BYPASS');
    const metrics = await request(gateway.url).get('/metrics').expect(200);
    expect(metrics.text).toMatch(/^nest_gateway_cache_store_up 0$/m);

    redis.thaw();
    await until(async () => (await request(gateway.url).get('/api/numbers?breaker=1')).headers['x-cache'] === 'HIT', 'the cache to be used again');
    expect((await request(gateway.url).get('/metrics')).text).toMatch(/^nest_gateway_cache_store_up 1$/m);
  }, 20_000);

  it('treats a read Redis refuses as a miss, and proxies the request', async () => {
    const { createClient } = await import('@redis/client');
    const client = createClient({ url: redis.url });
    await client.connect();
    // A key of the wrong type: GET answers WRONGTYPE, an error from a Redis that is up.
    await client.lPush(`failing::GET ${new URL(gateway.url).host}/api/numbers?refused=1`, 'not an entry');
    await client.close();
    const res = await request(gateway.url).get('/api/numbers?refused=1').expect(200);
    expect(res.headers['x-cache']).toBe('MISS');
    expect(upstream.hits('/numbers')).toBe(1);
  });

  it('keeps skipping a store whose PING fails, and uses it again once one succeeds', async () => {
    const { createClient } = await import('@redis/client');
    const client = createClient({ url: redis.url });
    await client.connect();
    try {
      // Redis answers everything but the probe: PING is refused with NOPERM.
      await client.sendCommand(['ACL', 'SETUSER', 'default', '-ping']);
      await client.sendCommand(['ACL', 'LOG', 'RESET']);
      redis.freeze();
      for (let i = 0; i < 20; i++) await request(gateway.url).get(`/api/numbers?probe=${i}`).timeout(3000).expect(200);
      redis.thaw();
      const refusedPings = async () => ((await client.sendCommand(['ACL', 'LOG'])) as unknown[]).length;
      await until(async () => (await refusedPings()) > 0, 'a refused PING');
      await request(gateway.url).get('/api/numbers?probe=0').expect('x-cache', 'BYPASS');

      await client.sendCommand(['ACL', 'SETUSER', 'default', '+ping']);
      await until(async () => (await request(gateway.url).get('/api/numbers?probe=0')).headers['x-cache'] !== 'BYPASS', 'the cache to be used again');
    } finally {
      await client.close();
    }
  }, 20_000);

  it('treats an unreadable entry as a miss', async () => {
    const { createClient } = await import('@redis/client');
    const client = createClient({ url: redis.url });
    await client.connect();
    await client.set(`failing::GET ${new URL(gateway.url).host}/api/numbers`, '{ not json');
    await client.close();
    const res = await request(gateway.url).get('/api/numbers').expect(200);
    expect(res.headers['x-cache']).toBe('MISS');
  });

  it('answers a response whose entry cannot be stored because Redis died meanwhile', async () => {
    // A service that answers only once Redis is gone: the entry's write always meets a dead store.
    let redisGone!: () => void;
    const gone = new Promise<void>((resolve) => (redisGone = resolve));
    const held = await startUpstream((_req, res) => void gone.then(() => res.writeHead(200, { 'x-cache-timeout': '1 minute' }).end('late')));
    const heldGateway = await startGateway({ cache: { store: 'redis', redisUrl: redis.url, namespace: 'failing' }, routes: [{ prefix: '/api', target: held.url }] });
    try {
      // supertest sends on then(): start the request now, while Redis is up.
      const pending = request(heldGateway.url)
        .get('/api/slow?dies=1')
        .then((res) => res);
      // Its read of the store done, the request reaches the service.
      await until(() => held.seen.length === 1, 'the request to reach the service');
      await redis.stop();
      redisGone();
      const res = await pending;
      expect(res.status).toBe(200);
      expect(res.headers['x-cache']).toBe('MISS');
    } finally {
      await heldGateway.close();
      await held.close();
    }
  });

  it('answers a response carrying x-cache-expire while Redis is down', async () => {
    await redis.stop();
    await request(gateway.url).patch('/api/numbers').expect(200);
  });
});

// The index (a sorted set of every stored key) once had no TTL and no cap, was trimmed only on
// expiry, and expiry read all of it.
describe('the Redis index', () => {
  let redis: RedisServer;
  let upstream: Upstream;
  let client: Awaited<ReturnType<typeof connectRedis>>;

  const connectRedis = async (url: string) => {
    const { createClient } = await import('@redis/client');
    const connected = createClient({ url });
    await connected.connect();
    return connected;
  };
  const bytesSentByRedis = async () => Number(/total_net_output_bytes:(\d+)/.exec(await client.info('stats'))![1]);

  beforeAll(async () => {
    redis = await startRedisServer();
    client = await connectRedis(redis.url);
    upstream = await startUpstream((req, res) => {
      const url = new URL(req.url!, 'http://service');
      if (req.method === 'PATCH') res.setHeader('x-cache-expire', url.searchParams.get('expire')!);
      else res.setHeader('x-cache-timeout', url.searchParams.get('ttl') ?? '10 minutes');
      res.end('ok');
    });
  });
  afterAll(async () => {
    await client.close();
    await upstream.close();
    await redis.stop();
  });

  const withGateway = async (cache: Partial<CacheOptions>, run: (gateway: RunningGateway) => Promise<void>) => {
    const gateway = await startGateway({ cache: { store: 'redis', redisUrl: redis.url, ...cache }, routes: [{ prefix: '/api', target: upstream.url }] });
    try {
      await run(gateway);
    } finally {
      await gateway.close();
    }
  };

  it('expires by pattern at 100k entries without reading the whole index', async () => {
    const namespace = 'big';
    const host = 'api.example';
    const key = (i: number) => `GET ${host}/api/items/${i}?view=${'v'.repeat(64)}`;
    for (let start = 0; start < 100_000; start += 10_000) {
      const members = Array.from({ length: 10_000 }, (_, j) => ({ score: Date.now() + 600_000, value: key(start + j) }));
      await client.zAdd(`${namespace}:index`, members);
    }
    // The entries the pattern names: item 4242 and 42420 to 42429.
    const named = [4242, ...Array.from({ length: 10 }, (_, j) => 42420 + j)];
    for (const i of named) await client.set(`${namespace}::${key(i)}`, 'entry');
    await client.set(`${namespace}::${key(7)}`, 'entry');

    await withGateway({ namespace }, async (gateway) => {
      const before = await bytesSentByRedis();
      await request(gateway.url).patch(`/api/items?expire=${encodeURIComponent('*/api/items/4242*')}`).set('host', host).expect(200);
      // On a loaded machine the scan may outlast the 500 ms a response is held for it.
      await until(async () => (await client.zCard(`${namespace}:index`)) === 100_000 - named.length, 'the named entries to leave the index');
      // The index is ~9 MB: reading it whole, as expiry once did, sends all of it.
      expect((await bytesSentByRedis()) - before).toBeLessThan(512 * 1024);
    });
    expect(await client.exists(named.map((i) => `${namespace}::${key(i)}`))).toBe(0);
    expect(await client.exists(`${namespace}::${key(7)}`)).toBe(1);
  }, 30_000);

  it('matches patterns as matcher does, with glob characters taken literally and negations honoured', async () => {
    await withGateway({ namespace: 'literal' }, async (gateway) => {
      for (const path of ['/api/a[1]', '/api/a1', '/api/b?x=1', '/api/bx=1', '/api/keep/c']) await request(gateway.url).get(path).set('host', 'h').expect(200);
      const expire = (pattern: string) => request(gateway.url).patch(`/api/x?expire=${encodeURIComponent(pattern)}`).set('host', 'h').expect(200);
      await expire('*/api/a[1]');
      await expire('*/api/b?x=1');
      await expire('*/api/*, !*/keep/*');
    });
    const left = await client.zRange('literal:index', 0, -1);
    expect(left).toEqual(['GET http://h/api/keep/c']);
  });

  it('caps the index at maxEntries, deleting the entries that would expire first', async () => {
    await withGateway({ namespace: 'capped', maxEntries: 20 }, async (gateway) => {
      for (let i = 0; i < 30; i++) await request(gateway.url).get(`/api/n?i=${i}&ttl=${10 + i}m`).set('host', 'h').expect(200);
      expect(await client.zCard('capped:index')).toBe(20);
      const stored = await client.keys('capped::*');
      expect(stored).toHaveLength(20);
      await request(gateway.url).get('/api/n?i=0&ttl=10m').set('host', 'h').expect('x-cache', 'MISS');
      await request(gateway.url).get('/api/n?i=29&ttl=39m').set('host', 'h').expect('x-cache', 'HIT');
    });
  });

  it('drops expired members as it goes, and lives as long as its longest entry', async () => {
    await withGateway({ namespace: 'trimmed' }, async (gateway) => {
      for (let i = 0; i < 5; i++) await request(gateway.url).get(`/api/short?i=${i}&ttl=0.3s`).set('host', 'h').expect(200);
      const ttl = await client.pTTL('trimmed:index');
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(300);
      // A sleep, as time passing is what is tested: the short entries' 300 ms TTL runs out.
      await new Promise((resolve) => setTimeout(resolve, 400));
      await request(gateway.url).get('/api/long?ttl=1h').set('host', 'h').expect(200);
      expect(await client.zRange('trimmed:index', 0, -1)).toEqual(['GET http://h/api/long?ttl=1h']);
      expect(await client.pTTL('trimmed:index')).toBeGreaterThan(3_500_000);
      // A shorter entry written after it never shortens the index's life.
      await request(gateway.url).get('/api/short?i=9&ttl=0.3s').set('host', 'h').expect(200);
      expect(await client.pTTL('trimmed:index')).toBeGreaterThan(3_500_000);
    });
  });
});
