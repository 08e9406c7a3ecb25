import request from 'supertest';
import { MOUNT_MODES, startGateway, type RunningGateway } from './support/gateway.js';
import { startRedisServer } from './support/redis-server.js';
import { startUpstream, type Upstream } from './support/upstream.js';

describe.each(MOUNT_MODES)('health endpoints (%s)', (mode) => {
  let upstream: Upstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    upstream = await startUpstream();
    // A catch-all route: the health paths must still never reach the service.
    gateway = await startGateway({ cache: { store: 'memory' }, routes: [{ prefix: '/', target: upstream.url }] }, mode);
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('answers liveness and readiness itself, never through a route', async () => {
    const live = await request(gateway.url).get('/health').expect(200);
    expect(live.body).toEqual({ status: 'ok', info: {}, error: {}, details: {} });
    const ready = await request(gateway.url).get('/ready').expect(200);
    expect(ready.body.status).toBe('ok');
    expect(ready.body.details).toEqual({ config: { status: 'up', routes: 1 }, cache: { status: 'up', store: 'memory', bypassed: false } });
    await request(gateway.url).get('/elsewhere').expect(200);
    expect(upstream.seen.map((seen) => seen.url)).toEqual(['/elsewhere']);
  });
});

describe('health endpoint options', () => {
  let upstream: Upstream;

  beforeAll(async () => {
    upstream = await startUpstream();
  });
  afterAll(() => upstream.close());

  it('serves the paths it is given and proxies the default ones', async () => {
    const gateway = await startGateway({
      health: { liveness: '/livez', readiness: '/readyz' },
      routes: [{ prefix: '/', target: upstream.url }],
    });
    try {
      await request(gateway.url).get('/livez').expect(200, { status: 'ok', info: {}, error: {}, details: {} });
      const ready = await request(gateway.url).get('/readyz').expect(200);
      expect(ready.body.details).toEqual({ config: { status: 'up', routes: 1 } });
      const proxied = await request(gateway.url).get('/health').expect(200);
      expect(proxied.body.url).toBe('/health');
    } finally {
      await gateway.close();
    }
  });

  it('lists the routes at /services.json when asked, and not by default', async () => {
    const routes = [
      { prefix: '/users', target: upstream.url, methods: ['GET' as const] },
      { prefix: '/admin', target: `http://127.0.0.1:${upstream.port}/base` },
    ];
    const listed = await startGateway({ routeListing: {}, routes });
    const unlisted = await startGateway({ routes });
    try {
      const res = await request(listed.url).get('/services.json').expect(200);
      expect(res.body).toEqual([
        { prefix: '/users', methods: ['GET', 'HEAD'], target: `${upstream.url}/` },
        { prefix: '/admin', methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'], target: `${upstream.url}/base` },
      ]);
      await request(unlisted.url).get('/services.json').expect(404);
    } finally {
      await listed.close();
      await unlisted.close();
    }
  });

  it('serves none with health: false', async () => {
    const gateway = await startGateway({ health: false, routes: [{ prefix: '/', target: upstream.url }] });
    try {
      expect((await request(gateway.url).get('/ready').expect(200)).body.url).toBe('/ready');
    } finally {
      await gateway.close();
    }
  });

  // Readiness once failed with Redis although the cache fails open: behind a readiness probe,
  // every replica left the load balancer at once.
  it('stays ready while Redis is down (the cache is bypassed, and says so), liveness too', async () => {
    const redis = await startRedisServer();
    const gateway = await startGateway({
      cache: { store: 'redis', redisUrl: redis.url },
      routes: [{ prefix: '/api', target: upstream.url }],
    });
    try {
      const up = await request(gateway.url).get('/ready').expect(200);
      expect(up.body.info.cache).toEqual({ status: 'up', store: 'redis', bypassed: false });
      await redis.stop();
      const down = await request(gateway.url).get('/ready').expect(200);
      expect(down.body.info.cache).toEqual({ status: 'up', store: 'redis', bypassed: true });
      await request(gateway.url).get('/health').expect(200);
    } finally {
      await gateway.close();
      await redis.stop();
    }
  });

  it('turns readiness 503 while Redis is down when health.requireCache is set, and back once it returns', async () => {
    const redis = await startRedisServer();
    const gateway = await startGateway({
      cache: { store: 'redis', redisUrl: redis.url },
      health: { requireCache: true },
      routes: [{ prefix: '/api', target: upstream.url }],
    });
    try {
      await request(gateway.url).get('/ready').expect(200);
      await redis.stop();
      const down = await request(gateway.url).get('/ready').expect(503);
      expect(down.body.status).toBe('error');
      expect(down.body.error).toEqual({ cache: { status: 'down', store: 'redis', bypassed: true } });
      await request(gateway.url).get('/health').expect(200);

      await redis.restart();
      const deadline = Date.now() + 10_000;
      while ((await request(gateway.url).get('/ready')).status !== 200) {
        if (Date.now() > deadline) throw new Error('readiness did not come back after Redis restarted');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      await gateway.close();
      await redis.stop();
    }
  });
});
