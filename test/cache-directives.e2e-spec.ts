import request from 'supertest';
import { MOUNT_MODES, startGateway, type RunningGateway } from './support/gateway.js';
import { rawRequest } from './support/raw-http.js';
import { startUpstream, type Upstream } from './support/upstream.js';
import { startWebSocketService, type WebSocketService } from './support/websocket.js';

const INSTRUCTIONS = ['x-cache-timeout', 'x-cache-expire'];

const rawUpgrade = (path: string) =>
  `GET ${path} HTTP/1.1\r\nHost: gateway.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
  `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;

// The bug: with the cache off, a service's instructions to the gateway's cache reached clients.
describe.each(MOUNT_MODES)("the cache's instructions with the cache off (%s)", (mode) => {
  let upstream: Upstream;
  let webSockets: WebSocketService;
  let gateway: RunningGateway;

  beforeAll(async () => {
    upstream = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-cache-timeout': '1 minute', 'x-cache-expire': '*/numbers', 'x-kept': 'yes' });
      res.end('answer');
    });
    webSockets = await startWebSocketService();
    gateway = await startGateway(
      {
        routes: [
          { prefix: '/plain', target: upstream.url },
          { prefix: '/pooled', targets: [upstream.url, upstream.url] },
          { prefix: '/hooked', target: upstream.url, hooks: { onResponse: (_req, reply, res) => reply.send(res) } },
          { prefix: '/ws', target: webSockets.url },
        ],
      },
      mode,
    );
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
    await webSockets.close();
  });

  it.each(['/plain/x', '/pooled/x', '/hooked/x'])('are removed from the answer to %s, the rest kept', async (path) => {
    const response = await request(gateway.url).get(path).expect(200, 'answer');
    for (const name of INSTRUCTIONS) expect(response.headers[name]).toBeUndefined();
    expect(response.headers['x-kept']).toBe('yes');
    expect(response.headers['x-cache']).toBeUndefined();
  });

  it('are removed from a declined upgrade', async () => {
    const declined = await rawRequest(Number(new URL(gateway.url).port), rawUpgrade('/ws/declined'));
    const [head] = declined.text.split('\r\n\r\n');
    expect(declined.status).toBe(403);
    for (const name of INSTRUCTIONS) expect(head).not.toMatch(new RegExp(`^${name}:`, 'im'));
  });
});

// The bug: `x-cache-timeout: 10ms` was stored for 10 ms, a unit the gateway does not take.
describe('an x-cache-timeout in milliseconds', () => {
  let upstream: Upstream;
  let gateway: RunningGateway;
  const warnings: string[] = [];

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      res.writeHead(200, { 'x-cache-timeout': req.url === '/seconds' ? '10s' : '10ms' });
      res.end('answer');
    });
    gateway = await startGateway({ cache: { store: 'memory' }, routes: [{ prefix: '/api', target: upstream.url }] });
    gateway.app.useLogger({ log: () => undefined, error: () => undefined, warn: (message: string) => void warnings.push(message) });
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('is not cached, and is named once with its route and value', async () => {
    for (let i = 0; i < 3; i++) await request(gateway.url).get('/api/millis').expect(200).expect('x-cache', 'MISS');
    expect(upstream.seen.filter((seen) => seen.url === '/millis')).toHaveLength(3);
    expect(warnings).toEqual([expect.stringMatching(/^route \/api: not cached, x-cache-timeout '10ms' .*expected seconds or longer/)]);
    await request(gateway.url).get('/api/seconds').expect('x-cache', 'MISS');
    await request(gateway.url).get('/api/seconds').expect('x-cache', 'HIT');
  });
});
