import type { IncomingMessage } from 'node:http';
import {
  type Attributes,
  createNoopMeter,
  defaultTextMapGetter,
  type Meter,
  type MeterProvider,
  ROOT_CONTEXT,
  SamplingDecision,
  SpanKind,
  type TextMapSetter,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, ParentBasedSampler, RandomIdGenerator, type Sampler, type SpanExporter, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace';
import type { AttemptWatch } from '../proxy/index.js';
import { ClientSpan, now, type RecordedSpan, ServerSpan, type SpanOrigin } from './recorded-span.js';
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

/** Where a request's spans come from and go: what its {@link RequestTrace} needs of the tracer. */
interface SpanSource extends SpanOrigin {
  readonly ids: RandomIdGenerator;
  readonly processor: BatchSpanProcessor;
}

/** Trace context headers as the forwarder takes them, a flat `[name, value, ...]` list. */
const FLAT_HEADERS: TextMapSetter<string[]> = { set: (headers, name, value) => void headers.push(name, value) };
const NO_ATTRIBUTES: Attributes = {};

/**
 * The gateway's spans, made by the gateway itself on its path (no instrumentation of Node's
 * modules): a SERVER span per request, a CLIENT span per attempt to a service. OpenTelemetry's
 * SDK samples them, makes their ids, and exports them in batches through its span processor on a
 * timer, never on a request's path: a collector that refuses or hangs costs spans, counted in
 * {@link TraceCounts}, not requests. The spans themselves are the gateway's lean records of what
 * the exporter reads (see `recorded-span.ts`). Sampling follows a caller's flag, and samples
 * `sampleRatio` of the traces the gateway starts; an unsampled request is still given a trace
 * id, and propagated.
 */
export class GatewayTracer {
  readonly counts: TraceCounts = { exported: 0, dropped: 0, failed: 0 };
  private readonly sampler: Sampler;
  private readonly source: SpanSource;

  constructor(settings: TracingSettings, exporter: SpanExporter, warn: (message: string) => void) {
    const processor = new BatchSpanProcessor({
      exporter,
      scheduledDelayMillis: settings.exportIntervalMs,
      exportTimeoutMillis: settings.exportTimeoutMs,
      maxQueueSize: settings.maxQueueSize,
      maxExportBatchSize: Math.min(512, settings.maxQueueSize),
      selfObsMeterProvider: this.countingMeters(settings, warn),
    });
    this.sampler = new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(settings.sampleRatio) });
    this.source = {
      resource: resourceFromAttributes({ 'service.name': settings.serviceName }),
      instrumentationScope: { name: 'nest-gateway' },
      ids: new RandomIdGenerator(),
      processor,
    };
  }

  /** The SERVER span of a request on `route` (its fastify path), continuing the caller's trace when it sent one. */
  request(req: IncomingMessage, route: string, scheme: string, host: string, clientIp: string): RequestTrace {
    const context = req.headers.traceparent === undefined ? ROOT_CONTEXT : propagator.extract(ROOT_CONTEXT, req.headers, defaultTextMapGetter);
    const parent = trace.getSpanContext(context);
    const traceId = parent?.traceId ?? this.source.ids.generateTraceId();
    const sampled = this.sampler.shouldSample(context, traceId, route, SpanKind.SERVER, NO_ATTRIBUTES, []).decision === SamplingDecision.RECORD_AND_SAMPLED;
    const method = req.method!;
    const fields = {
      method,
      path: pathOf(req.url!),
      scheme,
      route,
      serverAddress: hostname(host),
      clientAddress: clientIp,
      protocolVersion: req.httpVersion,
    };
    const span = new ServerSpan(this.source, fields, traceId, this.source.ids.generateSpanId(), sampled ? 1 : 0, parent?.traceState, parent);
    return new RequestTrace(this.source, span);
  }

  /** Exports what is left, for a clean stop; a collector that does not answer holds the stop {@link SHUTDOWN_EXPORT_WAIT_MS} at most. */
  async shutdown(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const given = new Promise<void>((resolve) => (timer = setTimeout(resolve, SHUTDOWN_EXPORT_WAIT_MS)));
    await Promise.race([this.source.processor.shutdown().catch(() => undefined), given]);
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

/** One request's SERVER span, and the CLIENT spans of its attempts. An unsampled span is made and never exported. */
export class RequestTrace {
  constructor(
    private readonly source: SpanSource,
    private readonly span: ServerSpan,
  ) {}

  /** A CLIENT span for one attempt at `target` (the n-th, from 1), whose trace context the service gets. */
  attempt(target: URL, attempt: number): AttemptWatch {
    const span = new ClientSpan(this.span, this.source, this.source.ids.generateSpanId(), this.span.request.method, target, attempt);
    const headers: string[] = [];
    propagator.inject(trace.setSpanContext(ROOT_CONTEXT, span), headers, FLAT_HEADERS);
    return new AttemptSpan(this.source.processor, span, headers);
  }

  /** The response went out, or was cut (`status` as the access line has it). */
  end(status: number): void {
    const span = this.span;
    span.statusCode = status;
    if (status >= 500) span.errorType = String(status);
    finish(this.source.processor, span);
  }
}

class AttemptSpan implements AttemptWatch {
  constructor(
    private readonly processor: BatchSpanProcessor,
    private readonly span: ClientSpan,
    readonly headers: readonly string[],
  ) {}

  answered(status: number): void {
    this.span.statusCode = status;
  }

  end(error?: Error): void {
    const span = this.span;
    if (error) {
      span.errorType = (error as NodeJS.ErrnoException).code ?? error.name;
      span.errorMessage = error.message;
    } else if (span.statusCode >= 500) span.errorType = String(span.statusCode);
    finish(this.processor, span);
  }
}

/** Hands a span to the processor, which queues it for export when it is sampled. */
function finish(processor: BatchSpanProcessor, span: RecordedSpan): void {
  span.endMs = now();
  processor.onEnd(span);
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
