import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { type Dispatcher, Pool } from 'undici';
import { BodyLimitStream } from './body-limit.js';
import {
  BodyTooLargeError,
  toProxyErrorResponse,
  UnsupportedFramingError,
  upstreamErrorKind,
} from './proxy-errors.js';
import type { ProxyReport, ResponseReceiver, ResponseTap } from './response-tap.js';
import { type ClientView, toClientHeaders, toUpstreamHeaders, type ResponseHeaders } from './upstream-headers.js';

/** Where and how one route forwards: decided once, at start-up. */
export interface ForwardTarget {
  /** Base URL of the service; its path, if any, comes before the forwarded one. */
  target: URL;
  /** Turns the client's URL (path and query) into the path the service receives. */
  rewriteUrl: (originalUrl: string) => string;
  /** Largest request body, in bytes. */
  bodyLimit: number;
  /** Longest wait for the service, in milliseconds: to connect, for its head, between body chunks. */
  timeout: number;
}

/** One request to forward, as the route's pipeline hands it over. */
export interface ForwardRequest {
  req: IncomingMessage;
  res: ServerResponse;
  originalUrl: string;
  client: ClientView;
  report: ProxyReport;
  /** Sees the response on its way to the client (the cache fills through it). */
  tap?: ResponseTap;
  /** Takes the response instead of the client (a route's `onResponse` hook). */
  receiver?: ResponseReceiver;
}

/** Whether responses should close their client connection: set once the server drains. */
export interface DrainState {
  draining: boolean;
}

/**
 * Forwards the requests of one route to its target through one undici `Pool`, built at start-up
 * (its keep-alive connections are reused by every request) and closed on shutdown. Bodies stream
 * both ways with back-pressure and are framed by the gateway, never by the client.
 */
export class Forwarder {
  readonly pool: Pool;
  private readonly targetHost: string;
  private readonly basePath: string;

  constructor(
    readonly route: ForwardTarget,
    private readonly drain: DrainState,
  ) {
    const { target, timeout } = route;
    this.pool = new Pool(target.origin, { connectTimeout: timeout, headersTimeout: timeout, bodyTimeout: timeout });
    this.targetHost = target.host;
    this.basePath = target.pathname === '/' ? '' : target.pathname.replace(/\/+$/, '');
  }

  forward(request: ForwardRequest): void {
    const { req } = request;
    const headers = req.headers;
    const transferEncoding = headers['transfer-encoding'];
    const contentLength = headers['content-length'];
    let body: Readable | null = null;
    // The gateway frames the body itself: a length when the client's parser knew it, chunked
    // otherwise, neither without a body. Whatever framing the client sent, only one request
    // ever reaches the service (request smuggling, RFC 9112 §6.3).
    if (transferEncoding !== undefined) {
      if (transferEncoding.toLowerCase() !== 'chunked') return this.refuse(request, new UnsupportedFramingError(transferEncoding));
      const counted = new BodyLimitStream(this.route.bodyLimit);
      req.on('error', (error) => counted.destroy(error));
      body = req.pipe(counted);
    } else if (contentLength !== undefined && contentLength !== '0') {
      if (Number(contentLength) > this.route.bodyLimit) return this.refuse(request, new BodyTooLargeError(this.route.bodyLimit));
      body = req;
    }
    const upstreamHeaders = toUpstreamHeaders(req, this.targetHost, request.client);
    if (body === req) upstreamHeaders['content-length'] = contentLength;
    upstreamHeaders['x-request-id'] = request.report.id;
    const exchange = new ForwardExchange(request, this.drain);
    this.pool.dispatch(
      { path: this.basePath + this.route.rewriteUrl(request.originalUrl), method: req.method!, headers: upstreamHeaders, body },
      exchange,
    );
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  /** Answers a request refused before it reached the service. */
  private refuse(request: ForwardRequest, error: Error): void {
    writeError(request, error);
  }
}

/** Writes the error a failed exchange answers with, once, or cuts a response already begun. */
function writeError({ req, res, report }: ForwardRequest, error: Error): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = toProxyErrorResponse(error);
  const payload = JSON.stringify(body);
  res.writeHead(body.statusCode, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    'x-request-id': report.id,
    // The unread rest of a refused body would otherwise be parsed as the next request.
    ...(req.complete ? {} : { connection: 'close' }),
  });
  res.end(payload);
}

/**
 * One exchange with the service, as undici's dispatch handler. The handler is undici's own
 * (`onConnect`/`onHeaders`/`onData`/`onComplete`/`onError`): the controller-style API wraps it
 * in an adapter that parses every head into an object first.
 */
class ForwardExchange implements Dispatcher.DispatchHandler {
  private abortUpstream?: (reason?: Error) => void;
  private resume?: () => void;
  /** The head was handed on: from here, a failure cuts the response instead of answering. */
  private started = false;
  private finished = false;
  private abandoned = false;

  constructor(
    private readonly request: ForwardRequest,
    private readonly drain: DrainState,
  ) {
    request.res.once('close', this.abandon);
  }

  onConnect(abort: (reason?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.abandoned) abort();
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // 1xx: informational (a service's own `100 Continue`), not the response.
    if (statusCode < 200) return true;
    this.resume = resume;
    const headers = toClientHeaders(rawHeaders);
    const { tap } = this.request;
    const held = tap?.head(statusCode, headers);
    if (held) {
      void held.then(() => this.start(statusCode, headers)).then(resume, resume);
      return false;
    }
    this.start(statusCode, headers);
    return true;
  }

  onData(chunk: Buffer): boolean {
    const { tap, receiver, res } = this.request;
    tap?.chunk(chunk);
    if (receiver) return receiver.data(chunk, this.resume!);
    if (res.write(chunk)) return true;
    res.once('drain', this.resume!);
    return false;
  }

  onComplete(): void {
    this.finished = true;
    const gate = this.request.tap?.end();
    if (gate) void gate.then(this.end, this.end);
    else this.end();
  }

  onError(error: Error): void {
    this.finished = true;
    const { tap, receiver, report } = this.request;
    tap?.abort();
    if (this.abandoned) return;
    const kind = upstreamErrorKind(error);
    if (kind) report.upstreamFailed(kind);
    if (receiver && this.started) return receiver.abort(error);
    // A service that dies mid-body must not leave the client waiting, nor let it take the
    // truncated body for a whole one: `writeError` cuts a response already begun.
    writeError(this.request, error);
  }

  private start(statusCode: number, headers: ResponseHeaders): void {
    this.started = true;
    const { receiver, res, report } = this.request;
    if (receiver) return receiver.head(statusCode, headers, this.abandon);
    headers['x-request-id'] = report.id;
    if (this.drain.draining) headers.connection = 'close';
    res.writeHead(statusCode, headers);
  }

  private readonly end = () => {
    const { receiver, res } = this.request;
    if (receiver) receiver.end();
    else res.end();
  };

  /** The client left, or the receiver gave the response up: end the service's exchange, tell no one. */
  private readonly abandon = () => {
    if (this.finished) return;
    this.abandoned = true;
    this.abortUpstream?.();
  };
}
