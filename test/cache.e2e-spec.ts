import { type CanActivate, type ExecutionContext, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { Agent, createServer, get as httpGet } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import request from 'supertest';
import type { CacheOptions, ConnectMiddleware, GatewayOptions } from '../src/index.js';
import { gatewayModule, MOUNT_MODES, type MountMode, startApp, startGateway, type RunningGateway } from './support/gateway.js';
import { startCachedUpstream } from './support/cached-upstream.js';
import { rawGet, rawRequest } from './support/raw-http.js';
import { startRedisServer, type RedisServer } from './support/redis-server.js';
import { startUpstream } from './support/upstream.js';
import { until } from './support/wait.js';

setFlagsFromString('--expose-gc');

type CachedUpstream = Awaited<ReturnType<typeof startCachedUpstream>>;

/** Lets tests steer the cache as a real middleware would: by user and opt-out headers. */
const cacheSteering: ConnectMiddleware = (req, _res, next) => {
  const steered = req as typeof req & { cacheDisabled?: boolean; cacheAppendKey?: (r: typeof req) => string };
  if (req.headers['x-no-cache']) steered.cacheDisabled = true;
  if (req.headers['x-user']) steered.cacheAppendKey = (r) => `:user=${r.headers['x-user']}`;
  next();
};

/** A route middleware standing for authentication. */
const refuseWithoutPass: ConnectMiddleware = (req, res, next) => {
  if (req.headers['x-pass']) return next();
  res.statusCode = 401;
  res.end();
};

const scenarios: [string, MountMode][] = [
  ['memory', 'forRoot'],
  ['redis', 'forRoot'],
  ['redis', 'forRootAsync'],
];

describe.each(scenarios)('response cache (%s store, %s)', (store, mode) => {
  let redis: RedisServer | undefined;
  let upstream: CachedUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    if (store === 'redis') redis = await startRedisServer();
    upstream = await startCachedUpstream();
    const cache: CacheOptions =
      store === 'redis' ? { store: 'redis', redisUrl: redis!.url, namespace: `test-${mode}` } : { store: 'memory' };
    const options: GatewayOptions = {
      cache,
      middlewares: [cacheSteering],
      routes: [
        { prefix: '/api', target: upstream.url },
        {
          prefix: '/rewritten',
          target: upstream.url,
          hooks: { onResponse: (_req, reply, res) => reply.header('x-hooked', String(res.statusCode)).send(res) },
        },
        {
          prefix: '/hooked',
          target: upstream.url,
          hooks: { onRequest: (req, reply) => void (req.headers['x-allowed'] || reply.code(403).send({ refused: true })) },
        },
        { prefix: '/guarded', target: upstream.url, middlewares: [refuseWithoutPass] },
      ],
    };
    gateway = await startGateway(options, mode);
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
    await redis?.stop();
  });

  const get = (path: string) => request(gateway.url).get(path);

  it('stores what the service marks with x-cache-timeout and serves it as a hit', async () => {
    const miss = await get('/api/numbers?case=ttl').expect(200).expect('x-cache', 'MISS');
    const hit = await get('/api/numbers?case=ttl').expect(200).expect('x-cache', 'HIT').expect('x-cache-hit', '1');
    expect(hit.body).toEqual(miss.body);
    expect(hit.headers['content-type']).toBe('application/json');
    // The service's instruction to the gateway is not passed on, neither on the miss nor the hit.
    expect(miss.headers['x-cache-timeout']).toBeUndefined();
    expect(hit.headers['x-cache-timeout']).toBeUndefined();
    expect(Number(hit.headers.age)).toBeGreaterThanOrEqual(0);
    expect(upstream.hits('/numbers')).toBeGreaterThanOrEqual(1);
  });

  it('runs a route onRequest hook before every hit', async () => {
    await get('/hooked/numbers?case=hooked').set('x-allowed', '1').expect(200).expect('x-cache', 'MISS');
    await get('/hooked/numbers?case=hooked').set('x-allowed', '1').expect(200).expect('x-cache', 'HIT');
    const refused = await get('/hooked/numbers?case=hooked').expect(403);
    expect(refused.body).toEqual({ refused: true });
  });

  it('runs the middlewares before every hit, including hits served ahead of the handler', async () => {
    await get('/guarded/numbers?case=guarded').set('x-pass', '1').expect(200).expect('x-cache', 'MISS');
    await get('/guarded/numbers?case=guarded').set('x-pass', '1').expect(200).expect('x-cache', 'HIT');
    await get('/guarded/numbers?case=guarded').expect(401);
    await request(gateway.url).head('/guarded/numbers?case=guarded').expect(401);
  });

  it('keys on the full URL, query string included', async () => {
    const first = await get('/api/numbers?page=1').expect('x-cache', 'MISS');
    const other = await get('/api/numbers?page=2').expect('x-cache', 'MISS');
    expect(other.body.serial).not.toBe(first.body.serial);
    expect((await get('/api/numbers?page=1').expect('x-cache', 'HIT')).body).toEqual(first.body);
  });

  it('expires entries after their TTL', async () => {
    const first = await get('/api/short').expect('x-cache', 'MISS');
    await get('/api/short').expect('x-cache', 'HIT');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const fresh = await get('/api/short').expect('x-cache', 'MISS');
    expect(fresh.body.serial).not.toBe(first.body.serial);
  });

  it('reads a bare number as seconds', async () => {
    await get('/api/seconds').expect('x-cache', 'MISS');
    await get('/api/seconds').expect('x-cache', 'HIT');
  });

  it('expires every entry matching x-cache-expire before answering the request that carries it', async () => {
    await get('/api/numbers').expect('x-cache', 'MISS');
    await get('/api/numbers').expect('x-cache', 'HIT');
    await get('/api/numbers?x=1');
    await get('/api/users').expect('x-cache', 'MISS');
    await request(gateway.url).patch('/api/numbers').expect(200);
    await get('/api/numbers').expect('x-cache', 'MISS');
    // `*/numbers` does not reach past the path: the query-string variant and other paths stay.
    await get('/api/numbers?x=1').expect('x-cache', 'HIT');
    await get('/api/users').expect('x-cache', 'HIT');
    await get('/api/expire-all');
    await get('/api/numbers?x=1').expect('x-cache', 'MISS');
    await get('/api/users').expect('x-cache', 'MISS');
  });

  it('segments entries with cacheAppendKey', async () => {
    const ada = await get('/api/users?seg=1').set('x-user', 'ada').expect('x-cache', 'MISS');
    const linus = await get('/api/users?seg=1').set('x-user', 'linus').expect('x-cache', 'MISS');
    expect(linus.body.user).toBe('linus');
    expect((await get('/api/users?seg=1').set('x-user', 'ada').expect('x-cache', 'HIT')).body).toEqual(ada.body);
  });

  it('keeps answers to one Authorization for that credential alone', async () => {
    const before = upstream.hits('/numbers');
    const path = '/api/numbers?case=auth';
    await get(path).set('authorization', 'Bearer alice').expect('x-cache', 'MISS');
    await get(path).set('authorization', 'Bearer alice').expect('x-cache', 'HIT');
    await get(path).set('authorization', 'Bearer mallory').expect('x-cache', 'MISS');
    await get(path).expect('x-cache', 'MISS');
    await get(path).expect('x-cache', 'HIT');
    await get(path).set('authorization', 'Bearer mallory').expect('x-cache', 'HIT');
    expect(upstream.hits('/numbers')).toBe(before + 3);
  });

  it('skips the cache when a middleware sets cacheDisabled', async () => {
    await get('/api/numbers?case=disabled').expect('x-cache', 'MISS');
    const before = upstream.hits('/numbers');
    await get('/api/numbers?case=disabled').set('x-no-cache', '1').expect('x-cache', 'BYPASS');
    expect(upstream.hits('/numbers')).toBe(before + 1);
  });

  it.each(['/api/cookie', '/api/plain', '/api/bad-ttl', '/api/error'])('does not store %s', async (path) => {
    await get(path).expect('x-cache', 'MISS');
    const second = await get(path).expect('x-cache', 'MISS');
    expect(second.headers['x-cache-hit']).toBeUndefined();
  });

  it('never lets set-cookie out of the cache', async () => {
    const res = await get('/api/cookie');
    expect(res.headers['set-cookie']).toEqual(['session=abc', 'theme=dark']);
    expect((await get('/api/cookie')).headers['x-cache']).toBe('MISS');
  });

  it('round-trips binary bodies byte for byte', async () => {
    // superagent hands the raw response stream to a custom parser, though its type says otherwise.
    const parse: Parameters<ReturnType<typeof get>['parse']>[0] = (res, done) => {
      const stream = res as unknown as NodeJS.ReadableStream;
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => done(null, Buffer.concat(chunks)));
    };
    const miss = await get('/api/binary').buffer(true).parse(parse).expect('x-cache', 'MISS');
    const hit = await get('/api/binary').buffer(true).parse(parse).expect('x-cache', 'HIT');
    expect(Buffer.compare(hit.body as Buffer, miss.body as Buffer)).toBe(0);
    expect(hit.headers['content-length']).toBe('200000');
  });

  it('answers If-None-Match from the cache with 304, keeping the target ETag', async () => {
    await get('/api/etag').expect('x-cache', 'MISS');
    const hit = await get('/api/etag').expect('x-cache', 'HIT').expect('etag', '"target-etag"');
    expect(hit.text).toBe('tagged');
    await get('/api/etag').set('if-none-match', '"target-etag"').expect(304).expect('x-cache', 'HIT');
    const generated = (await get('/api/numbers?case=etag').then(() => get('/api/numbers?case=etag'))).headers.etag;
    expect(generated).toMatch(/^"[\w-]+"$/);
    await get('/api/numbers?case=etag').set('if-none-match', `W/${generated}`).expect(304);
  });

  it('answers HEAD from the GET entry', async () => {
    await get('/api/numbers?case=head').expect('x-cache', 'MISS');
    const head = await request(gateway.url).head('/api/numbers?case=head').expect(200).expect('x-cache', 'HIT');
    expect(head.text).toBeUndefined();
  });

  it('coalesces concurrent misses: 100 requests for a cold URL reach the target once', async () => {
    const responses = await Promise.all(Array.from({ length: 100 }, () => get('/api/slow?cold=1')));
    expect(responses.every((res) => res.status === 200)).toBe(true);
    expect(new Set(responses.map((res) => res.body.serial)).size).toBe(1);
    expect(upstream.hits('/slow')).toBe(1);
  });

  it('stops coalescing misses of a URL whose answer was not storable ("hit-for-pass")', async () => {
    await get('/api/slow-plain?case=pass').expect(200).expect('x-cache', 'MISS');
    // Coalesced, one would reach the service and four would wait for it.
    await Promise.all(Array.from({ length: 5 }, () => get('/api/slow-plain?case=pass').expect(200)));
    expect(upstream.slowPlainMaxInFlight()).toBe(5);
  });

  it('caches routes with an onResponse hook, whose hook sees the hits too', async () => {
    const miss = await get('/rewritten/numbers?case=hook').expect(200).expect('x-cache', 'MISS').expect('x-hooked', '200');
    const hit = await get('/rewritten/numbers?case=hook').expect(200).expect('x-cache', 'HIT').expect('x-hooked', '200');
    expect(hit.body).toEqual(miss.body);
  });
});

describe('respectCacheControl', () => {
  let upstream: CachedUpstream;
  let gateway: RunningGateway;
  beforeAll(async () => {
    upstream = await startCachedUpstream();
    gateway = await startGateway({ cache: { respectCacheControl: true }, routes: [{ prefix: '/api', target: upstream.url }] });
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('takes the TTL from max-age and keeps one variant per Vary value', async () => {
    const en = await request(gateway.url).get('/api/cache-control').set('accept-language', 'en').expect('x-cache', 'MISS');
    await request(gateway.url).get('/api/cache-control').set('accept-language', 'en').expect('x-cache', 'HIT');
    const fr = await request(gateway.url).get('/api/cache-control').set('accept-language', 'fr').expect('x-cache', 'MISS');
    expect(fr.text).toMatch(/^lang=fr/);
    expect(en.text).toMatch(/^lang=en/);
  });

  it('never stores private responses', async () => {
    await request(gateway.url).get('/api/private').expect('x-cache', 'MISS');
    await request(gateway.url).get('/api/private').expect('x-cache', 'MISS');
  });
});

describe.each(['global', 'route'] as const)('expireScope: %s', (expireScope) => {
  let upstream: CachedUpstream;
  let gateway: RunningGateway;
  beforeAll(async () => {
    upstream = await startCachedUpstream();
    gateway = await startGateway({
      cache: { expireScope },
      routes: [
        { prefix: '/trusted', target: upstream.url },
        { prefix: '/other', target: upstream.url },
      ],
    });
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it(expireScope === 'global' ? "lets one route's service expire every route's entries" : "confines a service's x-cache-expire to its own route's entries", async () => {
    for (const prefix of ['/trusted', '/other']) {
      await request(gateway.url).get(`${prefix}/numbers`).expect('x-cache', 'MISS');
      await request(gateway.url).get(`${prefix}/numbers`).expect('x-cache', 'HIT');
    }
    // The service answers a PATCH with `x-cache-expire: */numbers`.
    await request(gateway.url).patch('/other/numbers').expect(200);
    await request(gateway.url).get('/other/numbers').expect('x-cache', 'MISS');
    await request(gateway.url).get('/trusted/numbers').expect('x-cache', expireScope === 'global' ? 'MISS' : 'HIT');
  });
});

describe('maxEntryBytes', () => {
  it('passes larger responses through uncached', async () => {
    const upstream = await startCachedUpstream();
    const gateway = await startGateway({ cache: { maxEntryBytes: 1000 }, routes: [{ prefix: '/api', target: upstream.url }] });
    try {
      await request(gateway.url).get('/api/binary').expect(200).expect('x-cache', 'MISS');
      await request(gateway.url).get('/api/binary').expect('x-cache', 'MISS');
      await request(gateway.url).get('/api/numbers').expect('x-cache', 'MISS');
      await request(gateway.url).get('/api/numbers').expect('x-cache', 'HIT');
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });
});

/** A host application's global guard: the gateway's routes are its routes too. */
class TicketGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return context.switchToHttp().getRequest<FastifyRequest>().headers['x-ticket'] !== undefined;
  }
}

describe.each(MOUNT_MODES)('a host app global guard (%s)', (mode) => {
  it('refuses a request even when its answer is cached', async () => {
    const upstream = await startCachedUpstream();
    @Module({
      imports: [gatewayModule({ cache: { store: 'memory' }, routes: [{ prefix: '/api', target: upstream.url }] }, mode)],
      providers: [{ provide: APP_GUARD, useClass: TicketGuard }],
    })
    class GuardedHostModule {}
    const gateway = await startApp(GuardedHostModule);
    try {
      await request(gateway.url).get('/api/numbers').set('x-ticket', '1').expect(200).expect('x-cache', 'MISS');
      await request(gateway.url).get('/api/numbers').set('x-ticket', '1').expect(200).expect('x-cache', 'HIT');
      await request(gateway.url).get('/api/numbers').expect(403);
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });
});

// A client that reads slowly (or never) once led a fill that every other miss of its URL waited
// for, up to the route timeout.
describe('coalescing', () => {
  it("bounds the wait for another request's answer: past coalesceWait a miss goes to the service itself", async () => {
    const upstream = await startCachedUpstream();
    const gateway = await startGateway({ cache: { store: 'memory', coalesceWait: 20 }, routes: [{ prefix: '/api', target: upstream.url }] });
    try {
      // The service takes 150 ms: the second miss stops waiting for the first one after 20.
      const responses = await Promise.all([request(gateway.url).get('/api/slow?impatient=1'), request(gateway.url).get('/api/slow?impatient=1')]);
      expect(responses.map((res) => res.status)).toEqual([200, 200]);
      expect(upstream.hits('/slow')).toBe(2);
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });

  // 49 misses waiting for a leader whose target hung once got 504 after twice the timeout, and
  // then all reached the hung target at once.
  it("shares the leader's failure with the misses waiting for it: one timeout, one request to the service", async () => {
    const upstream = await startUpstream(() => undefined);
    const gateway = await startGateway({ cache: { store: 'memory', coalesceWait: 5_000 }, routes: [{ prefix: '/api', target: upstream.url, timeout: 1000 }] });
    try {
      const responses = await Promise.all(Array.from({ length: 20 }, () => request(gateway.url).get('/api/hung').timeout(5000)));
      expect(responses.map((res) => res.status)).toEqual(Array(20).fill(504));
      expect(responses[19].body).toMatchObject({ statusCode: 504, error: 'Gateway Timeout' });
      // One timeout, never two in a row: a miss that met the failure again would have reached the service.
      expect(upstream.seen).toHaveLength(1);
      // The next misses wait for a leader again, rather than all going to the service.
      await Promise.all(Array.from({ length: 5 }, () => request(gateway.url).get('/api/hung').timeout(5000).expect(504)));
      expect(upstream.seen).toHaveLength(2);
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });

  it('fills the cache at the speed of the service, not of the client that led the fill', async () => {
    // Larger than what loopback socket buffers absorb for a client that does not read.
    const body = Buffer.alloc(48 * 1024 * 1024, 'b');
    const upstream = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-cache-timeout': '1 minute' });
      res.end(body);
    });
    const gateway = await startGateway({
      cache: { store: 'memory', coalesceWait: 10_000, maxEntryBytes: 64 * 1024 * 1024, maxBytes: 128 * 1024 * 1024 },
      routes: [{ prefix: '/api', target: upstream.url }],
    });
    const { host, port } = new URL(gateway.url);
    const leader = connect(Number(port), '127.0.0.1');
    try {
      // The leader asks and never reads.
      leader.pause();
      leader.write(`GET /api/big HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      await until(() => upstream.seen.length === 1, 'the leading request to reach the service');
      // A fill paced by the leader would hold them past coalesceWait: each would then be a MISS
      // that reached the service itself.
      const others = await Promise.all(Array.from({ length: 3 }, () => request(gateway.url).get('/api/big').buffer(true).parse(binary)));
      expect(others.map((res) => [res.status, res.headers['x-cache'], (res.body as Buffer).length])).toEqual(Array(3).fill([200, 'HIT', body.length]));
      expect(upstream.seen).toHaveLength(1);
    } finally {
      leader.destroy();
      await gateway.close();
      await upstream.close();
    }
  }, 20_000);
});

// The URLs remembered as uncacheable ("hit-for-pass") were bounded by count alone: 10,000 URLs of
// 8 KB held ~160 MB beside maxBytes.
describe('the memory of uncacheable URLs', () => {
  it('is bounded by the size of its keys, not only by their count', async () => {
    const gc = runInNewContext('gc') as () => void;
    // Not the recording upstream: it would hold every URL itself.
    const upstream = createServer((_req, res) => res.end('not marked for the cache'));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const target = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const gateway = await startGateway({ cache: { store: 'memory' }, maxUrlLength: 16 * 1024, routes: [{ prefix: '/api', target }] });
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    const get = (path: string) =>
      new Promise<number>((resolve, reject) => {
        const req = httpGet(`${gateway.url}${path}`, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        });
        req.on('error', reject);
      });
    try {
      const long = (i: number) => `/api/item-${i}?${'q'.repeat(8 * 1024)}`;
      for (let i = 0; i < 100; i++) await get(long(-i));
      gc();
      const before = process.memoryUsage().heapUsed;
      for (let done = 0; done < 4000; done += 50) {
        const statuses = await Promise.all(Array.from({ length: 50 }, (_, j) => get(long(done + j))));
        expect(statuses.every((status) => status === 200)).toBe(true);
      }
      gc();
      // 4,000 keys of 8 KB are 32 MB; the memory holds at most 1 MiB of them.
      expect(process.memoryUsage().heapUsed - before).toBeLessThan(8 * 1024 * 1024);
    } finally {
      agent.destroy();
      await gateway.close();
      upstream.closeAllConnections();
      await new Promise((resolve) => upstream.close(resolve));
    }
  }, 60_000);
});

describe('a response that outgrows maxEntryBytes while it is stored', () => {
  it('reaches the client whole, the chunk held for the store included', async () => {
    const part = Buffer.alloc(400 * 1024, 'p');
    const upstream = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-cache-timeout': '1 minute' });
      // Three writes a moment apart: two fit in maxEntryBytes, the third does not.
      res.write(part);
      setTimeout(() => res.write(part), 20);
      setTimeout(() => res.end(part), 40);
    });
    const gateway = await startGateway({ cache: { store: 'memory', maxEntryBytes: 1024 * 1024 }, routes: [{ prefix: '/api', target: upstream.url }] });
    try {
      for (let i = 0; i < 2; i++) {
        const res = await request(gateway.url).get('/api/grows').buffer(true).parse(binary).expect(200);
        expect(res.headers['x-cache']).toBe('MISS');
        expect((res.body as Buffer).equals(Buffer.concat([part, part, part]))).toBe(true);
      }
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });
});

describe('a fill whose client leaves', () => {
  it('is completed for the misses waiting for it', async () => {
    const half = Buffer.alloc(1024 * 1024, 'h');
    const upstream = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-cache-timeout': '1 minute', 'content-length': 2 * half.length });
      res.write(half);
      setTimeout(() => res.end(half), 300);
    });
    const gateway = await startGateway({ cache: { store: 'memory', coalesceWait: 5_000, maxEntryBytes: 4 * 1024 * 1024 }, routes: [{ prefix: '/api', target: upstream.url }] });
    const { host, port } = new URL(gateway.url);
    try {
      const leader = connect(Number(port), '127.0.0.1');
      leader.write(`GET /api/half HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      // Gone once the first half arrived, while the second is still to come.
      await new Promise((resolve) => leader.once('data', resolve));
      leader.destroy();
      const others = await Promise.all(Array.from({ length: 3 }, () => request(gateway.url).get('/api/half').buffer(true).parse(binary)));
      expect(others.map((res) => [res.status, res.headers['x-cache'], (res.body as Buffer).length])).toEqual(Array(3).fill([200, 'HIT', 2 * half.length]));
      expect(upstream.seen).toHaveLength(1);
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });

  it('stops reading the service once the response outgrows maxEntryBytes', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'c');
    let written = 0;
    let closed = false;
    const upstream = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-cache-timeout': '1 minute' });
      res.on('close', () => (closed = true));
      const pump = () => {
        if (res.destroyed || written > 64 * 1024 * 1024) return res.end();
        written += chunk.length;
        if (res.write(chunk)) setImmediate(pump);
        else res.once('drain', pump);
      };
      // The first chunk, then the rest once the client is gone.
      res.write(chunk);
      setTimeout(pump, 300);
    });
    const gateway = await startGateway({ cache: { store: 'memory', maxEntryBytes: 1024 * 1024 }, routes: [{ prefix: '/api', target: upstream.url }] });
    const { host, port } = new URL(gateway.url);
    try {
      const leader = connect(Number(port), '127.0.0.1');
      leader.write(`GET /api/endless HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      await new Promise((resolve) => leader.once('data', resolve));
      leader.destroy();
      await until(() => closed, 'the service connection to be cut');
      expect(written).toBeLessThan(16 * 1024 * 1024);
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });
});

/** Reads a supertest body as bytes. */
const binary = ((res: NodeJS.ReadableStream, done: (error: Error | null, body: Buffer) => void): void => {
  const chunks: Buffer[] = [];
  res.on('data', (chunk: Buffer) => chunks.push(chunk));
  res.on('end', () => done(null, Buffer.concat(chunks)));
}) as unknown as (res: request.Response, callback: (error: Error | null, body: unknown) => void) => void;

describe('a request whose onRequest hook began the answer itself while it waited for a fill', () => {
  it('is cut rather than answered twice, and the fill serves the next request', async () => {
    const held: (() => void)[] = [];
    const upstream = await startUpstream((_req, res) => {
      held.push(() => res.writeHead(200, { 'content-type': 'text/plain', 'x-cache-timeout': '1 minute' }).end('stored'));
    });
    let hooked = 0;
    const gateway = await startGateway({
      cache: { store: 'memory', coalesceWait: 5_000 },
      routes: [
        {
          prefix: '/api',
          target: upstream.url,
          hooks: {
            // Writes the head on Node's response, and still lets the request on.
            onRequest: (req, reply) => {
              if (!req.headers['x-answer-itself']) return;
              hooked += 1;
              reply.raw.writeHead(200, { 'content-type': 'text/plain' });
            },
          },
        },
      ],
    });
    try {
      // One host for all three requests, as the host is in the key: rawGet's.
      const leader = request(gateway.url)
        .get('/api/held')
        .set('host', 'gateway.test')
        .then((res) => res);
      await until(() => held.length === 1, 'the leader to reach the service');
      const follower = rawRequest(Number(new URL(gateway.url).port), rawGet('/api/held', 'x-answer-itself: 1\r\n'), 5000);
      await until(() => hooked === 1, 'the follower to wait for the fill');
      held[0]();
      expect((await leader).text).toBe('stored');
      const cut = await follower;
      expect(cut.closedByServer).toBe(true);
      expect(cut.text).not.toContain('stored');
      await request(gateway.url).get('/api/held').set('host', 'gateway.test').expect(200).expect('x-cache', 'HIT').expect('stored');
      expect(held).toHaveLength(1);
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });
});
