import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import request from 'supertest';
import { validateGatewayOptions } from '../src/index.js';
import { MOUNT_MODES, startGateway, type RunningGateway } from './support/gateway.js';
import { sample } from './support/prometheus.js';
import { rawRequest } from './support/raw-http.js';
import { deadPort, startUpstream, type Upstream } from './support/upstream.js';
import { startCachedUpstream } from './support/cached-upstream.js';
import { until } from './support/wait.js';
import type { WebSocket } from 'ws';
import { closed, mustOpen, openTcpHandles, openWebSocket, roundTrip, startWebSocketService, type WebSocketService } from './support/websocket.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const CREDENTIALS = `Basic ${Buffer.from('admin:s3cr3t-pass').toString('base64')}`;

/** A raw upgrade request for `path` exactly as written. */
const rawUpgrade = (path: string) =>
  `GET ${path} HTTP/1.1\r\nHost: gateway.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
  `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;

describe.each(MOUNT_MODES)('WebSocket upgrades (%s)', (mode) => {
  let service: WebSocketService;
  let upstream: Upstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    service = await startWebSocketService();
    upstream = await startUpstream();
    gateway = await startGateway(
      {
        routes: [
          { prefix: '/ws', target: service.url, prefixRewrite: '/api' },
          { prefix: '/public', target: service.url },
          { prefix: '/admin', target: service.url, middlewares: [{ use: 'basicAuth', options: { users: { admin: 's3cr3t-pass' } } }] },
          { prefix: '/http-only', target: upstream.url, websocket: false },
          { prefix: '/no-get', target: service.url, methods: ['POST'] },
          {
            prefix: '/hooked',
            target: service.url,
            hooks: {
              onRequest(req, reply) {
                if (req.headers['x-api-key'] === 'k1') return false;
                void reply.code(403).send({ statusCode: 403, message: 'missing api key' });
                return true;
              },
            },
          },
          { prefix: '/dead', target: `http://127.0.0.1:${await deadPort()}` },
        ],
      },
      mode,
    );
  });
  afterAll(async () => {
    await gateway.close();
    await service.close();
    await upstream.close();
  });
  beforeEach(() => {
    service.seen.length = 0;
    upstream.seen.length = 0;
  });

  it.each([
    ['1 B', 1],
    ['64 KiB', 64 * KiB],
    ['4 MiB', 4 * MiB],
  ])('echoes text and binary frames of %s byte-exact both ways', async (_label, size) => {
    const ws = await mustOpen(`${gateway.url}/public/echo`);
    const binary = randomBytes(size);
    const echoedBinary = await roundTrip(ws, binary);
    expect(echoedBinary.isBinary).toBe(true);
    expect(Buffer.compare(echoedBinary.data, binary)).toBe(0);
    const text = 'é'.repeat(Math.floor(size / 2)) + 'x'.repeat(size % 2);
    const echoedText = await roundTrip(ws, text);
    expect(echoedText.isBinary).toBe(false);
    expect(echoedText.data.toString('utf8')).toBe(text);
    ws.close();
    await closed(ws);
  });

  it('applies prefixRewrite to the upgrade URL and sends X-Forwarded-* and the request id, without hop-by-hop headers', async () => {
    const ws = await mustOpen(`${gateway.url}/ws/chat?room=1`, { 'x-request-id': 'ws-1', 'keep-alive': 'timeout=5', 'proxy-authorization': 'Basic eA==' });
    ws.close();
    await closed(ws);
    expect(service.seen).toHaveLength(1);
    const [{ url, headers }] = service.seen;
    expect(url).toBe('/api/chat?room=1');
    expect(headers.upgrade).toBe('websocket');
    expect(headers.connection).toMatch(/upgrade/i);
    expect(headers['x-request-id']).toBe('ws-1');
    expect(headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(headers['x-forwarded-proto']).toBe('http');
    expect(headers['x-forwarded-host']).toBe(new URL(gateway.url).host);
    expect(headers.host).toBe(`127.0.0.1:${service.port}`);
    expect(headers['keep-alive']).toBeUndefined();
    expect(headers['proxy-authorization']).toBeUndefined();
  });

  it('refuses an upgrade without credentials on a basicAuth route with a plain 401, never contacting the target', async () => {
    const refused = await openWebSocket(`${gateway.url}/admin/live`);
    expect(refused.status).toBe(401);
    expect(refused.ws ? undefined : refused.headers['www-authenticate']).toMatch(/^Basic/);
    expect(service.seen).toHaveLength(0);
    const ws = await mustOpen(`${gateway.url}/admin/live`, { authorization: CREDENTIALS });
    expect((await roundTrip(ws, 'hello')).data.toString()).toBe('hello');
    ws.close();
    await closed(ws);
    expect(service.seen.map((seen) => seen.url)).toEqual(['/live']);
  });

  it.each(['/public/../admin/live', '/public/%2e%2e/admin/live', '/public//admin/live', '/public/.%2E/admin'])(
    'refuses the path trick %s for upgrades too (400, connection closed, target never contacted)',
    async (path) => {
      const response = await rawRequest(Number(new URL(gateway.url).port), rawUpgrade(path));
      expect(response.status).toBe(400);
      expect(response.closedByServer).toBe(true);
      expect(service.seen).toHaveLength(0);
    },
  );

  it('lets no spelling of /admin past its basic auth for upgrades (//admin, /ADMIN, /%61dmin)', async () => {
    for (const path of ['//admin/live', '/ADMIN/live', '/%61dmin/live']) {
      const response = await rawRequest(Number(new URL(gateway.url).port), rawUpgrade(path));
      expect([400, 401, 404]).toContain(response.status);
      expect(response.closedByServer).toBe(true);
    }
    expect(service.seen).toHaveLength(0);
  });

  it('runs the onRequest hook on upgrades: it can refuse, or let the upgrade through', async () => {
    const refused = await openWebSocket(`${gateway.url}/hooked/x`);
    expect(refused.status).toBe(403);
    expect(service.seen).toHaveLength(0);
    const ws = await mustOpen(`${gateway.url}/hooked/x`, { 'x-api-key': 'k1' });
    ws.close();
    await closed(ws);
    expect(service.seen).toHaveLength(1);
  });

  it("applies the route's methods (an upgrade is a GET): a route without GET answers 405", async () => {
    expect((await openWebSocket(`${gateway.url}/no-get/x`)).status).toBe(405);
    expect((await openWebSocket(`${gateway.url}/nowhere/x`)).status).toBe(404);
    expect(service.seen).toHaveLength(0);
  });

  it('forwards an upgrade on a `websocket: false` route as a plain GET, never upgraded', async () => {
    const answered = await openWebSocket(`${gateway.url}/http-only/x`);
    expect(answered.status).toBe(200);
    expect(upstream.seen).toHaveLength(1);
    expect(upstream.seen[0].headers.upgrade).toBeUndefined();
  });

  it('passes on the answer of a target that does not switch protocols', async () => {
    const answered = await openWebSocket(`${gateway.url}/public/plain`);
    expect(answered.status).toBe(200);
    expect(answered.ws).toBeUndefined();
  });

  it('serves an upgrade to another protocol (h2c) as a plain request', async () => {
    const response = await rawRequest(
      Number(new URL(gateway.url).port),
      'GET /public/plain HTTP/1.1\r\nHost: gateway.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n',
    );
    expect(response.status).toBe(200);
    expect(response.text).toMatch(/plain$/);
    expect(service.seen[0].headers.upgrade).toBeUndefined();
  });

  // Node ≥ 24.9 asks the server which upgrades it takes (`shouldUpgradeCallback`); Node 20
  // hands every one over with its body unread, and such a request is refused instead.
  const nodeAsksAboutUpgrades = 'shouldUpgradeCallback' in createHttpServer();

  it.each([
    ['a POST asking for h2c, as curl --http2 sends it', 'POST', 'Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Length: 11\r\n\r\nhello world'],
    ['a chunked PUT asking for another protocol', 'PUT', 'Upgrade: foo/2\r\nConnection: Upgrade\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n'],
    ['a POST asking for websocket (a handshake is a GET)', 'POST', 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nContent-Length: 11\r\n\r\nhello world'],
  ])('never forwards %s without its body', async (_label, method, rest) => {
    const response = await rawRequest(Number(new URL(gateway.url).port), `${method} /http-only/x HTTP/1.1\r\nHost: gateway.test\r\n${rest}`, 1000);
    if (nodeAsksAboutUpgrades) {
      expect(response.status).toBe(200);
      expect(upstream.seen).toHaveLength(1);
      expect(upstream.seen[0]).toMatchObject({ method, bodyBytes: 11 });
      expect(response.text).toContain('"body":"hello world"');
    } else {
      expect(response.status).toBe(400);
      expect(response.text).toMatch(/"message":"a request body with an Upgrade other than websocket is not supported"/);
      expect(upstream.seen).toHaveLength(0);
    }
  });

  it('refuses a WebSocket handshake with a body off the WebSocket routes, on every Node line: Node left its body unread', async () => {
    const response = await rawRequest(Number(new URL(gateway.url).port), `${rawUpgrade('/http-only/x').slice(0, -2)}Content-Length: 5\r\n\r\nhello`);
    expect(response.status).toBe(400);
    expect(response.closedByServer).toBe(true);
    expect(upstream.seen).toHaveLength(0);
  });

  it('answers 502 when the target is unreachable', async () => {
    const answered = await openWebSocket(`${gateway.url}/dead/x`);
    expect(answered.status).toBe(502);
  });
});

describe('WebSocket limits and lifecycle', () => {
  let service: WebSocketService;

  beforeEach(async () => {
    service = await startWebSocketService();
  });
  afterEach(async () => {
    await service.close();
  });

  it('answers 503 beyond websocketMaxConnections, and admits again once one closed', async () => {
    const gateway = await startGateway({ websocketMaxConnections: 2, routes: [{ prefix: '/ws', target: service.url }] });
    try {
      const first = await mustOpen(`${gateway.url}/ws/a`);
      const second = await mustOpen(`${gateway.url}/ws/b`);
      const third = await openWebSocket(`${gateway.url}/ws/c`);
      expect(third.status).toBe(503);
      expect(third.ws ? undefined : third.headers['retry-after']).toBe('1');
      expect(service.seen).toHaveLength(2);
      first.close();
      await closed(first);
      await until(async () => (await openWebSocket(`${gateway.url}/ws/d`)).status === 101, 'a free place');
      second.close();
      await closed(second);
    } finally {
      for (const ws of service.sockets) ws.terminate();
      await gateway.close();
    }
  });

  it('closes both sides after websocketIdleTimeout without a frame; frames either way keep the connection open', async () => {
    const gateway = await startGateway({ routes: [{ prefix: '/ws', target: service.url, websocketIdleTimeout: 400 }] });
    try {
      const busy = await mustOpen(`${gateway.url}/ws/busy`);
      const idle = await mustOpen(`${gateway.url}/ws/idle`);
      const idleClosed = closed(idle);
      // The service speaks every 150 ms on one connection; the client never does.
      const serviceSide = service.sockets[0];
      const ticker = setInterval(() => serviceSide.send('tick'), 150);
      await idleClosed;
      await until(() => service.closed >= 1, 'the service side of the idle connection to close');
      await new Promise((resolve) => setTimeout(resolve, 500));
      clearInterval(ticker);
      expect(busy.readyState).toBe(busy.OPEN);
      busy.close();
      await closed(busy);
    } finally {
      await gateway.close();
    }
  });

  it.each([
    ['closes its connection', (ws: WebSocket) => ws.terminate()],
    // An RST, not a FIN: the gateway's socket to the target errs instead of ending.
    ['resets its connection', (ws: WebSocket) => (ws as unknown as { _socket: Socket })._socket.resetAndDestroy()],
  ])('closes the client when the target %s, and the target when the client dies, leaving no socket open', async (_how, endTargetSide) => {
    const gateway = await startGateway({ routes: [{ prefix: '/ws', target: service.url }] });
    const before = openTcpHandles();
    try {
      const client = await mustOpen(`${gateway.url}/ws/a`);
      await roundTrip(client, 'x');
      endTargetSide(service.sockets[0]);
      await closed(client);
      const other = await mustOpen(`${gateway.url}/ws/b`);
      await roundTrip(other, 'x');
      other.terminate();
      await until(() => service.closed === 2, 'the service to see the client leave');
      await until(() => openTcpHandles() <= before, 'every socket to close');
    } finally {
      await gateway.close();
    }
  });

  it('gives open connections the shutdown grace period, then closes both sides', async () => {
    const gateway = await startGateway({ server: { shutdownGracePeriod: 500 }, routes: [{ prefix: '/ws', target: service.url }] });
    const ws = await mustOpen(`${gateway.url}/ws/a`);
    const wsClosed = closed(ws);
    const closing = gateway.close();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(ws.readyState).toBe(ws.OPEN);
    expect((await roundTrip(ws, 'still here')).data.toString()).toBe('still here');
    await wsClosed;
    await closing;
    await until(() => service.closed === 1, 'the service side to close');
  });

  it('counts upgraded connections, upgrades by result and bytes each way, and writes one access line per connection at its close', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
          done();
        },
      }),
    );
    const gateway = await startGateway({
      logger,
      routes: [
        { prefix: '/ws', target: service.url },
        { prefix: '/admin', target: service.url, middlewares: [{ use: 'basicAuth', options: { users: { a: 'b' } } }] },
      ],
    });
    try {
      const ws = await mustOpen(`${gateway.url}/ws/a`, { 'x-request-id': 'conn-1' });
      await roundTrip(ws, Buffer.alloc(1000));
      let metrics = (await request(gateway.url).get('/metrics')).text;
      expect(sample(metrics, 'nest_gateway_websocket_connections')).toBe(1);
      expect((await openWebSocket(`${gateway.url}/admin/a`)).status).toBe(401);
      ws.close();
      await closed(ws);
      await until(() => lines.some((line) => line.reqId === 'conn-1' && line.status === 101), 'the connection line');
      metrics = (await request(gateway.url).get('/metrics')).text;
      expect(sample(metrics, 'nest_gateway_websocket_connections')).toBe(0);
      expect(sample(metrics, 'nest_gateway_websocket_upgrades_total', { result: 'upgraded' })).toBe(1);
      expect(sample(metrics, 'nest_gateway_websocket_upgrades_total', { result: 'refused' })).toBe(1);
      expect(sample(metrics, 'nest_gateway_websocket_bytes_total', { direction: 'from_client' })).toBeGreaterThanOrEqual(1000);
      expect(sample(metrics, 'nest_gateway_websocket_bytes_total', { direction: 'to_client' })).toBeGreaterThanOrEqual(1000);
      const line = lines.find((entry) => entry.reqId === 'conn-1')!;
      expect(line).toMatchObject({ method: 'GET', url: '/ws/a', route: '/ws', status: 101, websocket: true });
      // Milliseconds to the microsecond.
      expect(line.durationMs).toBeGreaterThan(0);
      expect(Math.round((line.durationMs as number) * 1000) / 1000).toBe(line.durationMs);
      expect(line.bytesIn as number).toBeGreaterThanOrEqual(1000);
      expect(line.bytesOut as number).toBeGreaterThanOrEqual(1000);
      expect(lines.filter((entry) => entry.reqId === 'conn-1')).toHaveLength(1);
    } finally {
      await gateway.close();
    }
  });
});

describe('WebSocket upgrades to a silent target', () => {
  let silent: Server;
  const accepted: Socket[] = [];

  beforeAll(async () => {
    silent = createServer((socket) => {
      accepted.push(socket);
      socket.on('error', () => undefined);
      // Reads (and drops) the request, so that it sees the gateway close the connection.
      socket.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const socket of accepted) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it("answers 504 when the target does not answer the upgrade within the route's timeout, and leaves no connection to it", async () => {
    const gateway = await startGateway({ routes: [{ prefix: '/ws', target: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, timeout: 200 }] });
    try {
      const answered = await openWebSocket(`${gateway.url}/ws/x`);
      expect(answered.status).toBe(504);
      await until(() => accepted.length === 1 && accepted[0].destroyed, 'the connection to the target to close');
    } finally {
      await gateway.close();
    }
  });

  it("closes the connection to the target when the client leaves before the target answered, by the route's timeout at the latest", async () => {
    const gateway = await startGateway({ routes: [{ prefix: '/ws', target: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, timeout: 300 }] });
    try {
      const before = accepted.length;
      const client = connect(Number(new URL(gateway.url).port), '127.0.0.1', () => client.write(rawUpgrade('/ws/x')));
      await until(() => accepted.length === before + 1, 'the upgrade to reach the target');
      client.destroy();
      await until(() => accepted[before].destroyed, 'the connection to the target to close');
    } finally {
      await gateway.close();
    }
  });
});

describe('WebSocket upgrades the client leaves as the target accepts them', () => {
  let target: Server;
  const waiting: Socket[] = [];

  beforeAll(async () => {
    target = createServer((socket) => {
      socket.on('error', () => undefined);
      let head = '';
      socket.on('data', (chunk: Buffer) => {
        head += chunk.toString('latin1');
        if (head.includes('\r\n\r\n')) waiting.push(socket);
      });
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const socket of waiting) socket.destroy();
    await new Promise((resolve) => target.close(resolve));
  });

  it('closes the upgraded connection to the target and counts no open connection', async () => {
    const gateway = await startGateway({ routes: [{ prefix: '/ws', target: `http://127.0.0.1:${(target.address() as AddressInfo).port}` }] });
    try {
      const client = connect(Number(new URL(gateway.url).port), '127.0.0.1', () => client.write(rawUpgrade('/ws/x')));
      client.on('error', () => undefined);
      await until(() => waiting.length === 1, 'the upgrade to reach the target');
      const [upstream] = waiting;
      // Sent in one tick, so that the gateway reads the client's reset and the target's 101 in one
      // turn of its event loop: the client's socket is destroyed, its 'close' not yet emitted.
      client.resetAndDestroy();
      upstream.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n');
      await until(() => upstream.destroyed || upstream.readableEnded, 'the connection to the target to close');
      const metrics = (await request(gateway.url).get('/metrics')).text;
      expect(sample(metrics, 'nest_gateway_websocket_connections')).toBe(0);
      expect(sample(metrics, 'nest_gateway_websocket_upgrades_total', { result: 'upgraded' })).toBeUndefined();
    } finally {
      await gateway.close();
    }
  });
});

describe('a declined WebSocket upgrade', () => {
  let service: WebSocketService;
  let upstream: Awaited<ReturnType<typeof startCachedUpstream>>;
  let gateway: RunningGateway;

  beforeAll(async () => {
    service = await startWebSocketService();
    upstream = await startCachedUpstream();
    gateway = await startGateway({
      cache: { store: 'memory' },
      routes: [
        { prefix: '/ws', target: service.url },
        { prefix: '/api', target: upstream.url },
      ],
    });
  });
  afterAll(async () => {
    await gateway.close();
    await service.close();
    await upstream.close();
  });

  it("is answered through the gateway's response rules: its expiry runs, no instruction or connection header reaches the client", async () => {
    await request(gateway.url).get('/api/numbers').expect('x-cache', 'MISS');
    await request(gateway.url).get('/api/numbers').expect('x-cache', 'HIT');
    const declined = await rawRequest(Number(new URL(gateway.url).port), rawUpgrade('/ws/declined'));
    const [head, body] = declined.text.split('\r\n\r\n');
    expect(declined.status).toBe(403);
    expect(declined.closedByServer).toBe(true);
    for (const name of ['x-cache-timeout', 'x-cache-expire', 'keep-alive']) expect(head).not.toMatch(new RegExp(`^${name}:`, 'im'));
    expect(head).toMatch(/^connection: close$/im);
    expect(head).toMatch(/^x-request-id: (?!the-service-id)\S+$/im);
    expect(head.match(/^x-request-id:/gim)).toHaveLength(1);
    expect(body).toBe('2\r\nno\r\n0');
    await request(gateway.url).get('/api/numbers').expect('x-cache', 'MISS');
  });
});

describe('WebSocket options', () => {
  it.each([
    [{ routes: [{ prefix: '/a', target: 'http://127.0.0.1:1', websocket: 'yes' }] }, 'routes[0].websocket'],
    [{ routes: [{ prefix: '/a', target: 'http://127.0.0.1:1', websocketIdleTimeout: 0 }] }, 'routes[0].websocketIdleTimeout'],
    [{ websocketMaxConnections: -1, routes: [{ prefix: '/a', target: 'http://127.0.0.1:1' }] }, 'websocketMaxConnections'],
  ])('refuses %j naming %s', (options, field) => {
    expect(() => validateGatewayOptions(options)).toThrow(new RegExp(`${field.replace(/[[\]]/g, '\\$&')}:`));
  });
});
