import { createClient } from '@redis/client';
import request from 'supertest';
import type { GatewayOptions } from '../src/index.js';
import { type RunningGateway, startGateway } from './support/gateway.js';
import { sample } from './support/prometheus.js';
import { type RedisServer, startRedisServer } from './support/redis-server.js';
import { startStandalone, type StandaloneGateway } from './support/standalone.js';
import { listeningWorkers } from './support/supervised.js';
import { deadPort, startUpstream, type Upstream } from './support/upstream.js';
import { until } from './support/wait.js';

const LIMIT = 10;

/** Statuses of requests sent at once, spread over the gateways in turn. */
async function spread(urls: string[], count: number, path: string): Promise<number[]> {
  const sent = Array.from({ length: count }, (_, index) => request(urls[index % urls.length]).get(path));
  return (await Promise.all(sent)).map((res) => res.status);
}
const passed = (statuses: number[]) => statuses.filter((status) => status === 200).length;

describe('rate limits counted in Redis', () => {
  let redis: RedisServer;
  let upstream: Upstream;
  const gateways: RunningGateway[] = [];

  const options = (store: 'redis' | 'memory', onRedisDown?: 'local' | 'open' | 'closed'): GatewayOptions => ({
    routes: [{ prefix: '/api', target: upstream.url, rateLimit: { limit: LIMIT, window: '1m', store, redisUrl: redis.url, onRedisDown } }],
  });
  const start = async (opts: GatewayOptions) => {
    const gateway = await startGateway(opts);
    gateways.push(gateway);
    return gateway;
  };

  beforeAll(async () => {
    redis = await startRedisServer();
    upstream = await startUpstream();
  });
  afterEach(async () => {
    for (const gateway of gateways.splice(0)) await gateway.close();
  });
  afterAll(async () => {
    await upstream.close();
    await redis.stop();
  });

  it('lets exactly `limit` of 3 × limit concurrent requests through two gateway processes sharing one Redis', async () => {
    await redis.restart();
    const processes = [await startStandalone(options('redis')), await startStandalone(options('redis'))];
    try {
      const before = upstream.seen.length;
      const statuses = await spread(processes.map((gateway) => gateway.url), 3 * LIMIT, '/api/x');
      expect(passed(statuses)).toBe(LIMIT);
      expect(statuses.filter((status) => status === 429)).toHaveLength(2 * LIMIT);
      expect(upstream.seen.length - before).toBe(LIMIT);
    } finally {
      for (const gateway of processes) gateway.child.kill('SIGTERM');
      await Promise.all(processes.map((gateway) => gateway.exited));
    }
  });

  it('(counted in each process’s memory instead, the same two gateways let twice as many through)', async () => {
    const [a, b] = [await start(options('memory')), await start(options('memory'))];
    expect(passed(await spread([a.url, b.url], 3 * LIMIT, '/api/x'))).toBe(2 * LIMIT);
  });

  it('with Redis stopped mid-load, answers every request, counts in memory, warns and says so in a metric', async () => {
    await redis.restart();
    const gateway = await start(options('redis'));
    expect(passed(await spread([gateway.url], 3, '/api/x'))).toBe(3);
    await redis.stop();
    // Nothing fails: the first requests meet the closed connection, the rest count without it.
    const statuses = await spread([gateway.url], 3 * LIMIT, '/api/x');
    expect(statuses.filter((status) => status !== 200 && status !== 429)).toEqual([]);
    expect(passed(statuses)).toBe(LIMIT);
    const metrics = await request(gateway.url).get('/metrics');
    expect(sample(metrics.text, 'nest_gateway_rate_limit_store_up', { route: '/api' })).toBe(0);
    await redis.restart();
    // Redis back (empty): counting there again, from a full burst.
    await until(async () => {
      await request(gateway.url).get('/api/x');
      return sample((await request(gateway.url).get('/metrics')).text, 'nest_gateway_rate_limit_store_up', { route: '/api' }) === 1;
    }, 'Redis to be used again');
  });

  it('counts in Redis as in memory: the same fields, the same Retry-After', async () => {
    await redis.restart();
    const inRedis = await start(options('redis'));
    const inMemory = await start(options('memory'));
    const fields = async (url: string) => {
      const answers = [];
      for (let i = 0; i <= LIMIT; i += 1) {
        const res = await request(url).get('/api/x');
        answers.push([res.status, res.headers.ratelimit, res.headers['ratelimit-remaining'], res.headers['ratelimit-reset'], res.headers['retry-after']]);
      }
      return answers;
    };
    const counted = await fields(inRedis.url);
    expect(counted).toEqual(await fields(inMemory.url));
    expect(counted.at(-1)).toEqual([429, '"default";r=0;t=60', '0', '60', '6']);
  });

  it('counts every limit of a route in one round trip, and none when one of them refuses', async () => {
    await redis.restart();
    const gateway = await start({
      routes: [
        {
          prefix: '/api',
          target: upstream.url,
          rateLimit: [
            { limit: LIMIT, window: '1m', store: 'redis', redisUrl: redis.url },
            { limit: 2, window: '1m', by: 'header:x-user', name: 'per-user', store: 'redis', redisUrl: redis.url },
          ],
        },
      ],
    });
    const scripts = async () => {
      const client = createClient({ url: redis.url });
      await client.connect();
      const stats = await client.info('commandstats');
      await client.close();
      return Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? 0) + Number(/cmdstat_eval:calls=(\d+)/.exec(stats)?.[1] ?? 0);
    };
    // The first request of a fresh Redis sends the script itself (NOSCRIPT, then EVAL).
    await request(gateway.url).get('/api/x').set('x-user', 'u0').expect(200);
    const before = await scripts();
    await request(gateway.url).get('/api/x').set('x-user', 'u1').expect(200);
    await request(gateway.url).get('/api/x').set('x-user', 'u1').expect(200);
    await request(gateway.url).get('/api/x').set('x-user', 'u1').expect(429);
    const last = await request(gateway.url).get('/api/x').set('x-user', 'u2').expect(200);
    expect(await scripts()).toBe(before + 4);
    expect(last.headers.ratelimit).toMatch(new RegExp(`^"ip";r=${LIMIT - 4};t=\\d+, "per-user";r=1;t=\\d+$`));
  });

  it('says at once when Redis is out of reach from the start, and counts meanwhile as onRedisDown says', async () => {
    const gateway = await start({ routes: [{ prefix: '/api', target: upstream.url, rateLimit: { limit: 2, window: '1m', store: 'redis', redisUrl: `redis://127.0.0.1:${await deadPort()}` } }] });
    const metrics = await request(gateway.url).get('/metrics');
    expect(sample(metrics.text, 'nest_gateway_rate_limit_store_up', { route: '/api' })).toBe(0);
    expect(passed(await spread([gateway.url], 4, '/api/x'))).toBe(2);
  });

  it('answers requests while Redis hangs (frozen), the call to it bounded', async () => {
    await redis.restart();
    const gateway = await start(options('redis'));
    await request(gateway.url).get('/api/x').expect(200);
    redis.freeze();
    try {
      const statuses = await spread([gateway.url], 5, '/api/x');
      expect(statuses).toEqual([200, 200, 200, 200, 200]);
      // Counted in memory meanwhile: the limit holds.
      expect(passed(await spread([gateway.url], 2 * LIMIT, '/api/x'))).toBe(LIMIT - 5);
      const metrics = await request(gateway.url).get('/metrics');
      expect(sample(metrics.text, 'nest_gateway_rate_limit_store_up', { route: '/api' })).toBe(0);
    } finally {
      redis.thaw();
    }
  });

  it('with onRedisDown: closed answers 503 with Retry-After while Redis is down; with open, lets requests through unlimited', async () => {
    await redis.restart();
    const closed = await start(options('redis', 'closed'));
    const open = await start(options('redis', 'open'));
    await redis.stop();
    const refused = await request(closed.url).get('/api/x').expect(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.body.message).toBe('Rate limit store unavailable');
    const statuses = await spread([open.url], 2 * LIMIT, '/api/x');
    expect(passed(statuses)).toBe(2 * LIMIT);
  });
});

describe('rate limits counted in Redis by the workers of one gateway', () => {
  let redis: RedisServer;
  let upstream: Upstream;
  let gateway: StandaloneGateway | undefined;

  beforeAll(async () => {
    redis = await startRedisServer();
    upstream = await startUpstream();
  });
  afterAll(async () => {
    if (gateway && gateway.child.exitCode === null && gateway.child.signalCode === null) gateway.child.kill('SIGTERM');
    await gateway?.exited;
    await upstream.close();
    await redis.stop();
  });

  it('lets exactly `limit` of 3 × limit concurrent requests through GATEWAY_WORKERS=2, the store’s URL from REDIS_URL', async () => {
    const config = { routes: [{ prefix: '/api', target: upstream.url, rateLimit: { limit: LIMIT, window: '1m', store: 'redis', redisUrl: 'redis://127.0.0.1:1' } }] };
    gateway = await startStandalone(config, { GATEWAY_WORKERS: '2', REDIS_URL: redis.url });
    await until(() => listeningWorkers(gateway!.output()).length >= 2, 'both workers to listen');
    const statuses = await spread([gateway.url], 3 * LIMIT, '/api/x');
    expect(passed(statuses)).toBe(LIMIT);
    expect(upstream.seen).toHaveLength(LIMIT);
  });

  it('warns, naming the store and the route, when Redis goes away', async () => {
    await redis.restart();
    const single = await startStandalone({ routes: [{ prefix: '/api', target: upstream.url, rateLimit: { limit: LIMIT, window: '1m', store: 'redis', redisUrl: redis.url } }] });
    try {
      await request(single.url).get('/api/x').expect(200);
      await redis.stop();
      const statuses = await spread([single.url], 6, '/api/x');
      expect(statuses.filter((status) => status !== 200 && status !== 429)).toEqual([]);
      await until(() => single.output().includes(`Rate limit store ${redis.url} failed`), 'the warning');
      // A JSON log line: the limit's quoted name comes escaped.
      expect(single.output()).toMatch(/Rate limit store redis:\/\/127\.0\.0\.1:\d+ failed \([^)]*\): counting \\+"default\\+" in process memory meanwhile \(route \/api\)/);
    } finally {
      single.child.kill('SIGTERM');
      await single.exited;
    }
  });
});
