import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import type { GatewayOptions } from '../src/index.js';
import { resolveTracingSettings } from '../src/tracing/index.js';
import { MAX_EXPORT_BATCH } from '../src/tracing/span-export.js';
import { startGateway, type RunningGateway } from './support/gateway.js';
import { deadPort, startUpstream, type Upstream } from './support/upstream.js';
import { until } from './support/wait.js';

interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  status: { code?: number };
}

const SERVER = 2;
const CLIENT = 3;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * An OTLP/HTTP collector on an ephemeral port: keeps what it is sent (JSON decoded), and can be
 * told to refuse (503) or to hold every export unanswered.
 */
async function startCollector() {
  const spans: ExportedSpan[] = [];
  const bodies: { contentType: string | undefined; bytes: number }[] = [];
  const state = { mode: 'ok' as 'ok' | 'refuse' | 'hang', headers: [] as IncomingHttpHeaders[] };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      bodies.push({ contentType: req.headers['content-type'], bytes: body.length });
      state.headers.push(req.headers);
      if (state.mode === 'hang') return;
      if (state.mode === 'refuse') {
        res.writeHead(503).end();
        return;
      }
      if (req.headers['content-type'] === 'application/json') spans.push(...decode(JSON.parse(body.toString())));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
  return {
    url,
    spans,
    bodies,
    state,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
}

function decode(body: { resourceSpans: { scopeSpans: { spans: (Omit<ExportedSpan, 'attributes'> & { attributes: { key: string; value: OtlpValue }[] })[] }[] }[] }): ExportedSpan[] {
  return body.resourceSpans.flatMap((resource) =>
    resource.scopeSpans.flatMap((scope) =>
      scope.spans.map((span) => ({
        ...span,
        attributes: Object.fromEntries(span.attributes.map(({ key, value }) => [key, value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : value.boolValue)])),
      })),
    ),
  );
}

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';

describe('tracing', () => {
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let upstream: Upstream;
  let gateway: RunningGateway;

  const traced = (options: Partial<GatewayOptions> & { tracing?: GatewayOptions['tracing'] } = {}) =>
    startGateway({
      routes: [{ prefix: '/api', target: upstream.url }],
      ...options,
      tracing: { otlpUrl: collector.url, protocol: 'http/json', exportInterval: 50, ...options.tracing },
    });

  beforeAll(async () => {
    collector = await startCollector();
    upstream = await startUpstream();
  });
  afterEach(async () => {
    await gateway?.close();
    collector.spans.length = 0;
    collector.bodies.length = 0;
    collector.state.mode = 'ok';
  });
  afterAll(async () => {
    await upstream.close();
    await collector.close();
  });

  const spansOf = async (traceId: string, count: number) => {
    await until(() => collector.spans.filter((span) => span.traceId === traceId).length >= count, `${count} spans of the trace`);
    return collector.spans.filter((span) => span.traceId === traceId);
  };

  it("continues the caller's trace: a SERVER span, a CLIENT span per attempt, and the service's traceparent is the attempt's", async () => {
    gateway = await traced();
    await request(gateway.url)
      .get('/api/users?secret=1')
      .set('traceparent', `00-${TRACE_ID}-${CALLER_SPAN}-01`)
      .set('tracestate', 'vendor=abc,other=1')
      .expect(200);
    const spans = await spansOf(TRACE_ID, 2);
    const server = spans.find((span) => span.kind === SERVER)!;
    const client = spans.find((span) => span.kind === CLIENT)!;
    expect(server).toMatchObject({ name: 'GET /api/*', parentSpanId: CALLER_SPAN });
    expect(server.attributes).toMatchObject({
      'http.request.method': 'GET',
      'url.path': '/api/users',
      'url.scheme': 'http',
      'http.route': '/api/*',
      'server.address': '127.0.0.1',
      'http.response.status_code': 200,
    });
    expect(JSON.stringify(server.attributes)).not.toContain('secret');
    expect(client).toMatchObject({ name: 'GET', parentSpanId: server.spanId });
    expect(client.attributes).toMatchObject({ 'http.request.method': 'GET', 'server.address': '127.0.0.1', 'server.port': upstream.port, 'http.response.status_code': 200 });
    expect(client.attributes['http.request.resend_count']).toBeUndefined();

    const seen = upstream.seen.at(-1)!.headers;
    expect(seen.traceparent).toBe(`00-${TRACE_ID}-${client.spanId}-01`);
    expect(seen.tracestate).toBe('vendor=abc,other=1');
  });

  it('starts a trace for a request without one, and marks a 5xx and a failed attempt as errors, with the resend count', async () => {
    const dead = await deadPort();
    gateway = await traced({
      routes: [{ prefix: '/api', targets: [`http://127.0.0.1:${dead}`, upstream.url], balance: 'round-robin', retries: { attempts: 1, on: ['connect-error'] } }],
    });
    // Round-robin: one of two requests starts on the closed port, and is sent again to the other.
    for (let i = 0; i < 2; i++) await request(gateway.url).get(`/api/retry${i}`).expect(200);
    await until(() => collector.spans.filter((span) => span.kind === CLIENT).length >= 3, 'the attempts');
    const clients = collector.spans.filter((span) => span.kind === CLIENT);
    const refused = clients.find((span) => span.attributes['server.port'] === dead)!;
    expect(refused.status.code).toBe(2);
    expect(refused.attributes['error.type']).toBe('ECONNREFUSED');
    const resent = clients.find((span) => span.traceId === refused.traceId && span !== refused)!;
    expect(resent.attributes['http.request.resend_count']).toBe(1);
    expect(resent.parentSpanId).toBe(refused.parentSpanId);
    expect(upstream.seen.at(-1)!.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it('gives a cache hit no CLIENT span, and a gateway 502 an error SERVER span', async () => {
    const dead = await deadPort();
    const cachedUpstream = await startUpstream((_req, res) => res.writeHead(200, { 'x-cache-timeout': '1 minute' }).end('cached'));
    gateway = await traced({ cache: {}, routes: [{ prefix: '/api', target: cachedUpstream.url }, { prefix: '/down', target: `http://127.0.0.1:${dead}` }] });
    try {
      await request(gateway.url).get('/api/c').expect('x-cache', 'MISS');
      const hitTrace = 'aaaabbbbccccddddeeeeffff00001111';
      await request(gateway.url).get('/api/c').set('traceparent', `00-${hitTrace}-${CALLER_SPAN}-01`).expect('x-cache', 'HIT');
      const downTrace = 'aaaabbbbccccddddeeeeffff00002222';
      await request(gateway.url).get('/down/x').set('traceparent', `00-${downTrace}-${CALLER_SPAN}-01`).expect(502);
      const [down] = await spansOf(downTrace, 2).then((spans) => spans.filter((span) => span.kind === SERVER));
      expect(down.status.code).toBe(2);
      expect(down.attributes).toMatchObject({ 'http.response.status_code': 502, 'error.type': '502' });
      const hit = await spansOf(hitTrace, 1);
      await sleep(200);
      expect(collector.spans.filter((span) => span.traceId === hitTrace).map((span) => span.kind)).toEqual([SERVER]);
      expect(hit[0].attributes['http.response.status_code']).toBe(200);
    } finally {
      await cachedUpstream.close();
    }
  });

  it('exports nothing at sampleRatio 0 and still propagates an unsampled trace context', async () => {
    gateway = await traced({ tracing: { sampleRatio: 0 } });
    await request(gateway.url).get('/api/unsampled').expect(200);
    expect(upstream.seen.at(-1)!.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    // A caller's sampled flag is followed.
    await request(gateway.url).get('/api/sampled').set('traceparent', `00-${TRACE_ID}-${CALLER_SPAN}-01`).expect(200);
    await spansOf(TRACE_ID, 2);
    await sleep(300);
    expect(collector.spans.every((span) => span.traceId === TRACE_ID)).toBe(true);
  });

  it('costs no request when the collector refuses or hangs: the spans are counted as failed or dropped', async () => {
    collector.state.mode = 'refuse';
    gateway = await traced({ tracing: { exportTimeout: 200, maxQueueSize: 4 } });
    for (let i = 0; i < 10; i++) await request(gateway.url).get(`/api/refused${i}`).expect(200);
    await until(async () => /nest_gateway_trace_spans_total\{result="failed"\} [1-9]/.test((await request(gateway.url).get('/metrics')).text), 'failed exports counted');

    collector.state.mode = 'hang';
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => request(gateway.url).get(`/api/hung${i}`)));
    expect(answers.map((answer) => answer.status)).toEqual(Array(40).fill(200));
    await until(async () => /nest_gateway_trace_spans_total\{result="dropped"\} [1-9]/.test((await request(gateway.url).get('/metrics')).text), 'dropped spans counted');
  });

  it('sends a full batch of MAX_EXPORT_BATCH spans at once, without waiting for the export interval', async () => {
    gateway = await traced({ tracing: { exportInterval: '1h' } });
    const requests = MAX_EXPORT_BATCH / 2 + 4;
    for (let sent = 0; sent < requests; sent += 20) await Promise.all(Array.from({ length: Math.min(20, requests - sent) }, (_, i) => request(gateway.url).get(`/api/batch${sent + i}`).expect(200)));
    await until(() => collector.spans.length >= MAX_EXPORT_BATCH, 'a full batch');
    expect(collector.bodies).toHaveLength(1);
    expect(collector.spans).toHaveLength(MAX_EXPORT_BATCH);
    // The 8 spans left over go at the stop, with no export timer due before it.
    const stopping = gateway;
    gateway = undefined as unknown as RunningGateway;
    await stopping.close();
    expect(collector.spans).toHaveLength(MAX_EXPORT_BATCH + 8);
  });

  it('sends a queue smaller than a batch as soon as it is full, dropping nothing', async () => {
    gateway = await traced({ tracing: { exportInterval: '1h', maxQueueSize: 64 } });
    for (let queue = 1; queue <= 3; queue++) {
      // Two spans a request: 32 requests fill the queue.
      for (let sent = 0; sent < 32; sent += 16) await Promise.all(Array.from({ length: 16 }, (_, i) => request(gateway.url).get(`/api/small${queue}-${sent + i}`).expect(200)));
      await until(() => collector.spans.length >= 64 * queue, `full queue ${queue} sent`);
    }
    expect(collector.bodies).toHaveLength(3);
    expect(collector.spans).toHaveLength(192);
    expect((await request(gateway.url).get('/metrics')).text).not.toMatch(/nest_gateway_trace_spans_total\{result="dropped"\} [1-9]/);
  });

  it('sends protobuf by default, with the configured headers', async () => {
    gateway = await startGateway({
      routes: [{ prefix: '/api', target: upstream.url }],
      tracing: { otlpUrl: collector.url, exportInterval: 50, headers: { authorization: 'Bearer collector-token' } },
    });
    await request(gateway.url).get('/api/proto').expect(200);
    await until(() => collector.bodies.some((body) => body.contentType === 'application/x-protobuf' && body.bytes > 0), 'a protobuf export');
    expect(collector.state.headers.at(-1)!.authorization).toBe('Bearer collector-token');
  });
});

describe('tracing settings', () => {
  it('takes the config first, then the OTEL_* variables, the traces ones before the general ones', () => {
    expect(resolveTracingSettings({}, {})).toMatchObject({ url: 'http://localhost:4318/v1/traces', protocol: 'http/protobuf', sampleRatio: 1, serviceName: 'nest-gateway', headers: {} });
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'edge',
      OTEL_EXPORTER_OTLP_HEADERS: 'Authorization=Bearer%20abc, x-tenant=7',
    };
    expect(resolveTracingSettings({}, env)).toMatchObject({ url: 'http://collector:4318/v1/traces', protocol: 'http/json', serviceName: 'edge', headers: { authorization: 'Bearer abc', 'x-tenant': '7' } });
    expect(resolveTracingSettings({}, { ...env, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:4318/custom', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' })).toMatchObject({
      url: 'http://traces:4318/custom',
      protocol: 'http/json',
    });
    expect(resolveTracingSettings({ otlpUrl: 'http://mine:4318/v1/traces', protocol: 'http/protobuf', serviceName: 'mine', exportInterval: '2s' }, env)).toMatchObject({
      url: 'http://mine:4318/v1/traces',
      protocol: 'http/protobuf',
      serviceName: 'mine',
      exportIntervalMs: 2000,
    });
  });
});
