import { request as httpRequest } from 'node:http';
import { Writable } from 'node:stream';
import { jest } from '@jest/globals';
import { pino } from 'pino';
import request from 'supertest';
import { MOUNT_MODES, startGateway, type RunningGateway } from './support/gateway.js';
import { rawGet, rawRequest } from './support/raw-http.js';
import { until } from './support/wait.js';
import { deadPort, startUpstream, type Upstream } from './support/upstream.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A pino logger whose lines land in `lines`, parsed. */
function capturingLogger(level = 'info') {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level }, stream), lines };
}

describe.each(MOUNT_MODES)('access log and request ids (%s)', (mode) => {
  let upstream: Upstream;
  let gateway: RunningGateway;
  const { logger, lines } = capturingLogger();
  const accessLines = () => lines.filter((line) => 'reqId' in line);

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-cache-timeout': req.url!.startsWith('/cached') ? '1 minute' : '' });
      if (req.url !== '/stream') return res.end('hello');
      // Never ends on its own: the client leaves first.
      const timer = setInterval(() => res.write('more '), 5);
      res.on('close', () => clearInterval(timer));
    });
    const dead = `http://127.0.0.1:${await deadPort()}`;
    gateway = await startGateway({ logger, cache: {}, routes: [{ prefix: '/api', target: upstream.url }, { prefix: '/dead', target: dead }] }, mode);
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('writes one line per request with what an operator needs', async () => {
    const res = await request(gateway.url).get('/api/hello?x=1').expect(200);
    await until(() => accessLines().length === 1);
    expect(accessLines()[0]).toMatchObject({
      level: 30,
      reqId: res.headers['x-request-id'],
      method: 'GET',
      url: '/api/hello?x=1',
      route: '/api',
      target: `${upstream.url}/`,
      status: 200,
      cache: 'MISS',
    });
    // Milliseconds to the microsecond.
    expect(accessLines()[0].durationMs).toBeGreaterThan(0);
    expect(Math.round((accessLines()[0].durationMs as number) * 1000) / 1000).toBe(accessLines()[0].durationMs);
    expect(accessLines()[0].bytes).toBeGreaterThan(5);
  });

  it('says HIT for answers from the cache, and logs refused requests too', async () => {
    await request(gateway.url).get('/api/cached').expect(200);
    await request(gateway.url).get('/api/cached').expect(200).expect('x-cache', 'HIT');
    const port = Number(new URL(gateway.url).port);
    expect((await rawRequest(port, rawGet('/api/../x'))).status).toBe(400);
    await until(() => accessLines().length === 4);
    expect(accessLines().slice(1).map((line) => [line.url, line.status, line.cache])).toEqual([
      ['/api/cached', 200, 'MISS'],
      ['/api/cached', 200, 'HIT'],
      ['/api/../x', 400, '-'],
    ]);
  });

  it('marks a response the client hung up on as aborted', async () => {
    const before = accessLines().length;
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${gateway.url}/api/stream`, (res) => res.once('data', () => req.destroy()));
      req.on('close', () => resolve());
      req.on('error', () => undefined);
      req.end();
    });
    await until(() => accessLines().length === before + 1);
    expect(accessLines().at(-1)).toMatchObject({ url: '/api/stream', status: 200, aborted: true });
  });

  it("keeps a client's sane x-request-id, replaces any other, and passes it to the service", async () => {
    const kept = await request(gateway.url).get('/api/a').set('x-request-id', 'trace-01HZX:7').expect(200);
    expect(kept.headers['x-request-id']).toBe('trace-01HZX:7');
    expect(upstream.seen.at(-1)?.headers['x-request-id']).toBe('trace-01HZX:7');

    for (const bad of ['has space', 'x'.repeat(200), 'quote"s']) {
      const replaced = await request(gateway.url).get('/api/b').set('x-request-id', bad).expect(200);
      expect(replaced.headers['x-request-id']).toMatch(UUID);
      expect(upstream.seen.at(-1)?.headers['x-request-id']).toBe(replaced.headers['x-request-id']);
    }
    const generated = await request(gateway.url).get('/api/c').expect(200);
    expect(generated.headers['x-request-id']).toMatch(UUID);
  });

  it('returns the id on every kind of answer: cache hit, 304, refused request, failed service', async () => {
    await request(gateway.url).get('/api/cached?ids').expect(200).expect('x-cache', 'MISS');
    const hit = await request(gateway.url).get('/api/cached?ids').set('x-request-id', 'hit-1').expect(200).expect('x-cache', 'HIT');
    expect(hit.headers['x-request-id']).toBe('hit-1');
    const notModified = await request(gateway.url).get('/api/cached?ids').set('if-none-match', hit.headers.etag).set('x-request-id', 'hit-2').expect(304);
    expect(notModified.headers['x-request-id']).toBe('hit-2');
    const refused = await request(gateway.url).get('/api/a/../b').set('x-request-id', 'refused-1').expect(400);
    expect(refused.headers['x-request-id']).toBe('refused-1');
    const failed = await request(gateway.url).get('/dead/x').set('x-request-id', 'dead-1').expect(502);
    expect(failed.headers['x-request-id']).toBe('dead-1');
  });
});

describe('access log switched off', () => {
  it.each([
    ['a level above info', { level: 'warn', accessLog: undefined }],
    ['accessLog: false', { level: 'info', accessLog: false }],
  ])('makes no access log call with %s', async (_name, { level, accessLog }) => {
    const upstream = await startUpstream();
    const { logger, lines } = capturingLogger(level);
    const info = jest.spyOn(logger, 'info');
    const gateway = await startGateway({ logger, accessLog, routes: [{ prefix: '/api', target: upstream.url }] });
    try {
      const res = await request(gateway.url).get('/api/x').expect(200);
      expect(res.headers['x-request-id']).toMatch(UUID);
      expect(info).not.toHaveBeenCalled();
      expect(lines.filter((line) => 'reqId' in line)).toEqual([]);
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });
});
