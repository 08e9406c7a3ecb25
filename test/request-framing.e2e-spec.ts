import { createServer, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { rawRequest } from './support/raw-http.js';
import { startGateway, type RunningGateway } from './support/gateway.js';

/** What the service parsed, and the bytes that reached it, connection by connection. */
interface RecordingService {
  url: string;
  requests: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[];
  raw(): string;
  close(): Promise<void>;
}

/** A service that records the raw bytes it receives and every request its parser reads in them. */
async function startRecordingService(): Promise<RecordingService> {
  const requests: RecordingService['requests'] = [];
  const bytes: Buffer[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('latin1') });
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`served ${req.method} ${req.url}`);
    });
  });
  server.on('connection', (socket) => socket.on('data', (chunk: Buffer) => bytes.push(chunk)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    raw: () => Buffer.concat(bytes).toString('latin1'),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const SMUGGLED = 'GET /admin/secret HTTP/1.1\r\nHost: internal\r\n\r\n';
const chunked = (body: string) => `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`;
const portOf = (gateway: RunningGateway) => Number(new URL(gateway.url).port);
/**
 * Reads the service's bytes as one request framed by its head (Content-Length, or chunked), and
 * returns its request line, framing and body, and what follows it: a second request would be there.
 */
function readOneRequest(raw: string): { requestLine: string; framing: string; body: string; rest: string } {
  const headEnd = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, headEnd).split('\r\n');
  const field = (name: string) => head.find((line) => line.toLowerCase().startsWith(`${name}:`))?.split(':')[1].trim();
  let offset = headEnd + 4;
  const length = field('content-length');
  if (field('transfer-encoding') === 'chunked') {
    let body = '';
    for (;;) {
      const lineEnd = raw.indexOf('\r\n', offset);
      const size = parseInt(raw.slice(offset, lineEnd), 16);
      offset = lineEnd + 2;
      if (size === 0) return { requestLine: head[0], framing: 'chunked', body, rest: raw.slice(offset + 2) };
      body += raw.slice(offset, offset + size);
      offset += size + 2;
    }
  }
  const size = Number(length ?? 0);
  return { requestLine: head[0], framing: length === undefined ? 'none' : `length ${length}`, body: raw.slice(offset, offset + size), rest: raw.slice(offset + size) };
}

// Request smuggling: the gateway once stripped `transfer-encoding` and piped the chunked body
// unframed, so the service read the chunk as a second request, past the route's guards.
describe('request framing towards the service', () => {
  let service: RecordingService;
  let gateway: RunningGateway;

  beforeEach(async () => {
    service = await startRecordingService();
    gateway = await startGateway({
      routes: [
        { prefix: '/public', target: service.url },
        { prefix: '/admin', target: service.url, middlewares: [{ use: 'basicAuth', options: { users: { admin: 'pw' } } }] },
      ],
    });
  });
  afterEach(async () => {
    await gateway.close();
    await service.close();
  });

  it.each(['GET', 'HEAD', 'DELETE', 'OPTIONS'])('frames a chunked %s body itself: the service reads one request', async (method) => {
    const res = await rawRequest(
      portOf(gateway),
      `${method} /public/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunked(SMUGGLED)}`,
    );
    expect(res.status).toBe(200);
    expect(service.requests).toHaveLength(1);
    expect(service.requests[0]).toMatchObject({ method, url: '/a', body: SMUGGLED });
    const received = readOneRequest(service.raw());
    expect(received).toMatchObject({ requestLine: `${method} /a HTTP/1.1`, body: SMUGGLED, rest: '' });
    expect(received.framing).toMatch(/^(chunked|length 46)$/);
  });

  it('never lets Connection remove the framing: Content-Length stays', async () => {
    const res = await rawRequest(
      portOf(gateway),
      `POST /public/a HTTP/1.1\r\nHost: gw\r\nContent-Length: ${SMUGGLED.length}\r\nConnection: close, content-length, host, transfer-encoding\r\n\r\n${SMUGGLED}`,
    );
    expect(res.status).toBe(200);
    expect(service.requests).toHaveLength(1);
    expect(service.requests[0].headers['content-length']).toBe(String(SMUGGLED.length));
    expect(service.requests[0].headers.host).toBe(new URL(service.url).host);
    expect(service.requests[0].body).toBe(SMUGGLED);
    expect(readOneRequest(service.raw())).toEqual({ requestLine: 'POST /a HTTP/1.1', framing: 'length 46', body: SMUGGLED, rest: '' });
  });

  it('forwards a known length as Content-Length, and a request without a body with neither header', async () => {
    await rawRequest(portOf(gateway), 'PUT /public/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello');
    await rawRequest(portOf(gateway), 'GET /public/y HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n');
    expect(service.requests.map(({ method, url, body }) => ({ method, url, body }))).toEqual([
      { method: 'PUT', url: '/x', body: 'hello' },
      { method: 'GET', url: '/y', body: '' },
    ]);
    expect(service.requests[0].headers).toMatchObject({ 'content-length': '5' });
    expect(service.requests[0].headers['transfer-encoding']).toBeUndefined();
    expect(service.requests[1].headers['content-length']).toBeUndefined();
    expect(service.requests[1].headers['transfer-encoding']).toBeUndefined();
  });

  it('refuses a Transfer-Encoding other than chunked with 501, without reaching the service', async () => {
    const res = await rawRequest(
      portOf(gateway),
      `POST /public/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n${chunked('x')}`,
    );
    expect(res.status).toBe(501);
    expect(res.text).toContain("Transfer-Encoding 'gzip, chunked' is not supported");
    expect(service.requests).toHaveLength(0);
  });

  it('refuses a request whose header lines reach the parser limit with 431: framing may hide past it', async () => {
    // Exactly 1,000 lines (997 + Host, Transfer-Encoding, Connection): every Node line parses them
    // all, so it is the gateway's own count that refuses.
    const padding = 'a: 1\r\n'.repeat(997);
    const res = await rawRequest(
      portOf(gateway),
      `POST /public/a HTTP/1.1\r\nHost: gw\r\n${padding}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunked(SMUGGLED)}`,
    );
    expect(res.status).toBe(431);
    expect(res.text).toContain('1000 header lines or more');
    expect(service.requests).toHaveLength(0);
  });

  it('refuses a request with more header lines than the parser keeps with 431, whichever layer counts them', async () => {
    // Node 20 keeps the first 1,000 lines and drops the rest (the gateway's count refuses);
    // Node 22 and later refuse in the parser. Either way nothing reaches the service.
    const padding = 'a: 1\r\n'.repeat(2000);
    const res = await rawRequest(
      portOf(gateway),
      `POST /public/a HTTP/1.1\r\nHost: gw\r\n${padding}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunked(SMUGGLED)}`,
    );
    expect(res.status).toBe(431);
    expect(JSON.parse(res.text.slice(res.text.indexOf('\r\n\r\n') + 4))).toMatchObject({ statusCode: 431 });
    expect(service.requests).toHaveLength(0);
  });

  it('sends a body of unknown length chunked, as it streams', async () => {
    const port = portOf(gateway);
    const socket = await new Promise<import('node:net').Socket>((resolve) => {
      const client = connect(port, '127.0.0.1', () => resolve(client));
    });
    const answered = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
      socket.on('end', () => resolve(text));
    });
    socket.write('POST /public/stream HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nfirst\r\n');
    // The rest comes later: the gateway must not wait for it to know the length.
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.write('6\r\nsecond\r\n0\r\n\r\n');
    expect(await answered).toMatch(/^HTTP\/1\.1 200/);
    expect(service.requests).toHaveLength(1);
    expect(readOneRequest(service.raw())).toEqual({ requestLine: 'POST /stream HTTP/1.1', framing: 'chunked', body: 'firstsecond', rest: '' });
  });

  it('keeps the guard of the route a smuggled request names: /admin is never reached', async () => {
    await rawRequest(portOf(gateway), `GET /public/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED)}`, 500);
    expect(service.requests.map((request) => request.url)).toEqual(['/a']);
  });
});
