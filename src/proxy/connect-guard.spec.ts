import { jest } from '@jest/globals';
import { createServer, type Socket } from 'node:net';
import buildConnector from 'undici/lib/core/connect.js';
import { guardConnects } from './connect-guard.js';

/** A port of 127.0.0.1 nothing listens on (it was free a moment ago). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

type Outcome = { error: NodeJS.ErrnoException | null; socket: Socket | null };
const connectWith = (connect: buildConnector.connector, port: number) =>
  new Promise<Outcome>((resolve) => connect({ hostname: '127.0.0.1', port: String(port), protocol: 'http:' }, (error, socket) => resolve({ error, socket } as Outcome)));

describe('guardConnects', () => {
  afterEach(() => jest.restoreAllMocks());

  it('drops a socket that connected to itself, as refused', async () => {
    const port = await freePort();
    // What the kernel may pick by chance for a dead port in its ephemeral range, chosen here:
    // the same port as the source, which TCP's simultaneous open then "connects".
    const sameSource = { localPort: port, localAddress: '127.0.0.1', timeout: 1000 } as buildConnector.BuildOptions;
    const unguarded = await connectWith(buildConnector(sameSource), port);
    expect(unguarded.socket?.localPort).toBe(unguarded.socket?.remotePort);
    unguarded.socket?.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));

    const guarded = await connectWith(guardConnects(buildConnector(sameSource)), port);
    expect(guarded.socket).toBeNull();
    expect(guarded.error).toMatchObject({ code: 'ECONNREFUSED', message: expect.stringContaining('connected to itself') });
  });

  it('backs off connects to a port that refuses, and connects again soon after it listens', async () => {
    const port = await freePort();
    const base = buildConnector({ timeout: 1000 });
    let attempts = 0;
    const connect = guardConnects((options, callback) => {
      attempts += 1;
      base(options, callback);
    });
    // The guard times its pauses by Date.now: on a clock moved by hand they are exact, however
    // long each connect takes on a busy machine.
    let now = 1_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => now);
    const outcomes: Outcome[] = [];
    // A connect every millisecond for 200 ms, long enough for the pause to reach its longest.
    for (let i = 0; i < 200; i++, now += 1) outcomes.push(await connectWith(connect, port));
    expect(outcomes.every((outcome) => outcome.error?.code === 'ECONNREFUSED')).toBe(true);
    expect(attempts).toBeLessThan(20);

    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    try {
      const listened = now;
      const attemptsBefore = attempts;
      let connected = await connectWith(connect, port);
      // Bounded on this clock too: a pause that never ends fails the test rather than hang it.
      while (connected.error && now - listened < 60_000) {
        now += 1;
        connected = await connectWith(connect, port);
      }
      expect(connected.socket).not.toBeNull();
      // Reached within a tenth of a second of it listening (the cap on the pause), by the first
      // connect the guard let through.
      expect(now - listened).toBeLessThanOrEqual(100);
      expect(attempts - attemptsBefore).toBe(1);
      connected.socket!.destroy();
      // Connected once, the next connect goes straight through.
      const next = await connectWith(connect, port);
      expect(next.socket).not.toBeNull();
      next.socket!.destroy();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
