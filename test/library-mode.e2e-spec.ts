import { Controller, Get, Logger, Module } from '@nestjs/common';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import request from 'supertest';
import { appendCacheKey, type ConnectMiddleware, disableCache, GatewayModule, GatewayNestLogger, type GatewayOptions } from '../src/index.js';
import { startApp } from './support/gateway.js';
import { startCachedUpstream } from './support/cached-upstream.js';
import { startStandalone } from './support/standalone.js';
import { startUpstream, type Upstream } from './support/upstream.js';
import { until } from './support/wait.js';

@Controller('health')
class HostHealthController {
  @Get()
  health() {
    return { host: true };
  }
}

@Controller('hello')
class HelloController {
  private readonly logger = new Logger('Hello');

  @Get()
  hello() {
    this.logger.log('said hello');
    return 'hello';
  }
}

/** A host app with its own controllers, importing the gateway with `options`. */
async function hostApp(options: GatewayOptions, controllers: (new () => unknown)[] = []) {
  @Module({ imports: [GatewayModule.forRoot(options)], controllers })
  class HostModule {}
  return startApp(HostModule);
}

// The bug: `forRoot` added /health, /ready and /metrics to every host app, shadowing its own.
describe('the gateway in a host app', () => {
  let upstream: Upstream;
  const silent = pino({ level: 'silent' });

  beforeAll(async () => {
    upstream = await startUpstream();
  });
  afterAll(() => upstream.close());

  it('adds no health or metrics endpoint unasked: the host keeps its own', async () => {
    const host = await hostApp({ logger: silent, routes: [{ prefix: '/api', target: upstream.url }] }, [HostHealthController]);
    try {
      await request(host.url).get('/health').expect(200, { host: true });
      await request(host.url).get('/ready').expect(404);
      await request(host.url).get('/metrics').expect(404);
      await request(host.url).get('/api/x').expect(200);
    } finally {
      await host.close();
    }
  });

  it('adds each endpoint asked for', async () => {
    const host = await hostApp({ logger: silent, health: { liveness: false }, metrics: {}, routes: [{ prefix: '/api', target: upstream.url }] }, [HostHealthController]);
    try {
      await request(host.url).get('/health').expect(200, { host: true });
      await request(host.url).get('/ready').expect(200);
      expect((await request(host.url).get('/metrics').expect(200)).text).toContain('nest_gateway_requests_total');
    } finally {
      await host.close();
    }
  });

  it("offers the gateway's logger as the app's: one line format for the host's lines, Nest's and the access lines", async () => {
    const lines: Record<string, unknown>[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    const host = await hostApp({ logger: pino({ level: 'info' }, stream), routes: [{ prefix: '/api', target: upstream.url }] }, [HelloController]);
    try {
      host.app.useLogger(host.app.get(GatewayNestLogger));
      await request(host.url).get('/hello').expect(200, 'hello');
      await request(host.url).get('/api/x').expect(200);
      await until(() => lines.some((line) => line.url === '/api/x'), 'the access line');
      expect(lines).toContainEqual(expect.objectContaining({ level: 30, context: 'Hello', msg: 'said hello' }));
    } finally {
      await host.close();
    }
  });
});

describe('the typed cache helpers', () => {
  it('disable the cache for a request, or key it on more than the URL', async () => {
    const upstream = await startCachedUpstream();
    const steer: ConnectMiddleware = (req, _res, next) => {
      if (req.headers['x-no-cache']) disableCache(req);
      appendCacheKey(req, (req) => `:user=${req.headers['x-user'] ?? ''}`);
      next();
    };
    const host = await hostApp({ logger: pino({ level: 'silent' }), cache: {}, middlewares: [steer], routes: [{ prefix: '/api', target: upstream.url }] });
    try {
      await request(host.url).get('/api/numbers').set('x-user', 'ada').expect('x-cache', 'MISS');
      await request(host.url).get('/api/numbers').set('x-user', 'ada').expect('x-cache', 'HIT');
      await request(host.url).get('/api/numbers').set('x-user', 'bob').expect('x-cache', 'MISS');
      await request(host.url).get('/api/numbers').set('x-user', 'ada').set('x-no-cache', '1').expect('x-cache', 'BYPASS');
    } finally {
      await host.close();
      await upstream.close();
    }
  });
});

describe('the standalone server', () => {
  it('has /health, /ready and /metrics unless its file says otherwise', async () => {
    const upstream = await startUpstream();
    const gateway = await startStandalone({ routes: [{ prefix: '/api', target: upstream.url }] });
    const without = await startStandalone({ health: { readiness: false }, metrics: false, routes: [{ prefix: '/api', target: upstream.url }] });
    try {
      expect([(await fetch(`${gateway.url}/health`)).status, (await fetch(`${gateway.url}/ready`)).status, (await fetch(`${gateway.url}/metrics`)).status]).toEqual([200, 200, 200]);
      expect([(await fetch(`${without.url}/health`)).status, (await fetch(`${without.url}/ready`)).status, (await fetch(`${without.url}/metrics`)).status]).toEqual([200, 404, 404]);
    } finally {
      for (const running of [gateway, without]) {
        running.child.kill('SIGTERM');
        await running.exited;
      }
      await upstream.close();
    }
  });
});
