import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CacheFill, CacheResult } from '../cache/index.js';
import { X_REQUEST_ID } from '../gateway.constants.js';
import { writeJsonAnswer } from '../gateway.errors.js';
import { assignRequestId, type LoggedExchange } from '../logging/index.js';
import type { RouteCounters } from '../metrics/index.js';
import type { GatewayTracer, RequestTrace } from '../tracing/index.js';
import { assignHeaderList, type AttemptWatch, type ForwardRequest, type Forwarding, type ResponseReceiver, type UpstreamErrorKind } from '../proxy/index.js';

/** What observes a route's exchanges; the pipeline implements it. */
export interface ExchangeStages {
  readonly counters: RouteCounters;
  /** Writes the access line of an ended exchange; absent when the access log is off. */
  readonly accessLine?: (exchange: Exchange, res: ServerResponse, cache: CacheResult | undefined) => void;
  /** Told of a failed exchange with a service; absent where requests never reach one (route `-`). */
  upstreamFailed?(exchange: Exchange, kind: UpstreamErrorKind): void;
  /** Present when tracing is on. */
  readonly tracer?: GatewayTracer;
}

const EXCHANGE = Symbol('nest-gateway.exchange');
type ExchangeResponse = ServerResponse & { [EXCHANGE]?: Exchange };

// One function for every response, not a closure per request: the emitter is `this`.
function onResponseClose(this: ExchangeResponse): void {
  this[EXCHANGE]!.close();
}

/**
 * One request on its way through a route's pipeline: its id, what the cache and the forwarder
 * reported, and the one place where its end is observed, whichever way it ends (answered,
 * refused, or cut): there it counts into the route's metrics, writes the access line and ends
 * the exchange with the service if the client left first. It is what the forwarder forwards, so
 * no stage allocates a callback per request; the route's pipeline extends it with the cache
 * lookup's outcomes.
 */
export class Exchange implements ForwardRequest, LoggedExchange {
  readonly id: string;
  readonly startedAt = performance.now();
  readonly socket: Socket;
  /** What the client's connection had been sent before this response, for the access line. */
  readonly bytesBefore: number;
  cache?: CacheResult;
  tap?: CacheFill;
  receiver?: ResponseReceiver;
  forwarding?: Forwarding;
  /** The response has ended or was cut: whatever is still to come is abandoned. */
  closed = false;
  /** Headers the gateway adds to whatever answers the exchange (a rate limit's fields), as a flat list. */
  addedHeaders?: string[];
  /** The request's SERVER span, when tracing is on. */
  readonly trace?: RequestTrace;

  /** The client, read once: fastify works it out at each read, and the forwarder and the span both ask. */
  private ip?: string;

  /** `route` is the fastify path the request matched, which names its span. */
  constructor(
    private readonly stages: ExchangeStages,
    readonly request: FastifyRequest,
    readonly reply: FastifyReply,
    route: string,
  ) {
    this.id = assignRequestId(request.raw);
    this.socket = request.raw.socket;
    this.bytesBefore = stages.accessLine ? this.socket.bytesWritten : 0;
    stages.counters.begin();
    if (stages.tracer) this.trace = stages.tracer.request(request.raw, route, this.clientProtocol, this.clientHost, this.clientIp);
    const res = reply.raw as ExchangeResponse;
    res[EXCHANGE] = this;
    res.on('close', onResponseClose);
  }

  get req(): IncomingMessage {
    return this.request.raw;
  }

  get res(): ServerResponse {
    return this.reply.raw;
  }

  get originalUrl(): string {
    return this.request.originalUrl;
  }

  get clientAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  get clientIp(): string {
    return (this.ip ??= this.request.ip);
  }

  get clientProtocol(): string {
    return this.request.protocol;
  }

  get clientHost(): string {
    return this.request.host;
  }

  upstreamFailed(kind: UpstreamErrorKind): void {
    this.stages.upstreamFailed?.(this, kind);
  }

  watchAttempt(target: URL, attempt: number): AttemptWatch | undefined {
    return this.trace?.attempt(target, attempt);
  }

  /** Answers with a JSON body written by the gateway itself, closing the connection when asked. */
  answer(statusCode: number, body: object, close = false, headers?: OutgoingHttpHeaders): void {
    const res = this.reply.raw;
    if (res.headersSent) return;
    const own: OutgoingHttpHeaders = close ? { ...headers, [X_REQUEST_ID]: this.id, connection: 'close' } : { ...headers, [X_REQUEST_ID]: this.id };
    assignHeaderList(own, this.addedHeaders);
    writeJsonAnswer(res, statusCode, body, own);
  }

  /**
   * The target switched protocols: the exchange ends with the 101, counted as such; the
   * WebSocket connection that follows is observed on its own, with its own access line.
   */
  upgraded(): void {
    const res = this.reply.raw;
    res.off('close', onResponseClose);
    res.statusCode = 101;
    this.closed = true;
    this.stages.counters.end(this.request.raw.method!, 101, (performance.now() - this.startedAt) / 1000, undefined);
    this.trace?.end(101);
  }

  /** The response has ended or was cut. */
  close(): void {
    this.closed = true;
    this.forwarding?.abandon();
    const res = this.reply.raw;
    const { counters, accessLine } = this.stages;
    counters.end(this.request.raw.method!, res.statusCode, (performance.now() - this.startedAt) / 1000, this.cache);
    this.trace?.end(res.statusCode);
    if (accessLine) accessLine(this, res, this.cache);
  }
}
