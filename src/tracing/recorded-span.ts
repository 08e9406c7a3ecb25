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

const TIME_ORIGIN = performance.timeOrigin;
/** Milliseconds since the epoch, sub-millisecond: the origin read once (its getter is not free), the rest monotonic. */
export const now = (): number => TIME_ORIGIN + performance.now();

/**
 * A span as a few plain fields, encoded for export when it ends (`span-encoding.ts`): no object
 * of it outlives its request. It is also OpenTelemetry's `ReadableSpan` (its times, status and
 * attributes made when asked), the form the SDK's own serializers read, against which the
 * encoding is tested. What every span has alike is on the prototype, not in each span. The span
 * is its own `SpanContext`.
 */
export abstract class RecordedSpan<Origin extends SpanOrigin = SpanOrigin> implements ReadableSpan, SpanContext {
  endMs = 0;
  /** The HTTP status answered, 0 until there is one. */
  statusCode = 0;
  /** Set when the span failed: `error.type` and the status ERROR. */
  errorType: string | undefined;
  errorMessage: string | undefined;

  constructor(
    protected readonly origin: Origin,
    readonly kind: SpanKind,
    readonly traceId: string,
    readonly spanId: string,
    readonly traceFlags: number,
    readonly traceState: TraceState | undefined,
    readonly parentSpanContext: SpanContext | undefined,
    readonly startMs: number,
  ) {}

  /** Made when the span is encoded, not when the request is on its way. */
  abstract get name(): string;

  get resource(): Resource {
    return this.origin.resource;
  }

  get instrumentationScope(): InstrumentationScope {
    return this.origin.instrumentationScope;
  }

  get ended(): boolean {
    return true;
  }

  get events(): TimedEvent[] {
    return NO_EVENTS;
  }

  get links(): [] {
    return NO_LINKS;
  }

  get droppedAttributesCount(): number {
    return 0;
  }

  get droppedEventsCount(): number {
    return 0;
  }

  get droppedLinksCount(): number {
    return 0;
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
    const attributes: Attributes = {};
    this.writeAttributes({ string: (key, value) => (attributes[key] = value), int: (key, value) => (attributes[key] = value) });
    return attributes;
  }

  /** Hands each attribute, in order, to `sink`: what an encoder reads instead of building the attributes object. */
  writeAttributes(sink: AttributeSink): void {
    this.writeOwnAttributes(sink);
    if (this.statusCode !== 0) sink.int('http.response.status_code', this.statusCode);
    if (this.errorType !== undefined) sink.string('error.type', this.errorType);
  }

  protected abstract writeOwnAttributes(sink: AttributeSink): void;
}

/** Where a span's attributes go, one at a time: the spans have only strings and integers. */
export interface AttributeSink {
  string(key: string, value: string): void;
  int(key: string, value: number): void;
}

/**
 * What a SERVER span records of its request, as the request has it: the path and the server's
 * address are read off its target and `Host` when the span is encoded, off the request's path.
 */
export interface ServerRequestFields {
  method: string;
  /** The request-target, query and all. */
  target: string;
  scheme: string;
  route: string;
  /** The `Host` value, port and all. */
  host: string;
  clientAddress: string;
  protocolVersion: string;
}

/** The gateway's span of one request, named `<METHOD> <http.route>`. */
export class ServerSpan<Origin extends SpanOrigin = SpanOrigin> extends RecordedSpan<Origin> {
  constructor(
    origin: Origin,
    readonly request: ServerRequestFields,
    traceId: string,
    spanId: string,
    traceFlags: number,
    traceState: TraceState | undefined,
    parent: SpanContext | undefined,
  ) {
    super(origin, SpanKind.SERVER, traceId, spanId, traceFlags, traceState, parent, now());
  }

  get name(): string {
    return `${this.request.method} ${this.request.route}`;
  }

  protected writeOwnAttributes(sink: AttributeSink): void {
    const request = this.request;
    sink.string('http.request.method', request.method);
    sink.string('url.path', pathOf(request.target));
    sink.string('url.scheme', request.scheme);
    sink.string('http.route', request.route);
    sink.string('server.address', hostname(request.host));
    sink.string('client.address', request.clientAddress);
    sink.string('network.protocol.version', request.protocolVersion);
  }
}

/** The path of a request target, without its query (which may carry what no trace should hold). */
function pathOf(target: string): string {
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}

/** A Host value without its port. */
function hostname(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

/** One attempt at a service: a CLIENT span, child of its request's. */
export class ClientSpan<Origin extends SpanOrigin = SpanOrigin> extends RecordedSpan<Origin> {
  constructor(
    parent: ServerSpan<SpanOrigin>,
    origin: Origin,
    spanId: string,
    private readonly method: string,
    private readonly target: URL,
    private readonly attempt: number,
  ) {
    super(origin, SpanKind.CLIENT, parent.traceId, spanId, parent.traceFlags, parent.traceState, parent, now());
  }

  get name(): string {
    return this.method;
  }

  protected writeOwnAttributes(sink: AttributeSink): void {
    const target = targetAttributes(this.target);
    sink.string('http.request.method', this.method);
    sink.string('server.address', target.address);
    sink.int('server.port', target.port);
    sink.string('url.full', target.full);
    if (this.attempt > 1) sink.int('http.request.resend_count', this.attempt - 1);
  }
}

/** A target's attributes, read off its URL once: a URL's getters make new strings at each call. */
const TARGET_ATTRIBUTES = new WeakMap<URL, { address: string; port: number; full: string }>();

function targetAttributes(target: URL): { address: string; port: number; full: string } {
  let attributes = TARGET_ATTRIBUTES.get(target);
  if (attributes === undefined) {
    attributes = { address: target.hostname, port: Number(target.port || (target.protocol === 'https:' ? 443 : 80)), full: target.href };
    TARGET_ATTRIBUTES.set(target, attributes);
  }
  return attributes;
}
