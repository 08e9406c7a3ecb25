import type { IncomingMessage } from 'node:http';
import { type Attributes, defaultTextMapGetter, ROOT_CONTEXT, SamplingDecision, SpanKind, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOffSampler, AlwaysOnSampler, ParentBasedSampler, RandomIdGenerator, type Sampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace';
import type { AttemptWatch } from '../proxy/index.js';
import { ClientSpan, now, type RecordedSpan, ServerSpan, type SpanOrigin } from './recorded-span.js';
import { SpanExport, type TraceCounts } from './span-export.js';
import type { TracingSettings } from './tracing-settings.js';

export type { TraceCounts } from './span-export.js';

const propagator = new W3CTraceContextPropagator();
/** The last spans' export at a stop: worth a moment, not the whole grace period. */
const SHUTDOWN_EXPORT_WAIT_MS = 2000;

/** Where a request's spans come from and go: what its {@link RequestTrace} needs of the tracer. */
interface SpanSource extends SpanOrigin {
  readonly ids: RandomIdGenerator;
  readonly export: SpanExport;
}

const NO_ATTRIBUTES: Attributes = {};

/**
 * The gateway's spans, made by the gateway itself on its path (no instrumentation of Node's
 * modules): a SERVER span per request, a CLIENT span per attempt to a service. OpenTelemetry's
 * SDK samples them and makes their ids, and its OTLP exporter sends them in batches on a timer,
 * never on a request's path (see {@link SpanExport}). The spans themselves are the gateway's lean
 * records (see `recorded-span.ts`), encoded as they end. Sampling follows a caller's flag, and
 * samples `sampleRatio` of the traces the gateway starts; an unsampled request is still given a
 * trace id, and propagated.
 */
export class GatewayTracer {
  private readonly sampler: Sampler;
  private readonly source: SpanSource;

  constructor(settings: TracingSettings, warn: (message: string) => void) {
    // Every trace or none need no look at the id; in between, the SDK's ratio sampler decides on it.
    const root = settings.sampleRatio >= 1 ? new AlwaysOnSampler() : settings.sampleRatio <= 0 ? new AlwaysOffSampler() : new TraceIdRatioBasedSampler(settings.sampleRatio);
    this.sampler = new ParentBasedSampler({ root });
    const origin = { resource: resourceFromAttributes({ 'service.name': settings.serviceName }), instrumentationScope: { name: 'nest-gateway' } };
    this.source = { ...origin, ids: new RandomIdGenerator(), export: new SpanExport(settings, origin, warn) };
  }

  get counts(): TraceCounts {
    return this.source.export.counts;
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
  shutdown(): Promise<void> {
    return this.source.export.shutdown(SHUTDOWN_EXPORT_WAIT_MS);
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
    // W3C's version 00, from ids the SDK made valid: no parsing or checking to do on the way out.
    const headers = ['traceparent', `00-${span.traceId}-${span.spanId}-0${span.traceFlags}`];
    if (span.traceState) headers.push('tracestate', span.traceState.serialize());
    return new AttemptSpan(this.source.export, span, headers);
  }

  /** The response went out, or was cut (`status` as the access line has it). */
  end(status: number): void {
    const span = this.span;
    span.statusCode = status;
    if (status >= 500) span.errorType = String(status);
    finish(this.source.export, span);
  }
}

class AttemptSpan implements AttemptWatch {
  constructor(
    private readonly spans: SpanExport,
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
    finish(this.spans, span);
  }
}

/** Ends a span, queued for export when it is sampled. */
function finish(spans: SpanExport, span: RecordedSpan): void {
  span.endMs = now();
  if (span.traceFlags === 1) spans.add(span);
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
