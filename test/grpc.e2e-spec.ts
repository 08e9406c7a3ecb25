import type { IncomingMessage } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import type { GatewayOptions, RouteOptions } from '../src/index.js';
import { gatewayModule, startApp, type RunningGateway } from './support/gateway.js';
import { frame, h2 } from './support/grpc-wire.js';
import { EchoClient, type EchoServer, startEchoServer, unary } from './support/grpc-service.js';
import { sample } from './support/prometheus.js';
import { deadPort } from './support/upstream.js';
import { until } from './support/wait.js';

let service: EchoServer;
const opened: { close(): unknown }[] = [];

beforeAll(async () => {
  service = await startEchoServer();
});

afterEach(async () => {
  for (const item of opened.splice(0)) await item.close();
});

afterAll(() => service.close());

/** A gateway in front of the service, over h2c (HTTP/2 with prior knowledge, as gRPC clients speak it). */
async function gatewayWith(route: Partial<RouteOptions> = {}, options: Partial<GatewayOptions> = {}): Promise<{ gateway: RunningGateway; client: EchoClient }> {
  const gateway = await startApp(gatewayModule({ routes: [{ prefix: '/test.Echo', target: `http://${service.address}`, protocol: 'grpc', ...route }], ...options }), { http2: true });
  const client = new EchoClient(new URL(gateway.url).host, grpc.credentials.createInsecure());
  // The client's connection first: the gateway's server closes once its sessions have.
  opened.push(client, gateway);
  return { gateway, client };
}

const lastCall = () => service.calls.at(-1)!;

describe('gRPC routes', () => {
  it('relays a unary call with its head and trailer metadata, te: trailers reaching the service', async () => {
    const { client } = await gatewayWith();
    const metadata = new grpc.Metadata();
    metadata.set('x-caller', 'caller-value');
    const result = await unary(client, 'unary', 'hi', { metadata });
    expect(result.error).toBeUndefined();
    expect(result.value).toBe('echo:hi');
    expect(result.head?.get('x-head')).toEqual(['head-value']);
    expect(result.trailers?.get('x-trailer')).toEqual(['trailer-value']);
    expect(lastCall().metadata.get('x-caller')).toEqual(['caller-value']);
    expect(lastCall().metadata.get('x-forwarded-proto')).toEqual(['http']);
  });

  it('passes a non-OK status, its message and trailers unchanged', async () => {
    const { client } = await gatewayWith();
    const { error, trailers } = await unary(client, 'unary', 'fail');
    expect(error?.code).toBe(grpc.status.NOT_FOUND);
    expect(error?.details).toBe('no such thing');
    expect(trailers?.get('x-trailer')).toEqual(['trailer-value']);
  });

  it('relays server-streamed messages as they come', async () => {
    const { client } = await gatewayWith();
    const call = client.serverStream(Buffer.from('go')) as grpc.ClientReadableStream<Buffer>;
    const got: string[] = [];
    call.on('data', (message: Buffer) => {
      got.push(message.toString());
      // The service sends its second message only once the client holds the first.
      if (got.length === 1) service.releaseSecond();
    });
    await new Promise((resolve) => call.on('status', resolve));
    expect(got).toEqual(['one', 'two']);
  });

  it('relays a client stream', async () => {
    const { client } = await gatewayWith();
    const answer = await new Promise<string>((resolve, reject) => {
      const call = (client.clientStream as (callback: grpc.requestCallback<Buffer>) => grpc.ClientWritableStream<Buffer>)((error, value) => (error ? reject(error) : resolve(value!.toString())));
      for (const message of ['a', 'b', 'c']) call.write(Buffer.from(message));
      call.end();
    });
    expect(answer).toBe('a+b+c');
  });

  it('relays a bidirectional stream message by message', async () => {
    const { client } = await gatewayWith();
    const call = client.bidi() as grpc.ClientDuplexStream<Buffer, Buffer>;
    const got: string[] = [];
    const next = () => new Promise<string>((resolve) => call.once('data', (message: Buffer) => resolve(message.toString())));
    // Each answer arrives before the next message is sent: nothing waits for the stream's end.
    for (const message of ['x', 'y']) {
      const answer = next();
      call.write(Buffer.from(message));
      got.push(await answer);
    }
    call.end();
    await new Promise((resolve) => call.on('status', resolve));
    expect(got).toEqual(['re:x', 're:y']);
  });

  it('answers UNAVAILABLE (14), trailers-only, for a target it cannot reach', async () => {
    const { gateway, client } = await gatewayWith({ target: `http://127.0.0.1:${await deadPort()}` });
    const { error } = await unary(client, 'unary', 'hi');
    expect(error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(error?.details).toBe('The service is unavailable');
    const raw = await h2(gateway.url, { ':method': 'POST', ':path': '/test.Echo/Unary', 'content-type': 'application/grpc', te: 'trailers' }, frame('raw'));
    expect(raw.head).toMatchObject({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14' });
    expect(raw.trailers).toBeUndefined();
  });

  it('answers DEADLINE_EXCEEDED (4) past the route timeout and cancels the call at the service', async () => {
    const { client } = await gatewayWith({ timeout: 200 });
    const { error } = await unary(client, 'hang', 'wait');
    expect(error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(error?.details).toBe('Deadline exceeded at the gateway');
    await until(() => lastCall().cancelled, 'the service to see its call cancelled');
  });

  it('enforces the client grpc-timeout, bounded by the route timeout', async () => {
    const { gateway } = await gatewayWith({ timeout: 60_000 });
    // A raw HTTP/2 client holds no deadline of its own: the status is the gateway's.
    const answer = await h2(gateway.url, { ':method': 'POST', ':path': '/test.Echo/Hang', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '200m' }, frame('wait'));
    expect(answer.head['grpc-status']).toBe('4');
    await until(() => lastCall().method === 'hang' && lastCall().cancelled, 'the service to see its call cancelled');
  });

  it('cancels the call at the service when the client cancels', async () => {
    const { client } = await gatewayWith();
    const calls = service.calls.length;
    const { error } = await unary(client, 'hang', 'wait', { cancelAfterMs: 100 });
    expect(error?.code).toBe(grpc.status.CANCELLED);
    await until(() => service.calls.length > calls && lastCall().cancelled, 'the service to see its call cancelled');
  });

  it('never stores a gRPC answer in the cache', async () => {
    const { client } = await gatewayWith({}, { cache: {} });
    const calls = service.calls.length;
    expect((await unary(client, 'unary', 'same')).value).toBe('echo:same');
    expect((await unary(client, 'unary', 'same')).value).toBe('echo:same');
    expect(service.calls.length).toBe(calls + 2);
  });

  it('runs the middlewares and counts the calls in the metrics', async () => {
    const middleware = (req: IncomingMessage, _res: unknown, next: () => void) => {
      req.headers['x-from-middleware'] = 'ran';
      next();
    };
    const { gateway, client } = await gatewayWith({ middlewares: [middleware] });
    await unary(client, 'unary', 'counted');
    expect(lastCall().metadata.get('x-from-middleware')).toEqual(['ran']);
    const metrics = await h2(gateway.url, { ':path': '/metrics' });
    expect(sample(metrics.body.toString(), 'nest_gateway_requests_total', { route: '/test.Echo', method: 'POST', status: '200' })).toBe(1);
  });

  it('refuses a call its access rules refuse, as gRPC clients read an HTTP status', async () => {
    const { client } = await gatewayWith({ deny: ['127.0.0.1'] });
    const calls = service.calls.length;
    const { error } = await unary(client, 'unary', 'denied');
    expect(error?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(service.calls.length).toBe(calls);
  });
});
