import type { ServerResponse } from 'node:http';
import request from 'supertest';
import { startGateway, type RunningGateway } from './support/gateway.js';
import { startUpstream, type Upstream } from './support/upstream.js';
import { until } from './support/wait.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A service whose every answer says how to cache it (`headers`), carries a serial number, and
 * can be told to fail (`mode`) or to hold its answers until the test releases them.
 */
async function startStaleService(headers: Record<string, string>) {
  let serial = 0;
  const state = { mode: 'ok' as 'ok' | '503' | 'silent' | 'hold' | 'cut', held: [] as (() => void)[] };
  const upstream: Upstream = await startUpstream((_req, res: ServerResponse) => {
    const answer = () => {
      if (res.destroyed) return;
      res.writeHead(200, { 'content-type': 'text/plain', ...headers });
      res.end(`serial=${++serial}`);
    };
    if (state.mode === '503') {
      res.writeHead(503, { 'content-type': 'text/plain' });
      return res.end('down for maintenance');
    }
    if (state.mode === 'silent') return;
    if (state.mode === 'cut') {
      // A head that promises 100 bytes, 10 of them, then the connection is gone.
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100', ...headers });
      res.write('serial=cut');
      return void setTimeout(() => res.socket?.destroy(), 20);
    }
    if (state.mode === 'hold') return void state.held.push(answer);
    answer();
  });
  return Object.assign(upstream, {
    state,
    release: () => state.held.splice(0).forEach((answer) => answer()),
    hits: () => upstream.seen.length,
  });
}

const get = (gateway: RunningGateway, path: string) => request(gateway.url).get(path);

describe('stale while revalidate (x-cache-stale)', () => {
  let service: Awaited<ReturnType<typeof startStaleService>>;
  let gateway: RunningGateway;

  beforeAll(async () => {
    service = await startStaleService({ 'x-cache-timeout': '1', 'x-cache-stale': '1 minute' });
    gateway = await startGateway({ cache: {}, routes: [{ prefix: '/api', target: service.url }] });
  });
  afterAll(async () => {
    service.release();
    await gateway.close();
    await service.close();
  });

  it('answers 8 concurrent requests for a stale key from the store while exactly one refresh reaches the service', async () => {
    const first = await get(gateway, '/api/item').expect(200);
    expect(first.text).toBe('serial=1');
    expect(first.headers['x-cache']).toBe('MISS');
    expect(first.headers['cache-status']).toBe('nest-gateway; fwd=uri-miss; stored');
    // The service's instructions are the gateway's.
    expect(first.headers['x-cache-stale']).toBeUndefined();
    await sleep(1100);

    // The refresh is held at the service: answers that waited for it could not arrive.
    service.state.mode = 'hold';
    const answers = await Promise.all(Array.from({ length: 8 }, () => get(gateway, '/api/item').expect(200)));
    for (const answer of answers) {
      expect(answer.text).toBe('serial=1');
      expect(answer.headers['x-cache']).toBe('STALE');
      expect(answer.headers['cache-status']).toMatch(/^nest-gateway; hit; ttl=-\d+$/);
    }
    await until(() => service.hits() === 2, 'the refresh');
    expect(service.state.held).toHaveLength(1);
    const metrics = await get(gateway, '/metrics').expect(200);
    expect(metrics.text).toContain('nest_gateway_cache_requests_total{route="/api",result="STALE"} 8');

    service.state.mode = 'ok';
    service.release();
    await until(async () => (await get(gateway, '/api/item')).text === 'serial=2', 'the refreshed entry');
    const fresh = await get(gateway, '/api/item').expect(200);
    expect(fresh.headers['x-cache']).toBe('HIT');
    expect(fresh.headers['cache-status']).toMatch(/^nest-gateway; hit; ttl=[01]$/);
    expect(service.hits()).toBe(2);
  });

  it('keeps a stale entry when its refresh fails (503, cut mid-body), and refreshes it once the service answers', async () => {
    await get(gateway, '/api/cut').expect(200);
    await sleep(1100);
    service.state.mode = 'cut';
    const cutBefore = service.hits();
    const staleCut = await get(gateway, '/api/cut').expect(200);
    await until(() => service.hits() === cutBefore + 1, 'the cut refresh');
    await sleep(100);
    const keptCut = await get(gateway, '/api/cut').expect(200);
    expect(keptCut.text).toBe(staleCut.text);
    expect(keptCut.headers['x-cache']).toBe('STALE');

    service.state.mode = 'ok';
    await get(gateway, '/api/kept').expect(200);
    const before = service.hits();
    await sleep(1100);
    service.state.mode = '503';
    const stale = await get(gateway, '/api/kept').expect(200);
    expect(stale.headers['x-cache']).toBe('STALE');
    await until(() => service.hits() === before + 1, 'the failed refresh');
    // The next stale answer starts the next refresh: one at a time, never one per request.
    const again = await get(gateway, '/api/kept').expect(200);
    expect(again.text).toBe(stale.text);
    await until(() => service.hits() === before + 2, 'the second refresh');

    service.state.mode = 'ok';
    await until(async () => (await get(gateway, '/api/kept')).text !== stale.text, 'the refreshed entry');
  });
});

describe('a service that fails past the TTL', () => {
  let service: Awaited<ReturnType<typeof startStaleService>>;
  let gateway: RunningGateway;

  beforeAll(async () => {
    // Fresh for 1 s, then served at once for 2 s more while refreshed in the background.
    service = await startStaleService({ 'x-cache-timeout': '1', 'x-cache-stale': '2s' });
    gateway = await startGateway({ cache: {}, routes: [{ prefix: '/api', target: service.url, timeout: 300 }] });
  });
  afterAll(async () => {
    await gateway.close();
    await service.close();
  });

  it('serves the stale entry within the window while the service is down, and the 502 after it', async () => {
    const filled = await get(gateway, '/api/down').expect(200);
    await service.close();
    await sleep(1100);
    for (let i = 0; i < 3; i++) {
      const stale = await get(gateway, '/api/down').expect(200);
      expect(stale.text).toBe(filled.text);
      expect(stale.headers['x-cache']).toBe('STALE');
      expect(stale.headers['cache-status']).toMatch(/^nest-gateway; hit; ttl=-\d+$/);
    }
    await sleep(2000);
    const after = await get(gateway, '/api/down').expect(502);
    expect(after.headers['cache-status']).toBe('nest-gateway; fwd=uri-miss');
  });
});

describe('stale if error (Cache-Control, respectCacheControl)', () => {
  let service: Awaited<ReturnType<typeof startStaleService>>;
  let gateway: RunningGateway;

  beforeAll(async () => {
    service = await startStaleService({ 'cache-control': 'max-age=1, stale-if-error=2' });
    gateway = await startGateway({ cache: { respectCacheControl: true }, routes: [{ prefix: '/api', target: service.url, timeout: 300 }] });
  });
  afterAll(async () => {
    await gateway.close();
    await service.close();
  });

  it('forwards past the TTL and answers with the stale entry when the service fails, naming how', async () => {
    const filled = await get(gateway, '/api/sie').expect(200);
    await sleep(1100);
    // Within stale-if-error but no stale-while-revalidate: the request goes to the service.
    const refreshed = await get(gateway, '/api/sie').expect(200);
    expect(refreshed.text).not.toBe(filled.text);
    expect(refreshed.headers['cache-status']).toBe('nest-gateway; fwd=stale; stored');
    await sleep(1100);

    service.state.mode = '503';
    const on503 = await get(gateway, '/api/sie').expect(200);
    expect(on503.text).toBe(refreshed.text);
    expect(on503.headers['x-cache']).toBe('STALE');
    expect(on503.headers['cache-status']).toBe('nest-gateway; fwd=stale; fwd-status=503');

    service.state.mode = 'silent';
    const onTimeout = await get(gateway, '/api/sie').expect(200);
    expect(onTimeout.text).toBe(refreshed.text);
    expect(onTimeout.headers['cache-status']).toBe('nest-gateway; fwd=stale; fwd-status=504');

    // Past the window, the service's failure passes through.
    service.state.mode = '503';
    await sleep(2000);
    const passed = await get(gateway, '/api/sie').expect(503);
    expect(passed.text).toBe('down for maintenance');
  });

  it('answers concurrent misses waiting on a failed fill with the stale entry too', async () => {
    service.state.mode = 'ok';
    const filled = await get(gateway, '/api/waiters').expect(200);
    await sleep(1100);
    service.state.mode = 'hold';
    const pending = Promise.all(Array.from({ length: 4 }, () => get(gateway, '/api/waiters')));
    await until(() => service.state.held.length === 1, 'the one forwarded miss');
    await sleep(100);
    service.state.mode = 'ok';
    // The held answer is dropped: the service resets the exchange instead.
    const before = service.hits();
    await service.close();
    const answers = await pending;
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.text).toBe(filled.text);
      expect(answer.headers['cache-status']).toMatch(/^nest-gateway; fwd=stale; fwd-status=50[24]$/);
    }
    expect(service.hits()).toBe(before);
  });
});
