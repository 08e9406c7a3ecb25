import { Controller, Get, Module, Post } from '@nestjs/common';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import request from 'supertest';
import { GatewayModule, type GatewayOptions } from '../src/index.js';
import { MOUNT_MODES, type MountMode, startApp, type RunningGateway } from './support/gateway.js';
import { sample } from './support/prometheus.js';
import { startStandalone } from './support/standalone.js';
import { startUpstream, type Upstream } from './support/upstream.js';
import { until } from './support/wait.js';

/** A pino logger whose lines land in `lines`, parsed. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

const gatewayWith = (options: GatewayOptions, mode: MountMode) =>
  startApp(mode === 'forRoot' ? GatewayModule.forRoot(options) : GatewayModule.forRootAsync({ useFactory: () => options }));

// The bug: a request no route took (no path, or a method its route does not allow) got a 404
// with no access line and no metric.
describe.each(MOUNT_MODES)('requests no route takes (%s)', (mode) => {
  let upstream: Upstream;
  let gateway: RunningGateway;
  const { logger, lines } = capturingLogger();
  const accessLineOf = (url: string, method = 'GET') => lines.find((line) => line.url === url && line.method === method && 'reqId' in line);

  beforeAll(async () => {
    upstream = await startUpstream();
    gateway = await gatewayWith(
      {
        logger,
        answerUnmatched: true,
        metrics: {},
        routes: [
          { prefix: '/read', target: upstream.url, methods: ['GET'] },
          { prefix: '/api', target: upstream.url },
          { prefix: '/api/users', target: upstream.url, methods: ['GET'], pathRegex: '' },
        ],
      },
      mode,
    );
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('answers a path no route has 404, with an access line and a metric of route -', async () => {
    const response = await request(gateway.url).get('/nowhere?x=1').expect(404);
    expect(response.body).toEqual({ statusCode: 404, error: 'Not Found', message: 'Cannot GET /nowhere?x=1' });
    await until(() => accessLineOf('/nowhere?x=1') !== undefined, 'the access line');
    expect(accessLineOf('/nowhere?x=1')).toMatchObject({ reqId: response.headers['x-request-id'], route: '-', target: '-', status: 404 });
    const metrics = (await request(gateway.url).get('/metrics').expect(200)).text;
    expect(sample(metrics, 'nest_gateway_requests_total', { route: '-', method: 'GET', status: '404' })).toBe(1);
  });

  it('answers a method the route does not allow 405 with Allow, never reaching the service, with an access line and a metric of route -', async () => {
    const before = upstream.seen.length;
    const response = await request(gateway.url).delete('/read/x').expect(405);
    expect(response.headers.allow).toBe('GET, HEAD');
    expect(response.body).toEqual({ statusCode: 405, error: 'Method Not Allowed', message: 'DELETE is not allowed here; allowed: GET, HEAD' });
    await request(gateway.url).post('/read').expect(405).expect('allow', 'GET, HEAD');
    expect(upstream.seen.length).toBe(before);
    await until(() => accessLineOf('/read/x', 'DELETE') !== undefined, 'the access line');
    expect(accessLineOf('/read/x', 'DELETE')).toMatchObject({ route: '-', status: 405 });
    const metrics = (await request(gateway.url).get('/metrics').expect(200)).text;
    expect(sample(metrics, 'nest_gateway_requests_total', { route: '-', method: 'DELETE', status: '405' })).toBe(1);
  });

  it('leaves a method to a wider route that takes it', async () => {
    await request(gateway.url).post('/api/users').expect(200);
    expect(upstream.seen.at(-1)).toMatchObject({ method: 'POST', url: '/users' });
  });
});

@Controller('own')
class OwnController {
  @Get()
  read() {
    return { own: true };
  }

  @Post('read/x')
  write() {
    return { written: true };
  }
}

describe('in a host app', () => {
  let upstream: Upstream;

  beforeAll(async () => {
    upstream = await startUpstream();
  });
  afterAll(() => upstream.close());

  it("keeps the host's own 404 unless asked, and its routes on paths of a gateway route", async () => {
    @Module({ imports: [GatewayModule.forRoot({ logger: pino({ level: 'silent' }), routes: [{ prefix: '/read', target: upstream.url, methods: ['GET'] }] })], controllers: [OwnController] })
    class HostModule {}
    const host = await startApp(HostModule);
    try {
      const missing = await request(host.url).get('/nowhere').expect(404);
      expect(missing.headers['x-request-id']).toBeUndefined();
      await request(host.url).get('/own').expect(200, { own: true });
      await request(host.url).post('/own/read/x').expect(201, { written: true });
      await request(host.url).put('/read/x').expect(405);
    } finally {
      await host.close();
    }
  });
});

describe('the standalone server', () => {
  it('answers requests that match no route itself, with an access line', async () => {
    const upstream = await startUpstream();
    const gateway = await startStandalone({ routes: [{ prefix: '/api', target: upstream.url }] });
    try {
      const response = await fetch(`${gateway.url}/nowhere`);
      expect(response.status).toBe(404);
      expect(response.headers.get('x-request-id')).toBeTruthy();
      await until(() => gateway.output().includes('"url":"/nowhere"'), 'the access line');
      expect(gateway.output()).toMatch(/"url":"\/nowhere","route":"-","target":"-","status":404/);
    } finally {
      gateway.child.kill('SIGTERM');
      await gateway.exited;
      await upstream.close();
    }
  });
});
