import { connect, type Socket } from 'node:net';
import { MOUNT_MODES, startGateway, type RunningGateway } from './support/gateway.js';
import { rawGet, rawRequest } from './support/raw-http.js';
import { startStandalone } from './support/standalone.js';
import { startUpstream, type Upstream } from './support/upstream.js';

const ADMIN = `Authorization: Basic ${Buffer.from('admin:pw').toString('base64')}\r\n`;

describe.each(MOUNT_MODES)('request paths (%s)', (mode) => {
  let upstream: Upstream;
  let gateway: RunningGateway;
  let port: number;

  beforeAll(async () => {
    upstream = await startUpstream();
    gateway = await startGateway(
      {
        maxUrlLength: 1024,
        routes: [
          { prefix: '/public', target: upstream.url },
          { prefix: '/admin', target: upstream.url, middlewares: [{ use: 'basicAuth', options: { users: { admin: 'pw' } } }] },
        ],
      },
      mode,
    );
    port = Number(new URL(gateway.url).port);
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it.each([
    '/public/../admin/x',
    '/public/%2e%2e/admin/x',
    '/public/%2E%2e/admin/x',
    '/public/.%2e/admin/x',
    '/public/..;/admin/x',
    '/public/..',
    '/public/./x',
    '/public//admin/x',
    '/public/..%2fadmin/x',
    '/public/x%2F..%2Fadmin',
    '/public/x%5c..%5cadmin',
    '/public/x\\..\\admin',
    '/public/x%00',
    '/public/%zz',
  ])('refuses %s with 400 and forwards nothing', async (path) => {
    const seen = upstream.seen.length;
    const res = await rawRequest(port, rawGet(path));
    expect(res.status).toBe(400);
    expect(res.text).toMatch(/\{"statusCode":400,.*"error":"Bad Request","message":".+"\}$/);
    expect(res.closedByServer).toBe(true);
    expect(upstream.seen.length).toBe(seen);
  });

  it('lets no spelling of /admin past its basic auth', async () => {
    const seen = upstream.seen.length;
    for (const path of ['//admin/x', '/ADMIN/x', '/Admin/x', '/%61dmin/x']) {
      const res = await rawRequest(port, rawGet(path));
      expect([400, 401, 404]).toContain(res.status);
    }
    expect(upstream.seen.length).toBe(seen);
    expect((await rawRequest(port, rawGet('/admin/x'))).status).toBe(401);
    expect((await rawRequest(port, rawGet('/admin/x', ADMIN))).status).toBe(200);
    expect(upstream.seen.at(-1)?.url).toBe('/x');
  });

  it('forwards paths in normal form as they are, dots inside names and the query string included', async () => {
    for (const path of ['/public/a.b/..c/...', '/public/x?path=../../admin', '/public/%41b', '/public/']) {
      const res = await rawRequest(port, rawGet(path));
      expect(res.status).toBe(200);
      expect(upstream.seen.at(-1)?.url).toBe(path.slice('/public'.length) || '/');
    }
  });

  it('answers 414 to a URL longer than maxUrlLength', async () => {
    const seen = upstream.seen.length;
    const res = await rawRequest(port, rawGet(`/public/${'a'.repeat(1100)}`));
    expect(res.status).toBe(414);
    expect(res.text).toContain('"message":"URL longer than 1024 characters"');
    expect(upstream.seen.length).toBe(seen);
    expect((await rawRequest(port, rawGet(`/public/${'a'.repeat(900)}`))).status).toBe(200);
  });
});

describe('malformed requests', () => {
  let upstream: Upstream;
  let gateway: RunningGateway;
  let port: number;

  beforeAll(async () => {
    upstream = await startUpstream();
    gateway = await startGateway({ routes: [{ prefix: '/api', target: upstream.url }] });
    port = Number(new URL(gateway.url).port);
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  const post = (headers: string, body: string) => `POST /api/x HTTP/1.1\r\nHost: gateway.test\r\n${headers}\r\n${body}`;

  it.each([
    ['two different content-lengths', post('Content-Length: 5\r\nContent-Length: 6\r\n', 'hello!')],
    ['transfer-encoding with content-length (request smuggling)', post('Transfer-Encoding: chunked\r\nContent-Length: 5\r\n', '0\r\n\r\nGET /api/smuggled HTTP/1.1\r\nHost: x\r\n\r\n')],
    ['a bare CR in a header value', rawGet('/api/x', 'X-Note: a\rb\r\n')],
    ['a header without a colon', rawGet('/api/x', 'X-Broken\r\n')],
    ['a space before the colon', rawGet('/api/x', 'X-Spaced : 1\r\n')],
    ['a malformed request line', 'GET /api/x HTTP/1.1 extra\r\nHost: x\r\n\r\n'],
    ['an invalid chunk size', post('Transfer-Encoding: chunked\r\n', 'zz\r\nhello\r\n0\r\n\r\n')],
  ])('answers 400 and closes the connection for %s, forwarding nothing', async (_name, payload) => {
    const seen = upstream.seen.length;
    const res = await rawRequest(port, payload);
    expect(res.status).toBe(400);
    expect(res.closedByServer).toBe(true);
    expect(upstream.seen.length).toBe(seen);
  });

  it('answers 431 to a header section over 16 KiB and closes the connection', async () => {
    const res = await rawRequest(port, rawGet('/api/x', `X-Big: ${'a'.repeat(17 * 1024)}\r\n`));
    expect(res.status).toBe(431);
    expect(res.closedByServer).toBe(true);
    expect(upstream.seen).toHaveLength(0);
  });

  it('keeps serving after all of them', async () => {
    const res = await rawRequest(port, rawGet('/api/ok'));
    expect(res.status).toBe(200);
    expect(upstream.seen.at(-1)?.url).toBe('/ok');
  });
});

describe('slow clients (standalone server)', () => {
  let upstream: Upstream;

  beforeAll(async () => {
    upstream = await startUpstream();
  });
  afterAll(() => upstream.close());

  it('keeps serving while 200 clients dribble their headers, and drops them after headersTimeout', async () => {
    const headersTimeout = 1000;
    const gateway = await startStandalone({ server: { headersTimeout }, routes: [{ prefix: '/api', target: upstream.url }] });
    const port = Number(new URL(gateway.url).port);
    // Before any connects: the server starts each one's headersTimeout later.
    const begun = Date.now();
    let dropped = 0;
    const lifetimes: Promise<number>[] = [];
    const dribbling = () =>
      new Promise<Socket>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => resolve(socket));
        socket.on('error', () => undefined);
        lifetimes.push(
          new Promise((closed) =>
            socket.on('close', () => {
              dropped += 1;
              closed(Date.now() - begun);
            }),
          ),
        );
        // Read, or the server's close would go unseen.
        socket.resume();
        socket.write('GET /api/slow HTTP/1.1\r\nHost: gateway.test\r\n');
      });
    const sockets = await Promise.all(Array.from({ length: 200 }, dribbling));
    try {
      const res = await fetch(`${gateway.url}/api/normal`);
      expect(res.status).toBe(200);
      // Served while they all still held their connections, not once they were gone.
      expect(dropped).toBe(0);

      // Each is dropped (the test's timeout would end a wait for Node's own check every 30 s), and
      // none before its headersTimeout ran out. How soon after depends on the machine's load.
      expect(Math.min(...(await Promise.all(lifetimes)))).toBeGreaterThanOrEqual(headersTimeout);
      expect(upstream.seen.some((seen) => seen.url === '/slow')).toBe(false);
    } finally {
      sockets.forEach((socket) => socket.destroy());
      gateway.child.kill('SIGTERM');
      await gateway.exited;
    }
  });
});
