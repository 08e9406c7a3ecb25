import { type Attributes, type HrTime, type SpanContext, SpanKind, type SpanStatus, SpanStatusCode, type TraceState } from '@opentelemetry/api';
import { hrTimeDuration, type InstrumentationScope, millisToHrTime } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace';

/** What every span of one gateway shares: its resource and instrumentation scope (the exporter groups by them). */
export interface SpanOrigin {
  readonly resource: Resource;
  readonly instrumentationScope: InstrumentationScope;
}

const NO_EVENTS: TimedEvent[] = [];
const NO_LINKS: [] = [];
const UNSET: SpanStatus = { code: SpanStatusCode.UNSET };

/** Milliseconds since the epoch, sub-millisecond, on the monotonic clock the SDK's spans use. */
export const now = (): number => performance.timeOrigin + performance.now();

/**
 * A finished span as the exporter reads it (OpenTelemetry's `ReadableSpan`), kept as a few plain
 * fields until the export: its times, status and attributes are made when the exporter asks, in
 * the batch that serializes them. The SDK's own span keeps each of them as objects from its start,
 * and a queue of those outlives V8's young generation: the gateway's bench paid more for that
 * garbage than for the spans' work. The span is its own `SpanContext`.
 */
export abstract class RecordedSpan implements ReadableSpan, SpanContext {
  readonly ended = true;
  readonly events = NO_EVENTS;
  readonly links = NO_LINKS;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  readonly resource: Resource;
  readonly instrumentationScope: InstrumentationScope;
  endMs = 0;
  /** The HTTP status answered, 0 until there is one. */
  statusCode = 0;
  /** Set when the span failed: `error.type` and the status ERROR. */
  errorType: string | undefined;
  errorMessage: string | undefined;

  constructor(
    origin: SpanOrigin,
    readonly name: string,
    readonly kind: SpanKind,
    readonly traceId: string,
    readonly spanId: string,
    readonly traceFlags: number,
    readonly traceState: TraceState | undefined,
    readonly parentSpanContext: SpanContext | undefined,
    readonly startMs: number,
  ) {
    this.resource = origin.resource;
    this.instrumentationScope = origin.instrumentationScope;
  }

  spanContext(): SpanContext {
    return this;
  }

  get startTime(): HrTime {
    return millisToHrTime(this.startMs);
  }

  get endTime(): HrTime {
    return millisToHrTime(this.endMs);
  }

  get duration(): HrTime {
    return hrTimeDuration(this.startTime, this.endTime);
  }

  get status(): SpanStatus {
    return this.errorType === undefined ? UNSET : { code: SpanStatusCode.ERROR, message: this.errorMessage };
  }

  get attributes(): Attributes {
    const attributes = this.ownAttributes();
    if (this.statusCode !== 0) attributes['http.response.status_code'] = this.statusCode;
    if (this.errorType !== undefined) attributes['error.type'] = this.errorType;
    return attributes;
  }

  protected abstract ownAttributes(): Attributes;
}

/** What a SERVER span records of its request. */
export interface ServerRequestFields {
  method: string;
  path: string;
  scheme: string;
  route: string;
  serverAddress: string;
  clientAddress: string;
  protocolVersion: string;
}

/** The gateway's span of one request, named `<METHOD> <http.route>`. */
export class ServerSpan extends RecordedSpan {
  constructor(
    origin: SpanOrigin,
    readonly request: ServerRequestFields,
    traceId: string,
    spanId: string,
    traceFlags: number,
    traceState: TraceState | undefined,
    parent: SpanContext | undefined,
  ) {
    super(origin, `${request.method} ${request.route}`, SpanKind.SERVER, traceId, spanId, traceFlags, traceState, parent, now());
  }

  protected ownAttributes(): Attributes {
    const request = this.request;
    return {
      'http.request.method': request.method,
      'url.path': request.path,
      'url.scheme': request.scheme,
      'http.route': request.route,
      'server.address': request.serverAddress,
      'client.address': request.clientAddress,
      'network.protocol.version': request.protocolVersion,
    };
  }
}

/** One attempt at a service: a CLIENT span, child of its request's. */
export class ClientSpan extends RecordedSpan {
  constructor(
    parent: ServerSpan,
    origin: SpanOrigin,
    spanId: string,
    private readonly method: string,
    private readonly target: URL,
    private readonly attempt: number,
  ) {
    super(origin, method, SpanKind.CLIENT, parent.traceId, spanId, parent.traceFlags, parent.traceState, parent, now());
  }

  protected ownAttributes(): Attributes {
    const target = this.target;
    const attributes: Attributes = {
      'http.request.method': this.method,
      'server.address': target.hostname,
      'server.port': Number(target.port || (target.protocol === 'https:' ? 443 : 80)),
      'url.full': target.href,
    };
    if (this.attempt > 1) attributes['http.request.resend_count'] = this.attempt - 1;
    return attributes;
  }
}
