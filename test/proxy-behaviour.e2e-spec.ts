import request from 'supertest';
import { gatewayModule, MOUNT_MODES, startApp, startGateway, type RunningGateway } from './support/gateway.js';
import { rawGet, rawRequest } from './support/raw-http.js';
import { startUpstream, type Upstream } from './support/upstream.js';

describe.each(MOUNT_MODES)('proxy behaviour (%s)', (mode) => {
  let upstream: Upstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    upstream = await startUpstream((req, res, body) => {
      const url = new URL(req.url!, 'http://upstream');
      if (url.pathname === '/status') {
        res.writeHead(Number(url.searchParams.get('code')), { 'set-cookie': ['a=1', 'b=2'], 'x-multi': 'x' });
        res.end(req.method === 'HEAD' ? undefined : 'status body');
        return;
      }
      if (url.pathname === '/hop-headers') {
        res.writeHead(200, { connection: 'keep-alive, x-hop', 'keep-alive': 'timeout=5', 'x-hop': 'private', 'x-end': 'kept' });
        res.end('ok');
        return;
      }
      if (url.pathname === '/framing-hop') {
        // A Connection that names the framing: the gateway frames each hop, and keeps it.
        res.writeHead(200, { connection: 'content-length, x-hop', 'content-length': '2', 'x-hop': 'private' });
        res.end('ok');
        return;
      }
      if (url.pathname === '/trailer-hop') {
        res.writeHead(200, { trailer: 'x-sum' });
        res.addTrailers({ 'x-sum': '1' });
        res.end('ok');
        return;
      }
      if (url.pathname === '/no-content') {
        res.writeHead(204);
        res.end();
        return;
      }
      if (url.pathname === '/not-modified') {
        res.writeHead(304, { etag: '"v1"' });
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: body.toString() }));
    });
    gateway = await startGateway(
      {
        pathRegex: '/*',
        routes: [
          { prefix: '/limited', target: upstream.url, methods: ['GET', 'POST'] },
          { prefix: '/exact', target: upstream.url, pathRegex: '' },
          { prefix: '/param', target: upstream.url, pathRegex: '/:id' },
          { prefix: '/svc', target: `${upstream.url}/base` },
        ],
      },
      mode,
    );
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('passes status codes and multi-valued headers through', async () => {
    const res = await request(gateway.url).get('/limited/status?code=418').expect(418);
    expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(res.text).toBe('status body');
  });

  it('forwards every allowed method and refuses the others without reaching the target', async () => {
    const res = await request(gateway.url).post('/limited/items').send('x=1').expect(200);
    expect(res.body.method).toBe('POST');
    const before = upstream.seen.length;
    await request(gateway.url).delete('/limited/items').expect(405);
    await request(gateway.url).put('/limited/items').expect(405);
    expect(upstream.seen.length).toBe(before);
  });

  it('answers HEAD on GET routes', async () => {
    const res = await request(gateway.url).head('/limited/status?code=200').expect(200);
    expect(res.headers['x-multi']).toBe('x');
  });

  it("limits '' pathRegex to the prefix path", async () => {
    expect((await request(gateway.url).get('/exact?q=1').expect(200)).body.url).toBe('/?q=1');
    await request(gateway.url).get('/exact/below').expect(404);
  });

  it('accepts fastify path patterns as pathRegex', async () => {
    expect((await request(gateway.url).get('/param/42').expect(200)).body.url).toBe('/42');
    await request(gateway.url).get('/param/42/deeper').expect(404);
  });

  it('joins the target path with the forwarded path', async () => {
    expect((await request(gateway.url).get('/svc/x').expect(200)).body.url).toBe('/base/x');
  });

  it("appends the client's address to X-Forwarded-For and sets the protocol and host itself", async () => {
    const res = await request(gateway.url)
      .get('/limited/x')
      .set('x-forwarded-for', '10.0.0.1')
      .set('x-forwarded-proto', 'https')
      .set('x-forwarded-host', 'evil.example')
      .set('x-forwarded-port', '444')
      .expect(200);
    expect(res.body.headers['x-forwarded-for']).toBe('10.0.0.1, 127.0.0.1');
    expect(res.body.headers['x-forwarded-proto']).toBe('http');
    expect(res.body.headers['x-forwarded-host']).toBe(new URL(gateway.url).host);
    expect(res.body.headers['x-forwarded-port']).toBeUndefined();
    const direct = await request(gateway.url).get('/limited/x').expect(200);
    expect(direct.body.headers['x-forwarded-for']).toBe('127.0.0.1');
  });

  it('drops hop-by-hop headers, including those named in Connection', async () => {
    const res = await request(gateway.url)
      .get('/limited/x')
      .set('connection', 'keep-alive, x-secret-hop')
      .set('x-secret-hop', 'drop me')
      .set('proxy-authorization', 'Basic Zm9v')
      .set('te', 'trailers')
      .set('x-kept', 'kept')
      .expect(200);
    expect(res.body.headers['x-secret-hop']).toBeUndefined();
    expect(res.body.headers['proxy-authorization']).toBeUndefined();
    expect(res.body.headers.te).toBeUndefined();
    expect(res.body.headers['x-kept']).toBe('kept');
  });

  it("keeps the framing a service's Connection names, and drops its Trailer", async () => {
    const framed = await request(gateway.url).get('/limited/framing-hop').expect(200);
    expect(framed.headers['content-length']).toBe('2');
    expect(framed.headers['x-hop']).toBeUndefined();
    expect(framed.text).toBe('ok');
    const trailed = await request(gateway.url).get('/limited/trailer-hop').expect(200);
    expect(trailed.headers.trailer).toBeUndefined();
    expect(trailed.text).toBe('ok');
  });

  it("drops a client's Trailer and its trailer fields: the gateway frames the body it forwards", async () => {
    const sent = await rawRequest(
      Number(new URL(gateway.url).port),
      'POST /limited/x HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\nTrailer: x-checksum\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nx-checksum: 1\r\n\r\n',
    );
    expect(sent.status).toBe(200);
    const echoed = /\{"method".*\}/.exec(sent.text)![0];
    const { headers, body } = JSON.parse(echoed) as { headers: Record<string, string>; body: string };
    expect(body).toBe('hi');
    expect(headers.trailer).toBeUndefined();
    expect(headers['x-checksum']).toBeUndefined();
  });

  it("drops the service's hop-by-hop response headers and closes when the client asked", async () => {
    const res = await request(gateway.url).get('/limited/hop-headers').expect(200);
    expect(res.headers['keep-alive']).toBeUndefined();
    expect(res.headers['x-hop']).toBeUndefined();
    expect(res.headers['x-end']).toBe('kept');
    const port = Number(new URL(gateway.url).port);
    const closing = await rawRequest(port, rawGet('/limited/hop-headers'));
    expect(closing.text).toMatch(/\r\nconnection: close\r\n/i);
    expect(closing.closedByServer).toBe(true);
  });

  it('returns 204 and 304 at once', async () => {
    await request(gateway.url).get('/limited/no-content').timeout(2000).expect(204);
    const res = await request(gateway.url).get('/limited/not-modified').timeout(2000).expect(304);
    expect(res.headers.etag).toBe('"v1"');
  });
});

describe('behind a trusted proxy (fastify trustProxy)', () => {
  let upstream: Upstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    upstream = await startUpstream();
    gateway = await startApp(gatewayModule({ routes: [{ prefix: '/api', target: upstream.url }] }), { trustProxy: '127.0.0.1' });
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it("forwards the proxy's X-Forwarded-Proto and -Host and still appends to X-Forwarded-For", async () => {
    const res = await request(gateway.url)
      .get('/api/x')
      .set('x-forwarded-for', '203.0.113.7')
      .set('x-forwarded-proto', 'https')
      .set('x-forwarded-host', 'api.example.com')
      .expect(200);
    const seen = upstream.seen.at(-1)!.headers;
    expect(seen['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('https');
    expect(seen['x-forwarded-host']).toBe('api.example.com');
    expect(res.status).toBe(200);
  });
});
