import { readFileSync } from 'node:fs';
import { createServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import request from 'supertest';
import type { GatewayOptions, RouteOptions } from '../src/index.js';
import { validateGatewayConfigFile } from '../src/config/gateway-options.schema.js';
import { gatewayModule, startApp, startGateway, type RunningGateway } from './support/gateway.js';
import { EchoClient, startEchoServer, unary } from './support/grpc-service.js';
import { frame, h2 } from './support/grpc-wire.js';
import { startUpstream } from './support/upstream.js';
import { createUpstreamCertificates, type UpstreamCertificates } from './support/tls-certificates.js';

/** A gRPC service written on the wire (node:http2): it records each call's head, answers as `answer` says. */
interface WireService {
  url: string;
  heads: IncomingHttpHeaders[];
  sessions: ServerHttp2Session[];
  answer: (stream: ServerHttp2Stream) => void;
  close(): Promise<void>;
}

const OK = (stream: ServerHttp2Stream) => stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' }, { endStream: true });

async function startWireService(): Promise<WireService> {
  const server: Http2Server = createServer();
  const service: WireService = {
    url: '',
    heads: [],
    sessions: [],
    answer: OK,
    close: () => {
      for (const session of service.sessions) session.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  server.on('session', (session) => service.sessions.push(session));
  server.on('stream', (stream, headers) => {
    service.heads.push(headers);
    stream.on('error', () => undefined);
    service.answer(stream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  service.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return service;
}

const opened: { close(): unknown }[] = [];
let wire: WireService;

beforeEach(async () => {
  wire = await startWireService();
  opened.push(wire);
});

afterEach(async () => {
  for (const item of opened.splice(0).reverse()) await item.close();
});

async function gatewayTo(target: string, route: Partial<RouteOptions> = {}, options: Partial<GatewayOptions> = {}): Promise<RunningGateway> {
  const gateway = await startApp(gatewayModule({ routes: [{ prefix: '/wire.Svc', target, protocol: 'grpc', ...route }], ...options }), { http2: true });
  opened.push(gateway);
  return gateway;
}

const call = (gateway: RunningGateway, headers: Record<string, string> = {}) =>
  h2(gateway.url, { ':method': 'POST', ':path': '/wire.Svc/Do', 'content-type': 'application/grpc', te: 'trailers', ...headers }, frame('m'));

describe('gRPC on the wire', () => {
  it('sends te: trailers and the deadline it holds the service to, grpc-timeout bounded by the route timeout', async () => {
    const gateway = await gatewayTo(wire.url, { timeout: 5000 });
    // A client that sends no `te` (it is the gateway's to send) and a deadline longer than the route allows.
    await h2(gateway.url, { ':method': 'POST', ':path': '/wire.Svc/Do', 'content-type': 'application/grpc', 'grpc-timeout': '10S' }, frame('m'));
    expect(wire.heads[0]).toMatchObject({ ':path': '/wire.Svc/Do', te: 'trailers', 'grpc-timeout': '5000m' });
    await call(gateway, { 'grpc-timeout': '2S' });
    expect(wire.heads[1]['grpc-timeout']).toBe('2000m');
  });

  it('sends the client address after its claim, drops the route headers, and passes the trace context', async () => {
    // A collector that takes every export, so that the tracer has nothing left to send at shutdown.
    const collector = await startUpstream((_req, res) => res.end());
    opened.push(collector);
    const gateway = await gatewayTo(wire.url, { dropRequestHeaders: ['X-Internal'] }, { tracing: { otlpUrl: `${collector.url}/v1/traces`, protocol: 'http/json', exportInterval: 50 } });
    await call(gateway, { 'x-forwarded-for': '203.0.113.7', 'x-internal': 'secret', 'x-kept': 'yes' });
    expect(wire.heads[0]).toMatchObject({ 'x-forwarded-for': '203.0.113.7, 127.0.0.1', 'x-kept': 'yes', traceparent: expect.stringMatching(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/) });
    expect(wire.heads[0]['x-internal']).toBeUndefined();
  });

  it('opens a new connection after the service closed the one it had', async () => {
    const gateway = await gatewayTo(wire.url);
    expect((await call(gateway)).head['grpc-status']).toBe('0');
    await new Promise<void>((resolve) => wire.sessions[0].close(resolve));
    expect((await call(gateway)).head['grpc-status']).toBe('0');
    expect(wire.sessions).toHaveLength(2);
  });

  it('ends a call the service resets mid-answer with UNAVAILABLE (14), after what was relayed', async () => {
    wire.answer = (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      // Destroyed with an error: RST_STREAM INTERNAL_ERROR after the first message.
      stream.write(frame('part'), () => stream.destroy(new Error('the service failed')));
    };
    const gateway = await gatewayTo(wire.url);
    const answer = await call(gateway);
    expect(answer.body.equals(frame('part'))).toBe(true);
    expect(answer.trailers).toMatchObject({ 'grpc-status': '14', 'grpc-message': 'The service reset the call' });
  });

  it('passes on an answer that ends without trailers as it is', async () => {
    wire.answer = (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      stream.end(frame('only'));
    };
    const gateway = await gatewayTo(wire.url);
    const answer = await call(gateway);
    expect(answer.body.equals(frame('only'))).toBe(true);
    expect(answer.trailers?.['grpc-status']).toBeUndefined();
  });

  it('answers 505 to an HTTP/1.1 request on a gRPC route', async () => {
    const gateway = await startGateway({ routes: [{ prefix: '/wire.Svc', target: wire.url, protocol: 'grpc' }] });
    opened.push(gateway);
    const response = await request(gateway.url).post('/wire.Svc/Do').set('content-type', 'application/grpc').send('x');
    expect(response.status).toBe(505);
    expect(wire.heads).toHaveLength(0);
  });
});

describe('gRPC over TLS to the service', () => {
  let certificates: UpstreamCertificates;
  beforeAll(() => {
    certificates = createUpstreamCertificates();
  });
  afterAll(() => certificates.remove());

  it('calls an h2 service that requires a client certificate, with the route tls options', async () => {
    const { ca, clientCert: cert, clientKey: key, serverName: servername } = certificates;
    const credentials = grpc.ServerCredentials.createSsl(readFileSync(ca), [{ cert_chain: readFileSync(certificates.serverCert), private_key: readFileSync(certificates.serverKey) }], true);
    const service = await startEchoServer(credentials);
    opened.push(service);
    const gateway = await gatewayTo(`https://127.0.0.1:${service.port}`, { prefix: '/test.Echo', tls: { ca, cert, key, servername } });
    const client = new EchoClient(new URL(gateway.url).host, grpc.credentials.createInsecure());
    opened.push(client);
    const result = await unary(client, 'unary', 'secure');
    expect(result.error).toBeUndefined();
    expect(result.value).toBe('echo:secure');
  });

  it('answers UNAVAILABLE (14) when the service certificate does not chain to the route CA', async () => {
    const credentials = grpc.ServerCredentials.createSsl(null, [{ cert_chain: readFileSync(certificates.serverCert), private_key: readFileSync(certificates.serverKey) }], false);
    const service = await startEchoServer(credentials);
    opened.push(service);
    const gateway = await gatewayTo(`https://127.0.0.1:${service.port}`, { tls: { ca: certificates.otherCa } });
    expect((await call(gateway)).head['grpc-status']).toBe('14');
  });
});

describe('gRPC routes at start-up', () => {
  const grpcRoute = { prefix: '/wire.Svc', target: 'http://127.0.0.1:1', protocol: 'grpc' };

  it('refuses protocol: grpc in a config file without server.http2', () => {
    expect(() => validateGatewayConfigFile({ routes: [grpcRoute] }, 'gateway.yaml')).toThrow('routes[0].protocol: grpc needs server.http2: true');
  });

  it('refuses what needs a pool or a replay on a gRPC route', () => {
    expect(() => startGateway({ routes: [{ ...grpcRoute, target: undefined, targets: ['http://127.0.0.1:1', 'http://127.0.0.1:2'], retries: 1, healthCheck: { path: '/h' } }] as RouteOptions[] })).toThrow(
      /routes\[0\]\.targets: protocol: grpc takes one target[\s\S]*routes\[0\]\.retries: gRPC calls are never retried[\s\S]*routes\[0\]\.healthCheck: not with protocol: grpc/,
    );
  });
});
