import type { LoggerService } from '@nestjs/common';
import { drainOnSignals } from '../src/server/index.js';
import { startGateway } from './support/gateway.js';
import { startStandalone } from './support/standalone.js';
import { until } from './support/wait.js';
import { startUpstream, type Upstream } from './support/upstream.js';

const quiet: LoggerService = { log: () => undefined, warn: () => undefined, error: () => undefined };


const refusesConnections = (url: string) =>
  fetch(`${url}/api/new`).then(
    () => false,
    () => true,
  );

/** A service that answers `/slow` after `delayMs` and never answers `/hang`. */
const slowUpstream = (delayMs: number) =>
  startUpstream((req, res) => {
    if (req.url === '/hang') return;
    setTimeout(() => res.end('finished'), delayMs);
  });

describe('graceful shutdown (drainOnSignals)', () => {
  let upstream: Upstream;

  beforeAll(async () => {
    upstream = await slowUpstream(700);
  });
  afterAll(() => upstream.close());

  it('stops accepting, lets a request in flight finish, then exits 0', async () => {
    const gateway = await startGateway({ routes: [{ prefix: '/api', target: upstream.url }] });
    const exits: number[] = [];
    drainOnSignals(gateway.app, 10_000, quiet, (code) => exits.push(code));

    const inFlight = fetch(`${gateway.url}/api/slow`).then(async (res) => [res.status, await res.text(), res.headers.get('connection')]);
    await until(() => upstream.seen.some((seen) => seen.url === '/slow'), 'the request to reach the service');
    const started = Date.now();
    process.emit('SIGTERM', 'SIGTERM');

    await until(() => refusesConnections(gateway.url), 'new connections to be refused');
    expect(await inFlight).toEqual([200, 'finished', 'close']);
    await until(() => exits.length > 0, 'the exit');
    expect(exits).toEqual([0]);
    // Once the request is done, not when the client drops its keep-alive connection (4 s).
    expect(Date.now() - started).toBeLessThan(2500);
    expect(upstream.seen.some((seen) => seen.url === '/new')).toBe(false);
  });

  it('cuts the requests still in flight when the grace period ends', async () => {
    const gateway = await startGateway({ routes: [{ prefix: '/api', target: upstream.url }] });
    const exits: number[] = [];
    drainOnSignals(gateway.app, 300, quiet, (code) => exits.push(code));

    const hanging = fetch(`${gateway.url}/api/hang`).then(
      (res) => res.text(),
      (error: Error) => error,
    );
    await until(() => upstream.seen.some((seen) => seen.url === '/hang'), 'the request to reach the service');
    const started = Date.now();
    process.emit('SIGINT', 'SIGINT');

    // fetch fails (its TypeError comes from another realm under jest's VM modules).
    expect(await hanging).toHaveProperty('message', 'fetch failed');
    await until(() => exits.length > 0, 'the exit');
    expect(exits).toEqual([0]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('removes its listeners when asked', async () => {
    const gateway = await startGateway({ routes: [{ prefix: '/api', target: upstream.url }] });
    const before = process.listenerCount('SIGTERM');
    const stop = drainOnSignals(gateway.app, 100, quiet, () => undefined);
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    stop();
    expect(process.listenerCount('SIGTERM')).toBe(before);
    await gateway.close();
  });
});

describe('SIGTERM to the standalone server', () => {
  let upstream: Upstream;

  beforeAll(async () => {
    upstream = await slowUpstream(1000);
  });
  afterAll(() => upstream.close());

  it('completes the request in flight and exits 0', async () => {
    const gateway = await startStandalone({ routes: [{ prefix: '/api', target: upstream.url }] });
    const inFlight = fetch(`${gateway.url}/api/slow`).then(async (res) => [res.status, await res.text()]);
    await until(() => upstream.seen.some((seen) => seen.url === '/slow'), 'the request to reach the service');
    gateway.child.kill('SIGTERM');

    expect(await inFlight).toEqual([200, 'finished']);
    expect(await gateway.exited).toBe(0);
    expect(gateway.output()).toContain('SIGTERM: closing; requests in flight have 10000 ms to finish');
  });
});
