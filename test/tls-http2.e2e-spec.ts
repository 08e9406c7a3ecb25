import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect as h2connect, type ClientHttp2Session, type IncomingHttpHeaders as H2Headers, type OutgoingHttpHeaders } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { type AddressInfo, connect as tcpConnect } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { LoggerService } from '@nestjs/common';
import type { GatewayOptions } from '../src/index.js';
import { resolveGatewayOptions } from '../src/config/resolve-options.js';
import { createListener, drainOnSignals, type GatewayListener, readCertificatePair } from '../src/server/index.js';
import { createTestCa, type IssuedCertificate, type TestCa } from './support/certificates.js';
import { gatewayModule, type RunningGateway, startApp } from './support/gateway.js';
import { until } from './support/wait.js';
import { openWebSocket, startWebSocketService, type WebSocketService } from './support/websocket.js';

const MiB = 1 << 20;
const quiet: LoggerService = { log: () => undefined, warn: () => undefined, error: () => undefined };
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
/** 1 MiB that is not one byte repeated: a reordered or dropped chunk changes its hash. */
const PAYLOAD = Buffer.from(Array.from({ length: MiB }, (_, i) => (i * 31 + (i >> 8)) & 0xff));

interface Recorded {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * An HTTP/1.1 service that records each request's body and every byte it was sent. `/download`
 * answers PAYLOAD (with `content-length` unless `?chunked`), `/cookies` sets two cookies
 * beside connection headers of its own, anything else echoes the body's length and hash.
 */
async function startRecordingService() {
  const requests: Recorded[] = [];
  const bytes: Buffer[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      if (req.url!.startsWith('/download')) {
        res.writeHead(200, req.url!.includes('chunked') ? {} : { 'content-length': String(PAYLOAD.length) });
        return res.end(PAYLOAD);
      }
      if (req.url === '/cookies') {
        res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Path=/']);
        res.writeHead(200, { connection: 'keep-alive', 'keep-alive': 'timeout=5', 'proxy-connection': 'keep-alive', 'transfer-encoding': 'chunked' });
        return res.end('cookies');
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ bytes: body.length, sha256: sha256(body) }));
    });
  });
  server.on('connection', (socket) => socket.on('data', (chunk: Buffer) => bytes.push(chunk)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    raw: () => Buffer.concat(bytes).toString('latin1'),
    reset: () => {
      requests.length = 0;
      bytes.length = 0;
    },
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

interface Listening {
  gateway: RunningGateway;
  listener: GatewayListener;
  port: number;
}

/** The gateway with the standalone server's listener for `options.server`, in this process (its lines counted). */
async function startListening(options: GatewayOptions): Promise<Listening> {
  const { server } = resolveGatewayOptions(options);
  const http = { headersTimeout: server.headersTimeout, connectionsCheckingInterval: Math.ceil(server.headersTimeout / 4) };
  const listener = createListener(server, http, server.tls && readCertificatePair(server.tls))!;
  const gateway = await startApp(gatewayModule(options), { return503OnClosing: false, serverFactory: listener.serverFactory as never });
  return { gateway, listener, port: Number(new URL(gateway.url).port) };
}

interface H2Answer {
  headers: H2Headers;
  body: Buffer;
}

/** One request on an HTTP/2 session; `body` undefined sends none (END_STREAM on the HEADERS frame). */
async function h2Request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: Buffer): Promise<H2Answer> {
  const stream = session.request(headers, { endStream: body === undefined });
  if (body !== undefined) {
    // Several DATA frames, none of which says how long the body is.
    for (let offset = 0; offset < body.length; offset += 100_000) stream.write(body.subarray(offset, offset + 100_000));
    stream.end();
  }
  const [answerHeaders] = (await once(stream, 'response')) as [H2Headers];
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(stream, 'end');
  return { headers: answerHeaders, body: Buffer.concat(chunks) };
}

/** An HTTP/1.1 request (no ALPN: the server picks HTTP/1.1) over TLS or not. */
function h1Request(url: string, path: string, options: { ca?: string; method?: string; body?: Buffer } = {}): Promise<{ status: number; version: string; headers: IncomingHttpHeaders; body: Buffer }> {
  const send = url.startsWith('https') ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(`${url}${path}`, { method: options.method ?? 'GET', ca: options.ca, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, version: res.httpVersion, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The TLS version a handshake settles on, or the error that refused it. */
function handshake(port: number, options: ConnectionOptions): Promise<{ protocol?: string | null; fingerprint?: string; error?: string }> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ port, host: '127.0.0.1', ...options }, () => {
      resolve({ protocol: socket.getProtocol(), fingerprint: socket.getPeerCertificate().fingerprint256 });
      socket.end();
    });
    socket.on('error', (error) => resolve({ error: error.message }));
  });
}

describe('TLS and HTTP/2 listeners', () => {
  let ca: TestCa;
  let certificate: IssuedCertificate;
  let service: Awaited<ReturnType<typeof startRecordingService>>;
  const routes = () => [{ prefix: '/api', target: service.url }];
  const tls = () => ({ cert: certificate.certFile, key: certificate.keyFile });

  beforeAll(async () => {
    ca = createTestCa();
    certificate = ca.issue('server');
    service = await startRecordingService();
  });
  afterAll(() => service.close());
  beforeEach(() => service.reset());

  describe('server.tls alone', () => {
    let running: Listening;
    beforeAll(async () => {
      running = await startListening({ routes: routes(), server: { tls: tls() } });
    });
    afterAll(() => running.gateway.close());

    it('serves HTTPS with the configured certificate, and tells the service x-forwarded-proto: https', async () => {
      expect(running.gateway.url).toMatch(/^https:/);
      const answer = await h1Request(running.gateway.url, '/api/hello', { ca: ca.ca });
      expect(answer.status).toBe(200);
      expect(service.requests[0].headers['x-forwarded-proto']).toBe('https');
      expect((await handshake(running.port, { ca: ca.ca })).fingerprint).toBe(certificate.fingerprint);
    });

    it('refuses TLS 1.0 and 1.1 by default, from a client that would speak them', async () => {
      // SECLEVEL=0 lets this client's OpenSSL offer 1.0/1.1 at all: the refusal is the server's.
      const old = { ca: ca.ca, minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' } as const;
      expect((await handshake(running.port, { ...old, maxVersion: 'TLSv1.1' })).error).toBeDefined();
      expect((await handshake(running.port, { ...old, maxVersion: 'TLSv1' })).error).toBeDefined();
      expect((await handshake(running.port, { ca: ca.ca, maxVersion: 'TLSv1.2' })).protocol).toBe('TLSv1.2');
    });

    it('answers an HTTP/2 client with HTTP/1.1 only: no h2 without server.http2', async () => {
      const alpn = await new Promise<string | false | null>((resolve, reject) => {
        const socket = tlsConnect({ port: running.port, host: '127.0.0.1', ca: ca.ca, ALPNProtocols: ['h2', 'http/1.1'] }, () => {
          resolve(socket.alpnProtocol);
          socket.end();
        });
        socket.on('error', reject);
      });
      expect(alpn).toBe('http/1.1');
    });
  });

  it('with minVersion TLSv1.3, refuses TLS 1.2', async () => {
    const running = await startListening({ routes: routes(), server: { tls: { ...tls(), minVersion: 'TLSv1.3' } } });
    try {
      expect((await handshake(running.port, { ca: ca.ca, maxVersion: 'TLSv1.2' })).error).toBeDefined();
      expect((await handshake(running.port, { ca: ca.ca })).protocol).toBe('TLSv1.3');
    } finally {
      await running.gateway.close();
    }
  });

  it('drops a client late with its TLS handshake after headersTimeout; closes an idle HTTP/2 session after keepAliveTimeout; allows 128 streams per session', async () => {
    const running = await startListening({ routes: routes(), server: { tls: tls(), http2: true, headersTimeout: 1000, keepAliveTimeout: 1000 } });
    try {
      const mute = tcpConnect(running.port, '127.0.0.1');
      await once(mute, 'connect');
      const started = Date.now();
      await once(mute, 'close');
      expect(Date.now() - started).toBeLessThan(4000);
      const session = h2connect(running.gateway.url, { ca: ca.ca });
      const [settings] = (await once(session, 'remoteSettings')) as [{ maxConcurrentStreams?: number }];
      expect(settings.maxConcurrentStreams).toBe(128);
      expect((await h2Request(session, { ':path': '/api/once' })).headers[':status']).toBe(200);
      const idleSince = Date.now();
      await once(session, 'goaway');
      expect(Date.now() - idleSince).toBeLessThan(4000);
      session.destroy();
    } finally {
      await running.gateway.close();
    }
  });

  describe.each([
    ['h2 over TLS (ALPN)', true],
    ['h2c with prior knowledge', false],
  ])('server.http2 with %s', (_name, withTls) => {
    let running: Listening;
    let session: ClientHttp2Session;
    const ws = { service: undefined as unknown as WebSocketService };

    beforeAll(async () => {
      ws.service = await startWebSocketService();
      running = await startListening({
        routes: [...routes(), { prefix: '/ws', target: ws.service.url, websocket: true }],
        server: { http2: true, ...(withTls && { tls: tls() }) },
      });
      session = h2connect(running.gateway.url, { ca: ca.ca });
    });
    afterAll(async () => {
      session.close();
      await running.gateway.close();
      await ws.service.close();
    });

    it('forwards a 1 MiB POST without content-length byte-exact, framed chunked for the service', async () => {
      const answer = await h2Request(session, { ':method': 'POST', ':path': '/api/upload' }, PAYLOAD);
      expect(answer.headers[':status']).toBe(200);
      expect(JSON.parse(answer.body.toString())).toEqual({ bytes: MiB, sha256: sha256(PAYLOAD) });
      const raw = service.raw();
      expect(raw).toMatch(/^POST \/upload HTTP\/1\.1\r\n/);
      expect(raw).toMatch(/\r\ntransfer-encoding: chunked\r\n/i);
      expect(raw).not.toMatch(/\r\ncontent-length:/i);
    });

    it('forwards a 1 MiB POST with content-length byte-exact, with that length', async () => {
      const answer = await h2Request(session, { ':method': 'POST', ':path': '/api/upload', 'content-length': String(MiB) }, PAYLOAD);
      expect(JSON.parse(answer.body.toString())).toEqual({ bytes: MiB, sha256: sha256(PAYLOAD) });
      expect(service.raw()).toMatch(new RegExp(`\\r\\ncontent-length: ${MiB}\\r\\n`, 'i'));
      expect(service.raw()).not.toMatch(/transfer-encoding/i);
    });

    it('holds a client to its content-length: a longer body never reaches the service as it came', async () => {
      // A session of its own: the newer nghttp2 (Node 24) ends the whole connection over it.
      const offender = h2connect(running.gateway.url, { ca: ca.ca });
      offender.on('error', () => undefined);
      const stream = offender.request({ ':method': 'POST', ':path': '/api/upload', 'content-length': '10' }, { endStream: false });
      const errors: string[] = [];
      stream.on('error', (error: NodeJS.ErrnoException) => errors.push(error.code!));
      const closed = new Promise((resolve) => stream.on('close', resolve));
      stream.end(Buffer.from('0123456789SMUGGLED!!'));
      await closed;
      offender.destroy();
      // More DATA than declared is a malformed request (RFC 9113 §8.1.1): nghttp2 resets the
      // stream (Node 20) or the connection (Node 24).
      expect(errors).toHaveLength(1);
      expect(['ERR_HTTP2_STREAM_ERROR', 'ERR_HTTP2_SESSION_ERROR']).toContain(errors[0]);
      expect(service.raw()).not.toContain('SMUGGLED');
      expect((await h2Request(session, { ':path': '/api/after' })).headers[':status']).toBe(200);
    });

    it('sends a GET with no body as no body: neither length nor chunks', async () => {
      await h2Request(session, { ':path': '/api/get' });
      expect(service.requests[0].body.length).toBe(0);
      expect(service.raw()).not.toMatch(/content-length|transfer-encoding/i);
    });

    it.each([['with content-length', '/download'], ['chunked', '/download?chunked']])('returns a 1 MiB answer %s byte-exact', async (_how, path) => {
      const answer = await h2Request(session, { ':path': `/api${path}` });
      expect(answer.body.length).toBe(MiB);
      expect(sha256(answer.body)).toBe(sha256(PAYLOAD));
    });

    it('writes its own request line and Host: no pseudo-header reaches the service, :authority is the forwarded host, cookies joined', async () => {
      await h2Request(session, { ':path': '/api/head', cookie: ['a=1', 'b=2'], 'x-custom': 'kept' });
      const raw = service.raw();
      const head = raw.slice(0, raw.indexOf('\r\n\r\n'));
      expect(head).not.toMatch(/\r\n:/);
      expect(head).toMatch(new RegExp(`\\r\\nhost: ${new URL(service.url).host}\\r\\n`, 'i'));
      const seen = service.requests[0].headers;
      expect(seen['x-forwarded-host']).toBe(`127.0.0.1:${running.port}`);
      expect(seen['x-forwarded-proto']).toBe(withTls ? 'https' : 'http');
      expect(seen.cookie).toBe('a=1; b=2');
      expect(seen['x-custom']).toBe('kept');
    });

    it('refuses a request whose Host differs from its :authority', async () => {
      const answer = await h2Request(session, { ':path': '/api/x', ':authority': `127.0.0.1:${running.port}`, host: 'other.example' });
      expect(answer.headers[':status']).toBe(400);
      expect(service.requests).toHaveLength(0);
    });

    it("keeps each of the service's set-cookie headers, and none of its connection headers", async () => {
      const answer = await h2Request(session, { ':path': '/api/cookies' });
      expect(answer.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/']);
      for (const name of ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']) expect(answer.headers[name]).toBeUndefined();
      expect(answer.body.toString()).toBe('cookies');
    });

    it('serves HTTP/1.1 on the same port, WebSocket upgrades included', async () => {
      const answer = await h1Request(running.gateway.url, '/api/one', { ca: ca.ca, method: 'POST', body: Buffer.from('hello') });
      expect(answer.version).toBe('1.1');
      expect(JSON.parse(answer.body.toString()).bytes).toBe(5);
      if (withTls) return; // `ws` has no option for a private CA here; the upgrade path is the same server's.
      const opened = await openWebSocket(`ws://127.0.0.1:${running.port}/ws/chat`);
      expect(opened.status).toBe(101);
      opened.ws!.close();
    });

    it('answers a WebSocket-looking GET over HTTP/2 as a plain request (HTTP/2 has no upgrade), and keeps serving', async () => {
      const answer = await h2Request(session, { ':path': '/ws/plain', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' });
      expect(answer.headers[':status']).toBeLessThan(500);
      expect((await h2Request(session, { ':path': '/api/after' })).headers[':status']).toBe(200);
    });

    it('survives a client that resets its stream mid-body', async () => {
      const stream = session.request({ ':method': 'POST', ':path': '/api/upload' }, { endStream: false });
      stream.write(PAYLOAD.subarray(0, 1000));
      await until(() => service.raw().length > 0, 'the request to reach the service');
      stream.close(8); // CANCEL
      expect((await h2Request(session, { ':path': '/api/after' })).headers[':status']).toBe(200);
    });
  });

  it('h2c: reads a preface that comes in pieces, tells HTTP/1.1 methods from it by their first bytes, and drops a connection silent past headersTimeout', async () => {
    const running = await startListening({ routes: routes(), server: { http2: true, headersTimeout: 1000 } });
    try {
      const session = h2connect(running.gateway.url, {
        createConnection: () => {
          const socket = tcpConnect(running.port, '127.0.0.1');
          // The preface a byte at a time: the listener must wait for all 24 before it decides.
          const write = socket.write.bind(socket);
          let first = true;
          socket.write = ((chunk: Buffer, ...rest: never[]) => {
            if (!first) return write(chunk, ...rest);
            first = false;
            const bytes = Buffer.from(chunk);
            for (let i = 0; i < bytes.length - 1; i++) write(bytes.subarray(i, i + 1));
            return write(bytes.subarray(bytes.length - 1), ...rest);
          }) as typeof socket.write;
          return socket;
        },
      });
      expect((await h2Request(session, { ':path': '/api/pieces' })).headers[':status']).toBe(200);
      session.close();
      // `PUT` begins with the preface's `P`: one byte in common, then HTTP/1.1.
      expect((await h1Request(running.gateway.url, '/api/put', { method: 'PUT', body: Buffer.from('x') })).status).toBe(200);
      const silent = tcpConnect(running.port, '127.0.0.1');
      const started = Date.now();
      await once(silent, 'close');
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await running.gateway.close();
    }
  });

  it('drain: GOAWAY on HTTP/2 sessions, a stream in flight finishes, an idle session does not hold the exit, HTTP/1.1 still drains', async () => {
    const slow = createServer((req, res) => setTimeout(() => res.end('finished'), 700));
    slow.listen(0, '127.0.0.1');
    await once(slow, 'listening');
    const running = await startListening({
      routes: [{ prefix: '/slow', target: `http://127.0.0.1:${(slow.address() as AddressInfo).port}` }],
      server: { http2: true, tls: tls() },
    });
    const exits: number[] = [];
    drainOnSignals(running.gateway.app, 10_000, quiet, (code) => exits.push(code), { listener: running.listener });
    // An idle HTTPS/1.1 keep-alive connection: the drain closes it once idle, not at the grace's end.
    const keptAlive = tlsConnect({ port: running.port, host: '127.0.0.1', ca: ca.ca });
    await once(keptAlive, 'secureConnect');
    keptAlive.write('GET /slow/kept HTTP/1.1\r\nHost: gw\r\n\r\n');
    let keptAliveAnswer = '';
    keptAlive.on('data', (chunk: Buffer) => (keptAliveAnswer += chunk));
    const keptAliveClosed = once(keptAlive, 'close');
    await until(() => keptAliveAnswer.includes('finished'), 'the keep-alive answer');
    const busy = h2connect(running.gateway.url, { ca: ca.ca });
    const idle = h2connect(running.gateway.url, { ca: ca.ca });
    await h2Request(idle, { ':path': '/slow/warm' });
    const goaways: string[] = [];
    busy.on('goaway', () => goaways.push('busy'));
    idle.on('goaway', () => goaways.push('idle'));
    const inFlight = h2Request(busy, { ':path': '/slow/request' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = Date.now();
    process.emit('SIGTERM', 'SIGTERM');
    const answer = await inFlight;
    expect(answer.headers[':status']).toBe(200);
    expect(answer.body.toString()).toBe('finished');
    await until(() => exits.length > 0, 'the exit');
    expect(exits).toEqual([0]);
    expect(goaways.sort()).toEqual(['busy', 'idle']);
    await keptAliveClosed;
    // Well within the 10 s grace: nothing waited for it.
    expect(Date.now() - started).toBeLessThan(5000);
    busy.destroy();
    idle.destroy();
    slow.close();
  });

  it('drain: a session that opens while draining is served its first request, then told GOAWAY; one that asks nothing is closed', async () => {
    const running = await startListening({ routes: routes(), server: { http2: true } });
    try {
      running.listener.drain();
      const late = h2connect(running.gateway.url);
      const goaway = once(late, 'goaway');
      expect((await h2Request(late, { ':path': '/api/late' })).headers[':status']).toBe(200);
      await goaway;
      const silent = h2connect(running.gateway.url);
      await once(silent, 'connect');
      const started = Date.now();
      await once(silent, 'close');
      expect(Date.now() - started).toBeLessThan(3000);
      late.destroy();
    } finally {
      await running.gateway.close();
    }
  });

  it('grace over: cuts HTTP/2 sessions and connections still mid-handshake', async () => {
    const hanging = createServer(() => undefined);
    hanging.listen(0, '127.0.0.1');
    await once(hanging, 'listening');
    const running = await startListening({
      routes: [{ prefix: '/hang', target: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}` }],
      server: { http2: true, tls: tls() },
    });
    const exits: number[] = [];
    const warnings: string[] = [];
    drainOnSignals(running.gateway.app, 500, { ...quiet, warn: (message: string) => void warnings.push(message) }, (code) => exits.push(code), { listener: running.listener });
    const session = h2connect(running.gateway.url, { ca: ca.ca });
    session.on('error', () => undefined);
    const stream = session.request({ ':path': '/hang/forever' });
    stream.on('error', () => undefined);
    const closed = once(stream, 'close');
    // A TCP connection that never starts its TLS handshake.
    const mute = tcpConnect(running.port, '127.0.0.1');
    await once(mute, 'connect');
    const muteClosed = once(mute, 'close');
    await new Promise((resolve) => setTimeout(resolve, 200));
    process.emit('SIGTERM', 'SIGTERM');
    await closed;
    await muteClosed;
    await until(() => exits.length > 0, 'the exit');
    expect(exits).toEqual([0]);
    expect(warnings).toEqual(['Grace period over: cutting the connections still open']);
    session.destroy();
    hanging.closeAllConnections();
    hanging.close();
  });
});
