import type { IncomingMessage } from 'node:http';
import {
  type Attributes,
  type Context,
  createNoopMeter,
  defaultTextMapGetter,
  type Meter,
  type MeterProvider,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, ParentBasedSampler, type SpanExporter, TraceIdRatioBasedSampler, TracerProvider } from '@opentelemetry/sdk-trace';
import type { AttemptWatch } from '../proxy/index.js';
import type { TracingSettings } from './tracing-settings.js';

/** What became of the finished spans, since start: what the metrics report. */
export interface TraceCounts {
  exported: number;
  /** Past `maxQueueSize`: the collector was slower than the traffic. */
  dropped: number;
  /** Sent, and refused or never answered by the collector. */
  failed: number;
}

/** The counter the span processor reports its spans through (OpenTelemetry's own self-observation). */
const PROCESSED_SPANS = 'otel.sdk.processor.span.processed';

const propagator = new W3CTraceContextPropagator();
/** The last spans' export at a stop: worth a moment, not the whole grace period. */
const SHUTDOWN_EXPORT_WAIT_MS = 2000;

/**
 * The gateway's spans, made by the gateway itself on its path (no instrumentation of Node's
 * modules): a SERVER span per request, a CLIENT span per attempt to a service. Spans are
 * exported in batches by OpenTelemetry's span processor on a timer, never on a request's path:
 * a collector that refuses or hangs costs spans, counted in {@link TraceCounts}, not requests.
 * Sampling follows a caller's flag, and samples `sampleRatio` of the traces the gateway starts;
 * an unsampled request is still given a trace id, and propagated.
 */
export class GatewayTracer {
  readonly counts: TraceCounts = { exported: 0, dropped: 0, failed: 0 };
  private readonly provider: TracerProvider;
  private readonly tracer: Tracer;

  constructor(settings: TracingSettings, exporter: SpanExporter, warn: (message: string) => void) {
    const processor = new BatchSpanProcessor({
      exporter,
      scheduledDelayMillis: settings.exportIntervalMs,
      exportTimeoutMillis: settings.exportTimeoutMs,
      maxQueueSize: settings.maxQueueSize,
      maxExportBatchSize: Math.min(512, settings.maxQueueSize),
      selfObsMeterProvider: this.countingMeters(settings, warn),
    });
    this.provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': settings.serviceName }),
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(settings.sampleRatio) }),
      spanProcessors: [processor],
    });
    this.tracer = this.provider.getTracer('nest-gateway');
  }

  /** The SERVER span of a request on `route` (its fastify path), continuing the caller's trace when it sent one. */
  request(req: IncomingMessage, route: string, scheme: string, host: string, clientIp: string): RequestTrace {
    const parent = req.headers.traceparent === undefined ? ROOT_CONTEXT : propagator.extract(ROOT_CONTEXT, req.headers, defaultTextMapGetter);
    const method = req.method!;
    const attributes: Attributes = {
      'http.request.method': method,
      'url.path': pathOf(req.url!),
      'url.scheme': scheme,
      'http.route': route,
      'server.address': hostname(host),
      'client.address': clientIp,
      'network.protocol.version': req.httpVersion,
    };
    const span = this.tracer.startSpan(`${method} ${route}`, { kind: SpanKind.SERVER, attributes }, parent);
    return new RequestTrace(this.tracer, span, trace.setSpan(parent, span), method);
  }

  /** Exports what is left, for a clean stop; a collector that does not answer holds the stop {@link SHUTDOWN_EXPORT_WAIT_MS} at most. */
  async shutdown(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const given = new Promise<void>((resolve) => (timer = setTimeout(resolve, SHUTDOWN_EXPORT_WAIT_MS)));
    await Promise.race([this.provider.shutdown().catch(() => undefined), given]);
    clearTimeout(timer);
  }

  /**
   * The span processor's own counter of the spans it processed, turned into {@link TraceCounts}:
   * it is where OpenTelemetry reports a span dropped for a full queue or an export that failed.
   */
  private countingMeters(settings: TracingSettings, warn: (message: string) => void): MeterProvider {
    const meter: Meter = createNoopMeter();
    const createCounter = meter.createCounter.bind(meter);
    meter.createCounter = (name, options) => {
      if (name !== PROCESSED_SPANS) return createCounter(name, options);
      return {
        add: (count: number, attributes?: Attributes) => {
          const error = attributes?.['error.type'];
          if (error === undefined) return void (this.counts.exported += count);
          if (error === 'queue_full') {
            this.counts.dropped += count;
            warn(`trace export: spans dropped, more than ${settings.maxQueueSize} waiting for ${settings.url}`);
          } else {
            this.counts.failed += count;
            warn(`trace export to ${settings.url} failed (${String(error)}): its spans are lost`);
          }
        },
      };
    };
    return { getMeter: () => meter };
  }
}

/** One request's SERVER span, and the CLIENT spans of its attempts. */
export class RequestTrace {
  constructor(
    private readonly tracer: Tracer,
    private readonly span: Span,
    private readonly context: Context,
    private readonly method: string,
  ) {}

  /** A CLIENT span for one attempt at `target` (the n-th, from 1), whose trace context the service gets. */
  attempt(target: URL, attempt: number): AttemptWatch {
    const attributes: Attributes = {
      'http.request.method': this.method,
      'server.address': target.hostname,
      'server.port': Number(target.port || (target.protocol === 'https:' ? 443 : 80)),
      'url.full': target.href,
    };
    if (attempt > 1) attributes['http.request.resend_count'] = attempt - 1;
    const span = this.tracer.startSpan(this.method, { kind: SpanKind.CLIENT, attributes }, this.context);
    const carrier: Record<string, string> = {};
    propagator.inject(trace.setSpan(this.context, span), carrier, { set: (headers, name, value) => (headers[name] = value) });
    return new AttemptSpan(span, Object.entries(carrier).flat());
  }

  /** The response went out, or was cut (`status` as the access line has it). */
  end(status: number): void {
    this.span.setAttribute('http.response.status_code', status);
    if (status >= 500) this.span.setAttributes({ 'error.type': String(status) }).setStatus({ code: SpanStatusCode.ERROR });
    this.span.end();
  }
}

class AttemptSpan implements AttemptWatch {
  private status = 0;

  constructor(
    private readonly span: Span,
    readonly headers: readonly string[],
  ) {}

  answered(status: number): void {
    this.status = status;
    this.span.setAttribute('http.response.status_code', status);
  }

  end(error?: Error): void {
    const type = error ? ((error as NodeJS.ErrnoException).code ?? error.name) : this.status >= 500 ? String(this.status) : undefined;
    if (type !== undefined) this.span.setAttributes({ 'error.type': type }).setStatus({ code: SpanStatusCode.ERROR, message: error?.message });
    this.span.end();
  }
}

/** The path of a request target, without its query (which may carry what no trace should hold). */
function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** A Host value without its port. */
function hostname(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}
