import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { startStandalone, type StandaloneGateway } from './support/standalone.js';
import { until } from './support/wait.js';
import { closed, mustOpen, startWebSocketService, type WebSocketService } from './support/websocket.js';

const CONNECTIONS = 1000;
const HOLD_SECONDS = 10;
/** Opened this many at a time: all at once would overflow the listener's accept queue (511). */
const OPEN_BATCH = 100;

/** The process's resident set, in bytes, and its open file descriptors. */
function footprint(pid: number): { rss: number; fds: number } {
  const rssKiB = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  return { rss: rssKiB * 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
}

/**
 * A full garbage collection in the gateway, through the inspector it was started with: V8 may
 * otherwise put off the major collection that gives back what closed connections held.
 */
async function collectGarbage(inspector: string): Promise<void> {
  const ws = new WebSocket(inspector);
  await once(ws, 'open');
  const answered = new Promise<void>((resolve) => ws.on('message', (data: Buffer) => JSON.parse(data.toString()).id === 1 && resolve()));
  ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
  await answered;
  ws.close();
  await closed(ws);
}

async function openAll(url: string, count: number): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let opened = 0; opened < count; opened += OPEN_BATCH) {
    sockets.push(...(await Promise.all(Array.from({ length: Math.min(OPEN_BATCH, count - opened) }, (_, i) => mustOpen(`${url}/ws/c${opened + i}`)))));
  }
  return sockets;
}

describe('1,000 concurrent WebSocket connections through a gateway process', () => {
  let service: WebSocketService;
  let gateway: StandaloneGateway;
  let inspector: string;

  beforeAll(async () => {
    service = await startWebSocketService();
    gateway = await startStandalone({ accessLog: false, routes: [{ prefix: '/ws', target: service.url }] }, { NODE_OPTIONS: '--inspect=127.0.0.1:0' });
    inspector = /Debugger listening on (ws:\/\/\S+)/.exec(gateway.output())![1];
  });
  afterAll(async () => {
    gateway.child.kill('SIGTERM');
    await gateway.exited;
    await service.close();
  });

  /**
   * Holds `CONNECTIONS` connections for `seconds`, each sending a message at its own moment of
   * every second, which the service echoes back; checks every message arrived, then closes them.
   */
  async function hold(seconds: number, whileOpen: () => void): Promise<void> {
    const closedBefore = service.closed;
    const acceptedBefore = service.sockets.length;
    const clients = await openAll(gateway.url, CONNECTIONS);
    whileOpen();
    const received = new Array<number>(CONNECTIONS).fill(0);
    const wrong: string[] = [];
    clients.forEach((ws, i) =>
      ws.on('message', (data: Buffer) => {
        const expected = `c${i} #${received[i]}`;
        if (data.toString() !== expected) wrong.push(`${data.toString()} (expected ${expected})`);
        received[i] += 1;
      }),
    );
    let atService = 0;
    for (const side of service.sockets.slice(acceptedBefore)) side.on('message', () => (atService += 1));
    for (let second = 0; second < seconds; second++) {
      const started = Date.now();
      for (let i = 0; i < CONNECTIONS; i++) {
        clients[i].send(`c${i} #${second}`);
        if (i % 100 === 99) await delay(Math.max(0, started + ((i + 1) / CONNECTIONS) * 1000 - Date.now()));
      }
    }
    await until(() => received.every((count) => count === seconds), 'every echo');
    expect(atService).toBe(CONNECTIONS * seconds);
    expect(wrong).toEqual([]);
    expect(clients.every((ws) => ws.readyState === ws.OPEN)).toBe(true);
    for (const ws of clients) ws.close();
    await Promise.all(clients.map(closed));
    await until(() => service.closed === closedBefore + CONNECTIONS, 'the service to see every close');
  }

  it('delivers every message of a message each way per second for 10 s, and gives back its memory and descriptors after they close', async () => {
    const pid = gateway.child.pid!;
    // A shorter round first grows the heap, the allocator's arenas and the code to what this
    // load needs: the measured round must come back to that, not to an idle process's size.
    await hold(3, () => undefined);
    await collectGarbage(inspector);
    const before = footprint(pid);
    let open = before;
    await hold(HOLD_SECONDS, () => (open = footprint(pid)));
    // Each connection holds the client's socket and the one to the service.
    expect(open.fds - before.fds).toBeGreaterThanOrEqual(2 * CONNECTIONS);
    await until(() => footprint(pid).fds <= before.fds * 1.1, 'the descriptors to be given back');
    await collectGarbage(inspector);
    const after = footprint(pid);
    expect(after.fds).toBeLessThanOrEqual(before.fds * 1.1);
    expect(after.rss).toBeLessThanOrEqual(before.rss * 1.1);
  }, 60_000);
});
