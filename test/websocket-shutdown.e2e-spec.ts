import { setTimeout as delay } from 'node:timers/promises';
import type { WebSocket } from 'ws';
import { LOG_FLUSH_INTERVAL_MS } from '../src/logging/buffered-stdout.js';
import { isAlive, startStandalone, type StandaloneGateway } from './support/standalone.js';
import { listeningWorkers } from './support/supervised.js';
import { until } from './support/wait.js';
import { closed, mustOpen, openWebSocket, roundTrip, startWebSocketService, type WebSocketService } from './support/websocket.js';

/** One connection through the gateway: the client's side and the service's. */
interface Connection {
  client: WebSocket;
  service: WebSocket;
}

const nextMessage = (ws: WebSocket) => new Promise<string>((resolve) => ws.once('message', (data: Buffer) => resolve(data.toString())));

/** Resolves with `promise`, or throws once `ms` have passed first. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => (timer = setTimeout(() => reject(new Error(`not ${what} within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

const drainsStarted = (gateway: StandaloneGateway) => (gateway.output().match(/SIGTERM: closing/g) ?? []).length;

describe('WebSocket connections through a gateway that shuts down or reloads', () => {
  let service: WebSocketService;
  let gateway: StandaloneGateway | undefined;

  beforeEach(async () => {
    service = await startWebSocketService();
  });
  afterEach(async () => {
    if (gateway && gateway.child.exitCode === null) {
      gateway.child.kill('SIGKILL');
      await gateway.exited;
    }
    gateway = undefined;
    await service.close();
  });

  const config = (graceMs: number) => ({ accessLog: false, server: { shutdownGracePeriod: graceMs }, routes: [{ prefix: '/ws', target: service.url }] });

  async function connect(url: string, name: string): Promise<Connection> {
    const client = await mustOpen(`${url}/ws/${name}`);
    await until(() => service.byUrl.has(`/${name}`), 'the service to accept');
    return { client, service: service.byUrl.get(`/${name}`)! };
  }

  /** One message each way on every connection: a push from the service, an echo of the client's. */
  async function bothWays(connections: Connection[], tag: string): Promise<void> {
    for (const connection of connections) {
      const pushed = nextMessage(connection.client);
      connection.service.send(`push ${tag}`);
      expect(await pushed).toBe(`push ${tag}`);
      expect((await roundTrip(connection.client, `echo ${tag}`)).data.toString()).toBe(`echo ${tag}`);
    }
  }

  const bothSidesClosed = (connections: Connection[]) => Promise.all(connections.flatMap(({ client, service: side }) => [closed(client), closed(side)]));

  it('SIGTERM: open connections carry messages both ways through the grace period, then both sides close and the process exits 0', async () => {
    const graceMs = 1500;
    gateway = await startStandalone(config(graceMs));
    const connections = await Promise.all(['a', 'b', 'c'].map((name) => connect(gateway!.url, name)));
    let exited = false;
    void gateway.exited.then(() => (exited = true));
    const allClosed = bothSidesClosed(connections);
    const signalled = Date.now();
    gateway.child.kill('SIGTERM');
    await until(() => drainsStarted(gateway!) === 1, 'the drain');
    for (let round = 0; Date.now() - signalled < graceMs - 400; round++) {
      await bothWays(connections, `${round}`);
      await delay(100);
    }
    expect(connections.every(({ client }) => client.readyState === client.OPEN)).toBe(true);
    expect(exited).toBe(false);
    // The listener is closed: new connections are refused meanwhile.
    expect((await openWebSocket(`${gateway.url}/ws/late`)).status).toBe(0);
    await within(allClosed, graceMs, 'closed once the grace period is over');
    expect(await within(gateway.exited, 2000, 'exited')).toBe(0);
    expect(gateway.output()).toContain('Grace period over');
  });

  it('a reload (GATEWAY_WORKERS=2) keeps the draining workers\' connections carrying messages until the grace period, and sends new ones to the new workers', async () => {
    // Longer than a worker takes to start on a busy machine (3 s seen): the second old worker
    // drains once its replacement listens, while the first one's grace runs.
    const graceMs = 8000;
    gateway = await startStandalone(config(graceMs), { GATEWAY_WORKERS: '2' });
    await until(() => /2 gateway workers listening/.test(gateway!.output()), 'the workers');
    const oldPids = listeningWorkers(gateway.output()).map((worker) => worker.pid);
    const old = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => connect(gateway!.url, `old-${i}`)));
    const oldClosed = bothSidesClosed(old);
    gateway.child.kill('SIGHUP');
    await until(() => drainsStarted(gateway!) === 1, 'the first old worker to drain', 10_000);
    const firstDrain = Date.now();
    await until(() => drainsStarted(gateway!) === 2, 'the second old worker to drain', 10_000);
    // Both old workers drain; only the new ones accept. The line saying a worker drains is
    // buffered (out up to LOG_FLUSH_INTERVAL_MS after its grace began), and a round can be slow
    // on a busy machine: the rounds stop well short of the grace's end.
    const fresh: Connection[] = [];
    for (let round = 0; Date.now() - firstDrain < graceMs - LOG_FLUSH_INTERVAL_MS - 1500; round++) {
      await bothWays(old, `${round}`);
      fresh.push(await connect(gateway.url, `new-${round}`));
      await delay(100);
    }
    expect(old.every(({ client }) => client.readyState === client.OPEN)).toBe(true);
    await within(oldClosed, graceMs, 'closed once the grace period is over');
    await until(() => gateway!.output().includes('Reload done'), 'the reload to end');
    expect(oldPids.filter(isAlive)).toEqual([]);
    // The old workers are gone and every connection opened while they drained still works.
    expect(fresh.length).toBeGreaterThan(0);
    await bothWays(fresh, 'after');
    for (const { client } of fresh) client.close();
    await bothSidesClosed(fresh);
    gateway.child.kill('SIGTERM');
    expect(await gateway.exited).toBe(0);
  }, 60_000);
});
