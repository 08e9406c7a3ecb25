import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { hrTimeToMilliseconds } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ClientSpan, now, ServerSpan } from './recorded-span.js';

describe('recorded spans, as the exporter reads them', () => {
  const origin = { resource: resourceFromAttributes({ 'service.name': 'test' }), instrumentationScope: { name: 'nest-gateway' } };
  const request = { method: 'POST', target: '/api/x?token=secret', scheme: 'https', route: '/api/*', host: 'gw.test:8443', clientAddress: '10.0.0.1', protocolVersion: '1.1' };
  const server = () => new ServerSpan(origin, request, '4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7', 1, undefined, undefined);

  it('gives its times as HrTime from the epoch, and the duration between them', () => {
    const before = now();
    const span = server();
    span.endMs = span.startMs + 12.5;
    expect(hrTimeToMilliseconds(span.startTime)).toBeCloseTo(span.startMs, 3);
    expect(span.startMs).toBeGreaterThanOrEqual(before);
    expect(span.startMs - Date.now()).toBeLessThan(1000);
    expect(hrTimeToMilliseconds(span.endTime) - hrTimeToMilliseconds(span.startTime)).toBeCloseTo(12.5, 3);
    expect(hrTimeToMilliseconds(span.duration)).toBeCloseTo(12.5, 3);
    expect(span).toMatchObject({ ended: true, events: [], links: [], droppedAttributesCount: 0, droppedEventsCount: 0, droppedLinksCount: 0 });
  });

  it('is unset until it fails, then ERROR with the error type among its attributes', () => {
    const span = server();
    span.statusCode = 200;
    expect(span.status).toEqual({ code: SpanStatusCode.UNSET });
    expect(span.attributes).toEqual({
      'http.request.method': 'POST',
      'url.path': '/api/x',
      'url.scheme': 'https',
      'http.route': '/api/*',
      'server.address': 'gw.test',
      'client.address': '10.0.0.1',
      'network.protocol.version': '1.1',
      'http.response.status_code': 200,
    });
    span.errorType = 'ECONNRESET';
    span.errorMessage = 'socket hang up';
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'socket hang up' });
    expect(span.attributes['error.type']).toBe('ECONNRESET');
  });

  it('makes an attempt the child of its request, in its trace, with the resend count from the second attempt', () => {
    const parent = server();
    const first = new ClientSpan(parent, origin, '1111111111111111', 'POST', new URL('https://svc.internal/x'), 1);
    const third = new ClientSpan(parent, origin, '2222222222222222', 'POST', new URL('http://svc.internal:8080/x'), 3);
    expect(first).toMatchObject({ name: 'POST', kind: SpanKind.CLIENT, traceId: parent.traceId, traceFlags: 1, parentSpanContext: parent });
    expect(first.spanContext()).toBe(first);
    expect(first.attributes).toEqual({ 'http.request.method': 'POST', 'server.address': 'svc.internal', 'server.port': 443, 'url.full': 'https://svc.internal/x' });
    expect(third.attributes).toMatchObject({ 'server.port': 8080, 'http.request.resend_count': 2 });
    expect(first.attributes['http.response.status_code']).toBeUndefined();
  });
});
