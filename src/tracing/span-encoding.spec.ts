import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { defaultTextMapGetter, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ClientSpan, type RecordedSpan, ServerSpan } from './recorded-span.js';
import { JsonSpans, ProtobufSpans } from './span-encoding.js';

const origin = { resource: resourceFromAttributes({ 'service.name': 'checkout-edge' }), instrumentationScope: { name: 'nest-gateway' } };
const request = { method: 'POST', target: '/api/orders/ü?q=1', scheme: 'https', route: '/api/*', host: 'gw.test', clientAddress: '10.0.0.1', protocolVersion: '1.1' };

/** A caller's trace (remote parent, tracestate) with a failed and a retried attempt, and a trace the gateway started. */
function spans(): RecordedSpan[] {
  const caller = trace.getSpanContext(
    new W3CTraceContextPropagator().extract(ROOT_CONTEXT, { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'vendor=abc,other=1' }, defaultTextMapGetter),
  )!;
  const server = new ServerSpan(origin, request, caller.traceId, '1111111111111111', 1, caller.traceState, caller);
  const failed = new ClientSpan(server, origin, '2222222222222222', 'POST', new URL('https://svc.internal/orders'), 1);
  failed.errorType = 'ECONNRESET';
  failed.errorMessage = 'socket hang up '.repeat(12); // a status longer than one length byte holds
  const retried = new ClientSpan(server, origin, '3333333333333333', 'POST', new URL(`http://svc.internal:8080/orders?${'q'.repeat(300)}`), 2);
  retried.statusCode = 503;
  retried.errorType = '503';
  server.statusCode = 503;
  server.errorType = '503';
  const started = new ServerSpan(origin, { ...request, method: 'GET' }, 'aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb', '4444444444444444', 1, undefined, undefined);
  started.statusCode = 200;
  for (const span of [server, failed, retried, started]) span.endMs = span.startMs + 12.345678;
  return [server, failed, retried, started];
}

function queued<T extends ProtobufSpans | JsonSpans>(queue: T, all: RecordedSpan[]): T {
  for (const span of all) expect(queue.add(span)).toBe(true);
  return queue;
}

describe('spans encoded as they end', () => {
  it("writes the bytes OpenTelemetry's protobuf serializer writes for the same spans", () => {
    const all = spans();
    const body = queued(new ProtobufSpans(origin, 16), all).take(all.length);
    expect(Buffer.from(body).toString('hex')).toBe(Buffer.from(ProtobufTraceSerializer.serializeRequest(all)!).toString('hex'));
  });

  it("writes the JSON OpenTelemetry's JSON serializer writes for the same spans", () => {
    const all = spans();
    const body = queued(new JsonSpans(origin, 16), all).take(all.length);
    expect(JSON.parse(Buffer.from(body).toString())).toEqual(JSON.parse(Buffer.from(JsonTraceSerializer.serializeRequest(all)!).toString()));
  });

  it.each([
    ['protobuf', () => new ProtobufSpans(origin, 16), (all: RecordedSpan[]) => ProtobufTraceSerializer.serializeRequest(all)!],
    ['JSON', () => new JsonSpans(origin, 16), (all: RecordedSpan[]) => JsonTraceSerializer.serializeRequest(all)!],
  ])('takes a batch from the front in %s, the rest staying queued in order', (_, make, reference) => {
    const all = spans();
    const queue = queued(make(), all);
    const decoded = (body: Uint8Array) => (queue instanceof JsonSpans ? JSON.parse(Buffer.from(body).toString()) : Buffer.from(body).toString('hex'));
    const expected = (part: RecordedSpan[]) => decoded(reference(part));
    // A body holds until the next take (exports go one at a time): read each before taking the next.
    expect(decoded(queue.take(3))).toEqual(expected(all.slice(0, 3)));
    expect(queue.count).toBe(1);
    expect(decoded(queue.take(1))).toEqual(expected(all.slice(3)));
    expect(queue.count).toBe(0);
  });

  it('writes the same bytes when its buffer grows under spans of every size', () => {
    const all = Array.from({ length: 300 }, (_, i) => {
      const span = spans()[i % 4];
      return Object.defineProperty(Object.assign(Object.create(Object.getPrototypeOf(span)), span), 'name', { value: `GET /${'n'.repeat(i)}` }) as RecordedSpan;
    });
    const queue = queued(new ProtobufSpans(origin, 300), all);
    expect(Buffer.from(queue.take(300)).toString('hex')).toBe(Buffer.from(ProtobufTraceSerializer.serializeRequest(all)!).toString('hex'));
  });

  it('refuses a span past its capacity, and grows its buffer for spans that need more room', () => {
    const queue = new ProtobufSpans(origin, 400);
    const long = { ...request, target: `/api/${'x'.repeat(400)}` };
    const all = Array.from({ length: 400 }, (_, i) => new ServerSpan(origin, long, 'aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb', i.toString(16).padStart(16, '0'), 1, undefined, undefined));
    for (const span of all) expect(queue.add(span)).toBe(true);
    expect(queue.add(all[0])).toBe(false);
    expect(Buffer.from(queue.take(400)).equals(Buffer.from(ProtobufTraceSerializer.serializeRequest(all)!))).toBe(true);
  });
});
