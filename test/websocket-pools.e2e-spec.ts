import { Writable } from 'node:stream';
import { pino } from 'pino';
import request from 'supertest';
import type { RouteOptions } from '../src/index.js';
import { startGateway, type RunningGateway } from './support/gateway.js';
import { deadPort } from './support/upstream.js';
import { until } from './support/wait.js';
import { closed, mustOpen, type Opened, openWebSocket, roundTrip, startWebSocketService, type WebSocketService } from './support/websocket.js';

const HEALTH_CHECK = { path: '/health', interval: 50, timeout: 500, unhealthyThreshold: 1, healthyThreshold: 1 };

describe('WebSocket upgrades over a route of several targets', () => {
  let a: WebSocketService;
  let b: WebSocketService;
  let gateway: RunningGateway | undefined;

  beforeEach(async () => {
    [a, b] = await Promise.all([startWebSocketService(), startWebSocketService()]);
  });
  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
    await Promise.all([a.close(), b.close()]);
  });

  const start = async (route: Omit<RouteOptions, 'prefix' | 'target'>) => {
    gateway = await startGateway({ routes: [{ prefix: '/ws', ...route }] });
    return gateway;
  };

  /** Opens `count` connections one after another, checks each echoes, and closes them. */
  async function openAndEcho(url: string, count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const ws = await mustOpen(`${url}/ws/echo`);
      expect((await roundTrip(ws, `m${i}`)).data.toString()).toBe(`m${i}`);
      ws.close();
      await closed(ws);
    }
  }

  const upOf = async (url: string) => (await request(url).get('/ready')).body.info?.upstreams.routes['/ws'].up as number | undefined;

  it("spreads upgrades across the targets by the route's balance, each access line naming its target", async () => {
    const lines: { websocket?: boolean; target?: string }[] = [];
    const logger = pino(new Writable({ write: (chunk: Buffer, _encoding, done) => done(void lines.push(JSON.parse(chunk.toString()))) }));
    gateway = await startGateway({ logger, routes: [{ prefix: '/ws', targets: [a.url, b.url] }] });
    await openAndEcho(gateway.url, 10);
    expect([a.upgrades(), b.upgrades()]).toEqual([5, 5]);
    await until(() => lines.filter((line) => line.websocket).length === 10, 'an access line per connection');
    const targets = lines.filter((line) => line.websocket).map((line) => line.target);
    expect(targets.filter((target) => target === `${a.url}/`)).toHaveLength(5);
    expect(targets.filter((target) => target === `${b.url}/`)).toHaveLength(5);
  });

  it('sends no upgrade to a target failing its health checks, and sends them again once it passes', async () => {
    b.healthy = false;
    const gw = await start({ targets: [a.url, b.url], healthCheck: HEALTH_CHECK });
    await until(async () => (await upOf(gw.url)) === 1, 'the failing target to be taken out');
    await openAndEcho(gw.url, 8);
    expect([a.upgrades(), b.upgrades()]).toEqual([8, 0]);
    b.healthy = true;
    await until(async () => (await upOf(gw.url)) === 2, 'the target to be back');
    await openAndEcho(gw.url, 8);
    expect(b.upgrades()).toBeGreaterThan(0);
  });

  it('answers 503 when no target passes its health checks, contacting none', async () => {
    a.healthy = false;
    b.healthy = false;
    const gw = await start({ targets: [a.url, b.url], healthCheck: HEALTH_CHECK });
    await until(async () => (await upOf(gw.url)) === 0, 'both targets to be taken out');
    const refused = await openWebSocket(`${gw.url}/ws/echo`);
    expect(refused.status).toBe(503);
    expect(refused.ws ? undefined : JSON.parse(refused.body)).toMatchObject({ statusCode: 503, message: 'No target of the route is available' });
    expect(refused.ws ? undefined : refused.headers['retry-after']).toBe('1');
    expect(a.upgrades() + b.upgrades()).toBe(0);
  });

  it('counts a handshake as a request in flight to its target until it ends (least-request)', async () => {
    a.holdHandshakes = true;
    const gw = await start({ targets: [a.url, b.url], balance: 'least-request' });
    // Least request draws its two candidates at random: upgrade until one waits on `a`.
    let waiting: Promise<Opened> | undefined;
    for (let sent = 1; !waiting; sent++) {
      const opening = openWebSocket(`${gw.url}/ws/held`);
      await until(() => a.upgrades() + b.upgrades() === sent, 'the upgrade to reach a target');
      if (a.upgrades() === 1) waiting = opening;
      else (await opening).ws?.close();
    }
    const before = b.upgrades();
    await openAndEcho(gw.url, 10);
    expect([a.upgrades(), b.upgrades() - before]).toEqual([1, 10]);
    a.holdHandshakes = false;
    a.releaseHandshakes();
    const opened = await waiting;
    expect(opened.status).toBe(101);
    opened.ws?.close();
    // Its handshake ended: `a` is as idle as `b` again and takes upgrades.
    await openAndEcho(gw.url, 20);
    expect(a.upgrades()).toBeGreaterThan(1);
  });

  it('counts an open connection as a request in flight to its target until it closes (least-request)', async () => {
    const gw = await start({ targets: [a.url, b.url], balance: 'least-request' });
    /** Opens a connection, checks its echo, closes it, and waits until its target saw it close. */
    const openEchoClose = async (i: number) => {
      const [closedOnA, closedOnB] = [a.closed, b.closed];
      const ws = await mustOpen(`${gw.url}/ws/echo`);
      expect((await roundTrip(ws, `m${i}`)).data.toString()).toBe(`m${i}`);
      ws.close();
      await until(() => a.closed + b.closed > closedOnA + closedOnB, 'the target to see the connection close');
    };
    // One connection held open on `a`; while it is, `b` has fewer in flight and takes every upgrade.
    let held: Awaited<ReturnType<typeof mustOpen>> | undefined;
    for (let i = 0; !held; i++) {
      const upgradesOfA = a.upgrades();
      const ws = await mustOpen(`${gw.url}/ws/held`);
      if (a.upgrades() > upgradesOfA) held = ws;
      else {
        const closedOnB = b.closed;
        ws.close();
        await until(() => b.closed > closedOnB, 'the target to see the connection close');
      }
    }
    const before = b.upgrades();
    for (let i = 0; i < 10; i++) await openEchoClose(i);
    expect([a.upgrades(), b.upgrades() - before]).toEqual([1, 10]);
    held.close();
    await until(() => a.closed === 1, 'the held connection to close');
    for (let i = 0; i < 20; i++) await openEchoClose(i);
    expect(a.upgrades()).toBeGreaterThan(1);
  });

  it('counts an unreachable target\'s failed upgrades toward ejecting it (outlier detection), never retrying them', async () => {
    const dead = `http://127.0.0.1:${await deadPort()}`;
    const gw = await start({ targets: [a.url, dead], outlierDetection: { failures: 2, ejectionTime: '1 minute' } });
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const opened = await openWebSocket(`${gw.url}/ws/echo`);
      statuses.push(opened.status);
      opened.ws?.close();
    }
    // Round-robin alternates: the dead target fails twice, then is ejected.
    expect(statuses.filter((status) => status === 502)).toHaveLength(2);
    expect(statuses.slice(4)).toEqual(Array(8).fill(101));
    expect(a.upgrades()).toBe(10);
  });
});
