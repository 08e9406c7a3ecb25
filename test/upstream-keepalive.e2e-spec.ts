import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import request from 'supertest';
import { startGateway, type RunningGateway } from './support/gateway.js';

type TrackedSocket = Socket & { served?: number; idleSince?: number };

/**
 * A service that plays the keep-alive race a real one loses now and then: nginx's
 * `keepalive_timeout`, Go's `IdleTimeout` and gunicorn close an idle connection when their timer
 * fires, and say nothing about it beforehand (no `Keep-Alive` hint), so a request written at that
 * instant meets a closed socket. This one closes, unanswered, every request that arrives on a
 * connection idle for `idleMs` or more, or, with `idleMs` 0, every request on a reused
 * connection: deterministically, what the race does by chance.
 */
async function startRacingService(idleMs: number) {
  const raced: string[] = [];
  const answered: string[] = [];
  let connections = 0;
  const server: Server = createServer((req, res) => {
    const socket = req.socket as TrackedSocket;
    const reused = (socket.served ?? 0) > 0;
    if (reused && Date.now() - socket.idleSince! >= idleMs) {
      raced.push(`${req.method} ${req.url}`);
      socket.destroy();
      return;
    }
    answered.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
      res.end('ok');
    });
    res.on('finish', () => {
      socket.served = (socket.served ?? 0) + 1;
      socket.idleSince = Date.now();
    });
  });
  // No Node idle timer and no hint: the service closes connections only as above.
  server.keepAliveTimeout = 0;
  server.on('connection', () => (connections += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    raced,
    answered,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Requests once met connections the service had just closed: 4.5 % (1 s idle timeout) to 14 %
// (100 ms) of requests timed at its timeout became 502s.
describe('keep-alive connections to a service that closes idle ones without a hint', () => {
  let gateway: RunningGateway | undefined;
  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
  });

  it('retires idle connections before the service does (keepAliveTimeout), never racing it', async () => {
    const service = await startRacingService(500);
    gateway = await startGateway({ routes: [{ prefix: '/api', target: service.url, keepAliveTimeout: 300 }] });
    try {
      for (let i = 0; i < 3; i++) {
        await request(gateway.url).get(`/api/idle-${i}`).expect(200);
        await pause(550);
      }
      expect(service.raced).toEqual([]);
      expect(service.connections()).toBe(3);
    } finally {
      await service.close();
    }
  });

  it('reuses connections idle for less than keepAliveTimeout', async () => {
    const service = await startRacingService(60_000);
    gateway = await startGateway({ routes: [{ prefix: '/api', target: service.url }] });
    try {
      for (let i = 0; i < 3; i++) await request(gateway.url).get(`/api/busy-${i}`).expect(200);
      expect(service.connections()).toBe(1);
    } finally {
      await service.close();
    }
  });

  it('sends an idempotent request that lost the race again, once, on a fresh connection', async () => {
    const service = await startRacingService(0);
    gateway = await startGateway({ routes: [{ prefix: '/api', target: service.url }] });
    try {
      const sent: string[] = [];
      for (const method of ['get', 'head', 'delete', 'put', 'options', 'get', 'head', 'delete', 'put', 'options'] as const) {
        sent.push(`${method.toUpperCase()} /${method}`);
        await request(gateway.url)[method](`/api/${method}`).expect(200);
      }
      // Requests on reused connections lost the race; each was answered once, on a fresh one.
      expect(service.raced.length).toBeGreaterThanOrEqual(4);
      expect(service.answered).toEqual(sent);
    } finally {
      await service.close();
    }
  });

  it('never sends a request with a body, nor a POST, twice: it answers 502', async () => {
    const service = await startRacingService(0);
    gateway = await startGateway({ routes: [{ prefix: '/api', target: service.url }] });
    try {
      await request(gateway.url).get('/api/first').expect(200);
      await request(gateway.url).post('/api/order').expect(502);
      await request(gateway.url).get('/api/fresh').expect(200);
      await request(gateway.url).put('/api/doc').send('body').expect(502);
      expect(service.raced).toEqual(['POST /order', 'PUT /doc']);
    } finally {
      await service.close();
    }
  });
});
