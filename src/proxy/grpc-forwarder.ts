import { type ClientHttp2Stream, constants, type Http2ServerResponse, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { writeJsonAnswer } from '../gateway.errors.js';
import type { AttemptWatch, ForwardRequest, ForwardTarget, Forwarding } from './forward-contracts.js';
import { GrpcSessions } from './grpc-sessions.js';
import { upstreamErrorKind } from './proxy-errors.js';
import { assignHeaderList, toHeaderObject, toUpstreamHeaders } from './upstream-headers.js';
import type { UpgradeDestination, UpgradeTargets } from './websocket-proxy.js';

/** The statuses the gateway answers with itself (grpc/grpc `doc/statuscodes.md`). */
const DEADLINE_EXCEEDED = '4';
const UNAVAILABLE = '14';

// `grpc-timeout` (the gRPC over HTTP/2 spec, PROTOCOL-HTTP2.md): up to 8 digits and a unit.
const GRPC_TIMEOUT = /^(\d{1,8})([HMSmun])$/;
const TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** A `grpc-timeout` value in milliseconds; undefined when absent or malformed (no deadline, as gRPC servers take it). */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  const match = value === undefined ? null : GRPC_TIMEOUT.exec(value);
  return match ? Number(match[1]) * TIMEOUT_UNIT_MS[match[2]] : undefined;
}

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR, HTTP2_HEADER_STATUS } = constants;

/**
 * Forwards the gRPC calls of one route to its target over HTTP/2 (`node:http2`: undici cannot
 * send request trailers, and the calls of one target share one connection). Messages stream
 * both ways as they come, metadata and trailers pass unchanged; the gateway's own answers are
 * gRPC statuses: 14 (UNAVAILABLE) when the target cannot be reached, 4 (DEADLINE_EXCEEDED)
 * past the call's deadline, its `grpc-timeout` bounded by the route's `timeout`. Never retried:
 * a call's messages are not kept to be sent again.
 */
export class GrpcForwarder implements UpgradeTargets {
  private readonly sessions: GrpcSessions;
  private readonly authority: string;
  private readonly basePath: string;

  constructor(readonly route: ForwardTarget) {
    const { target } = route;
    this.sessions = new GrpcSessions(target.origin, target.protocol === 'https:' ? route.tls : undefined);
    this.authority = route.host ?? target.host;
    this.basePath = target.pathname === '/' ? '' : target.pathname.replace(/\/+$/, '');
  }

  get href(): string {
    return this.route.target.href;
  }

  /** A gRPC route takes no WebSocket upgrade. */
  upgradeDestination(): UpgradeDestination | undefined {
    return undefined;
  }

  forward(request: ForwardRequest): Forwarding | undefined {
    const res = request.res as unknown as Http2ServerResponse;
    if (!res.stream) {
      // gRPC is HTTP/2 only; an HTTP/1.1 request on the route is no call.
      writeJsonAnswer(request.res, 505, { statusCode: 505, error: 'HTTP Version Not Supported', message: 'gRPC needs HTTP/2' }, { 'x-request-id': request.id });
      return undefined;
    }
    const given = parseGrpcTimeout(request.req.headers['grpc-timeout'] as string | undefined);
    const deadlineMs = Math.min(given ?? Infinity, this.route.timeout);
    const watch = request.watchAttempt?.(this.route.target, 1);
    const headers = this.upstreamHeaders(request, deadlineMs, watch);
    return new GrpcCall(request, res, this.sessions.current().request(headers), deadlineMs, watch, this.href);
  }

  /**
   * The call's head for the service: the client's headers as every forwarded request gets them
   * (`toUpstreamHeaders`: no hop-by-hop, `x-forwarded-*` and the request id set by the gateway),
   * addressed by `:authority` in place of `Host`, with `te: trailers`, which gRPC servers
   * require, and the deadline the gateway holds the call to, in whole milliseconds.
   */
  private upstreamHeaders(request: ForwardRequest, deadlineMs: number, watch: AttemptWatch | undefined): OutgoingHttpHeaders {
    const headers = toHeaderObject(toUpstreamHeaders(request, this.authority, undefined, this.route.dropHeaders)) as OutgoingHttpHeaders;
    delete headers.host;
    headers[':method'] = 'POST';
    headers[':path'] = this.basePath + this.route.rewriteUrl(request.originalUrl);
    headers[':authority'] = this.authority;
    headers.te = 'trailers';
    headers['grpc-timeout'] = `${Math.max(1, Math.ceil(deadlineMs))}m`;
    assignHeaderList(headers as Record<string, string>, watch?.headers);
    return headers;
  }

  close(): Promise<void> {
    return this.sessions.close();
  }
}

/** One call between a client's HTTP/2 stream and the target's. */
class GrpcCall implements Forwarding {
  readonly attempts = 1;
  private readonly timer: NodeJS.Timeout;
  private readonly downstream: ServerHttp2Stream;
  private responded = false;
  private done = false;
  private upstreamTrailers?: IncomingHttpHeaders;
  private error?: Error;

  constructor(
    private readonly request: ForwardRequest,
    private readonly res: Http2ServerResponse,
    private readonly upstream: ClientHttp2Stream,
    deadlineMs: number,
    private readonly watch: AttemptWatch | undefined,
    readonly target: string,
  ) {
    this.downstream = res.stream;
    this.timer = setTimeout(this.expire, deadlineMs);
    upstream.on('response', this.onResponse);
    upstream.on('trailers', (trailers: IncomingHttpHeaders) => (this.upstreamTrailers = trailers));
    upstream.on('error', (error: Error) => (this.error = error));
    upstream.on('close', this.onClose);
    // The client's messages go out as they come, with back-pressure; its end is the call's half-close.
    request.req.on('error', () => undefined);
    request.req.pipe(upstream);
  }

  private readonly onResponse = (headers: IncomingHttpHeaders, flags: number): void => {
    if (this.done) return;
    this.responded = true;
    this.watch?.answered(Number(headers[HTTP2_HEADER_STATUS]));
    const head = this.clientHead(headers);
    // Trailers-only (the status in the head, nothing after): passed on as such.
    if (flags & constants.NGHTTP2_FLAG_END_STREAM) {
      this.settle();
      if (this.writable()) this.downstream.respond(head, { endStream: true });
      return;
    }
    if (!this.writable()) return;
    this.downstream.respond(head, { waitForTrailers: true });
    this.upstream.pipe(this.downstream, { end: false });
  };

  /** The target's stream closed: its end, or it was refused, reset, or failed. */
  private readonly onClose = (): void => {
    if (this.done) return;
    // Ended whole (its data relayed by then): the client gets the service's trailers as they are.
    if (this.responded && !this.error && this.upstream.rstCode === NGHTTP2_NO_ERROR) {
      this.settle();
      return this.finish(this.upstreamTrailers ? this.passedOn(this.upstreamTrailers) : {});
    }
    this.settle(this.error ?? new Error(`The service closed the stream (code ${this.upstream.rstCode})`));
    const kind = this.error ? (upstreamErrorKind(this.error) ?? 'other') : 'reset';
    this.request.upstreamFailed(kind);
    this.answer(UNAVAILABLE, this.responded ? 'The service reset the call' : 'The service is unavailable');
  };

  /** The call's deadline passed: the target's stream is cancelled (RST_STREAM), the client told. */
  private readonly expire = (): void => {
    if (this.done) return;
    this.settle(new Error('Deadline exceeded'));
    this.upstream.close(NGHTTP2_CANCEL);
    this.request.upstreamFailed('timeout');
    this.answer(DEADLINE_EXCEEDED, 'Deadline exceeded at the gateway');
  };

  /** The client left (or its response ended): the target's stream is cancelled if still open. */
  abandon(): void {
    if (this.done) return;
    this.settle();
    this.upstream.close(NGHTTP2_CANCEL);
  }

  private settle(error?: Error): void {
    this.done = true;
    clearTimeout(this.timer);
    this.watch?.end(error);
  }

  /** Ends the call with a status of the gateway's own: trailers-only, or after what was relayed. */
  private answer(status: string, message: string): void {
    const trailers = { 'grpc-status': status, 'grpc-message': message };
    if (this.responded) return this.finish(trailers);
    if (!this.writable()) return;
    this.downstream.respond({ [HTTP2_HEADER_STATUS]: 200, 'content-type': 'application/grpc', ...trailers, 'x-request-id': this.request.id }, { endStream: true });
  }

  private finish(trailers: OutgoingHttpHeaders): void {
    this.upstream.unpipe(this.downstream);
    // Node's compatibility response sends its trailers when the stream asks (`wantTrailers`).
    this.res.addTrailers(trailers);
    if (this.writable()) this.downstream.end();
  }

  private writable(): boolean {
    return !this.downstream.destroyed && !this.downstream.closed;
  }

  /** The target's head as the client gets it, with the gateway's request id and added headers. */
  private clientHead(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
    const head = this.passedOn(headers);
    head[HTTP2_HEADER_STATUS] = headers[HTTP2_HEADER_STATUS];
    head['x-request-id'] = this.request.id;
    assignHeaderList(head as Record<string, string>, this.request.addedHeaders);
    return head;
  }

  /** A head or trailers of the target without its pseudo-headers. */
  private passedOn(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
    const kept: OutgoingHttpHeaders = {};
    for (const name in headers) if (name.charCodeAt(0) !== 58 /* : */) kept[name] = headers[name];
    return kept;
  }
}
