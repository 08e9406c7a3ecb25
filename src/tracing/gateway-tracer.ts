import type { IncomingMessage } from 'node:http';
import { type Attributes, defaultTextMapGetter, ROOT_CONTEXT, SamplingDecision, SpanKind, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOffSampler, AlwaysOnSampler, type IdGenerator, ParentBasedSampler, type Sampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace';
import type { AttemptWatch } from '../proxy/index.js';
import { PooledIdGenerator } from './pooled-ids.js';
import { ClientSpan, now, type RecordedSpan, ServerSpan, type SpanOrigin } from './recorded-span.js';
import { SpanExport, type TraceCounts } from './span-export.js';
import type { TracingSettings } from './tracing-settings.js';

export type { TraceCounts } from './span-export.js';

const propagator = new W3CTraceContextPropagator();
/** The last spans' export at a stop: worth a moment, not the whole grace period. */
const SHUTDOWN_EXPORT_WAIT_MS = 2000;

/** Where a request's spans come from and go: what its {@link RequestTrace} needs of the tracer. */
interface SpanSource extends SpanOrigin {
  readonly ids: IdGenerator;
  readonly export: SpanExport;
}

const NO_ATTRIBUTES: Attributes = {};

/**
 * The gateway's spans, made by the gateway itself on its path (no instrumentation of Node's
 * modules): a SERVER span per request, a CLIENT span per attempt to a service. OpenTelemetry's
 * SDK samples them, and its OTLP exporter sends them in batches on a timer, never on a request's
 * path (see {@link SpanExport}). The spans themselves are the gateway's lean records (see
 * `recorded-span.ts`), encoded as they end. Sampling follows a caller's flag, and samples
 * `sampleRatio` of the traces the gateway starts; an unsampled request is still given a trace
 * id, and propagated.
 */
export class GatewayTracer {
  private readonly sampler: Sampler;
  /** The decision on every trace the gateway starts, at a ratio of 1 or 0; undefined in between, where the trace id decides. */
  private readonly rootDecision: boolean | undefined;
  private readonly source: SpanSource;

  constructor(settings: TracingSettings, warn: (message: string) => void) {
    this.rootDecision = settings.sampleRatio >= 1 ? true : settings.sampleRatio <= 0 ? false : undefined;
    const root = this.rootDecision === undefined ? new TraceIdRatioBasedSampler(settings.sampleRatio) : this.rootDecision ? new AlwaysOnSampler() : new AlwaysOffSampler();
    this.sampler = new ParentBasedSampler({ root });
    const origin = { resource: resourceFromAttributes({ 'service.name': settings.serviceName }), instrumentationScope: { name: 'nest-gateway' } };
    this.source = { ...origin, ids: new PooledIdGenerator(), export: new SpanExport(settings, origin, warn) };
  }

  get counts(): TraceCounts {
    return this.source.export.counts;
  }

  /** The SERVER span of a request on `route` (its fastify path), continuing the caller's trace when it sent one. */
  request(req: IncomingMessage, route: string, scheme: string, host: string, clientIp: string): RequestTrace {
    const fields = { method: req.method!, target: req.url!, scheme, route, host, clientAddress: clientIp, protocolVersion: req.httpVersion };
    const ids = this.source.ids;
    if (req.headers.traceparent === undefined && this.rootDecision !== undefined) {
      // A trace the gateway starts at a ratio of 1 or 0: the sampler's answer is known, its id not looked at.
      return new RequestTrace(this.source, fields, ids.generateTraceId(), ids.generateSpanId(), this.rootDecision ? 1 : 0, undefined, undefined);
    }
    const context = propagator.extract(ROOT_CONTEXT, req.headers, defaultTextMapGetter);
    const parent = trace.getSpanContext(context);
    const traceId = parent?.traceId ?? ids.generateTraceId();
    const sampled = this.sampler.shouldSample(context, traceId, route, SpanKind.SERVER, NO_ATTRIBUTES, []).decision === SamplingDecision.RECORD_AND_SAMPLED;
    return new RequestTrace(this.source, fields, traceId, ids.generateSpanId(), sampled ? 1 : 0, parent?.traceState, parent);
  }

  /** Exports what is left, for a clean stop; a collector that does not answer holds the stop {@link SHUTDOWN_EXPORT_WAIT_MS} at most. */
  shutdown(): Promise<void> {
    return this.source.export.shutdown(SHUTDOWN_EXPORT_WAIT_MS);
  }
}

/** One request's SERVER span, which makes the CLIENT spans of its attempts. An unsampled span is made and never exported. */
export class RequestTrace extends ServerSpan<SpanSource> {
  /** A CLIENT span for one attempt at `target` (the n-th, from 1), whose trace context the service gets. */
  attempt(target: URL, attempt: number): AttemptWatch {
    return new AttemptSpan(this, this.origin, target, attempt);
  }

  /** The response went out, or was cut (`status` as the access line has it). */
  end(status: number): void {
    this.statusCode = status;
    if (status >= 500) this.errorType = String(status);
    finish(this.origin.export, this);
  }
}

class AttemptSpan extends ClientSpan<SpanSource> implements AttemptWatch {
  readonly headers: readonly string[];

  constructor(
    parent: RequestTrace,
    source: SpanSource,
    target: URL,
    attempt: number,
  ) {
    super(parent, source, source.ids.generateSpanId(), parent.request.method, target, attempt);
    // W3C's version 00, from ids made valid: no parsing or checking to do on the way out.
    const traceparent = `00-${this.traceId}-${this.spanId}-0${this.traceFlags}`;
    this.headers = this.traceState ? ['traceparent', traceparent, 'tracestate', this.traceState.serialize()] : ['traceparent', traceparent];
  }

  answered(status: number): void {
    this.statusCode = status;
  }

  end(error?: Error): void {
    if (error) {
      this.errorType = (error as NodeJS.ErrnoException).code ?? error.name;
      this.errorMessage = error.message;
    } else if (this.statusCode >= 500) this.errorType = String(this.statusCode);
    finish(this.origin.export, this);
  }
}

/** Ends a span, queued for export when it is sampled. */
function finish(spans: SpanExport, span: RecordedSpan): void {
  span.endMs = now();
  if (span.traceFlags === 1) spans.add(span);
}
