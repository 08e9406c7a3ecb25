import request from 'supertest';
import { validateGatewayOptions } from '../src/index.js';
import { GATEWAY_METRICS } from '../src/gateway.constants.js';
import type { GatewayMetrics } from '../src/metrics/index.js';
import { startGateway, type RunningGateway } from './support/gateway.js';
import { sample } from './support/prometheus.js';
import { deadPort, startUpstream, type Upstream } from './support/upstream.js';

describe('Prometheus metrics', () => {
  let upstream: Upstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      if (req.url === '/silent') return;
      if (req.url === '/reset') {
        res.writeHead(200, { 'content-length': '100' });
        res.write('part');
        setTimeout(() => res.socket?.destroy(), 10);
        return;
      }
      res.writeHead(200, { 'x-cache-timeout': req.url === '/cached' ? '1 minute' : '' });
      res.end('ok');
    });
    gateway = await startGateway({
      cache: {},
      routes: [
        { prefix: '/api', target: upstream.url, timeout: 100 },
        { prefix: '/dead', target: `http://127.0.0.1:${await deadPort()}` },
      ],
    });
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('counts requests by route, method and status, upstream errors by kind, and cache results', async () => {
    await request(gateway.url).get('/api/a').expect(200);
    await request(gateway.url).post('/api/a').expect(200);
    await request(gateway.url).get('/api/cached').expect(200);
    await request(gateway.url).get('/api/cached').expect(200).expect('x-cache', 'HIT');
    await request(gateway.url).get('/dead/x').expect(502);
    await request(gateway.url).get('/api/silent').expect(504);
    await request(gateway.url)
      .get('/api/reset')
      .then(
        () => undefined,
        () => undefined,
      );
    const res = await request(gateway.url).get('/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = res.text;

    // /api/reset counts as a 200: its response had begun when the service cut it.
    expect(sample(text, 'nest_gateway_requests_total', { route: '/api', method: 'GET', status: '200' })).toBe(4);
    expect(sample(text, 'nest_gateway_requests_total', { route: '/api', method: 'POST', status: '200' })).toBe(1);
    expect(sample(text, 'nest_gateway_requests_total', { route: '/dead', method: 'GET', status: '502' })).toBe(1);
    expect(sample(text, 'nest_gateway_requests_total', { route: '/api', method: 'GET', status: '504' })).toBe(1);
    expect(sample(text, 'nest_gateway_upstream_errors_total', { route: '/dead', kind: 'refused' })).toBe(1);
    expect(sample(text, 'nest_gateway_upstream_errors_total', { route: '/api', kind: 'timeout' })).toBe(1);
    expect(sample(text, 'nest_gateway_upstream_errors_total', { route: '/api', kind: 'reset' })).toBe(1);
    expect(sample(text, 'nest_gateway_cache_requests_total', { route: '/api', result: 'HIT' })).toBe(1);
    // GET a, cached (first), silent, reset; the POST is no cache matter.
    expect(sample(text, 'nest_gateway_cache_requests_total', { route: '/api', result: 'MISS' })).toBe(4);
    expect(sample(text, 'nest_gateway_cache_entries')).toBe(1);
    expect(sample(text, 'nest_gateway_cache_bytes')).toBeGreaterThan(2);
    expect(sample(text, 'nest_gateway_cache_evictions')).toBe(0);
    expect(sample(text, 'nest_gateway_request_duration_seconds_count', { route: '/api' })).toBe(6);
    expect(sample(text, 'nest_gateway_requests_in_flight')).toBe(0);
    expect(sample(text, 'nest_gateway_process_resident_memory_bytes')).toBeGreaterThan(0);
    // The endpoint is the gateway's own: never a route, never counted.
    expect(upstream.seen.some((seen) => seen.url === '/metrics')).toBe(false);
  });
});

describe('metrics options', () => {
  it('serves another path, or none with metrics: false', async () => {
    const upstream = await startUpstream();
    const moved = await startGateway({ metrics: { path: '/internal/metrics' }, routes: [{ prefix: '/', target: upstream.url }] });
    const off = await startGateway({ metrics: false, routes: [{ prefix: '/', target: upstream.url }] });
    try {
      expect((await request(moved.url).get('/internal/metrics').expect(200)).text).toContain('nest_gateway_requests_total');
      expect((await request(off.url).get('/metrics').expect(200)).body.url).toBe('/metrics');
      expect(upstream.seen.map((seen) => seen.url)).toEqual(['/metrics']);
      // Off means nothing counted or sampled, not only nothing served.
      const registry = off.app.get<GatewayMetrics>(GATEWAY_METRICS).registry;
      expect(await registry.metrics()).not.toMatch(/^nest_gateway_(requests_total|process_cpu)/m);
      expect(await moved.app.get<GatewayMetrics>(GATEWAY_METRICS).registry.metrics()).toMatch(/^nest_gateway_process_cpu/m);
    } finally {
      await moved.close();
      await off.close();
      await upstream.close();
    }
  });

  // /metrics was public: the Node version, every route prefix and the traffic, to anyone.
  it('answers only the peers metrics.allow lists (the machine itself by default), 404 to others', async () => {
    const elsewhere = await startGateway({ metrics: { allow: ['10.0.0.0/8'] }, routes: [{ prefix: '/api', target: 'http://127.0.0.1:1' }] });
    try {
      const refused = await request(elsewhere.url).get('/metrics').expect(404);
      expect(refused.text).not.toContain('nest_gateway');
    } finally {
      await elsewhere.close();
    }
    expect(() => validateGatewayOptions({ metrics: { allow: ['10.0.0.0/33', 'not-an-ip'] }, routes: [{ prefix: '/x', target: 'http://a' }] })).toThrow(
      /metrics\.allow\[0\]: expected an IP address or a CIDR subnet[\s\S]*metrics\.allow\[1\]/,
    );
  });
});
