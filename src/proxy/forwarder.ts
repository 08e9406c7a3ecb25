import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
// undici's own files, loaded alone to spare the RSS its index costs (src/types/undici-parts.d.ts).
// They are no public API and may move in any release: package.json pins undici exactly, and a
// bump is checked by the suite (docs/development.md, Dependencies).
import buildConnector from 'undici/lib/core/connect.js';
import Pool from 'undici/lib/dispatcher/pool.js';
import { guardConnects } from './connect-guard.js';
import { RequestBodyStream } from './request-body.js';
import {
  BodyTooLargeError,
  FAILURE_STATUSES,
  RETRY_AFTER_SECONDS,
  toProxyErrorResponse,
  UnsupportedFramingError,
  type UpstreamErrorKind,
  upstreamErrorKind,
} from './proxy-errors.js';
import type { ResponseReceiver, ResponseTap } from './response-tap.js';
import type { UpgradeDestination, UpgradeTargets } from './websocket-proxy.js';
import { toClientHeaders, toHeaderObject, toUpstreamHeaders, type ResponseHeaders } from './upstream-headers.js';

/** Where and how one route forwards: decided once, at start-up. */
export interface ForwardTarget {
  /** Base URL of the service; its path, if any, comes before the forwarded one. */
  target: URL;
  /** The `Host` the service is sent, when not the target's own (an address found by DNS discovery). */
  host?: string;
  /** Turns the client's URL (path and query) into the path the service receives. */
  rewriteUrl: (originalUrl: string) => string;
  /** Largest request body, in bytes. */
  bodyLimit: number;
  /** Longest wait for the service, in milliseconds: to connect, for its head, between body chunks. */
  timeout: number;
  /** Most connections open to the target at once. */
  maxConnections: number;
  /** Longest silence in the client's request body, in milliseconds. */
  requestBodyTimeout: number;
  /** Longest an idle connection to the target is kept, in milliseconds. */
  keepAliveTimeout: number;
  /** Client request headers never forwarded, lower-case. */
  dropHeaders: ReadonlySet<string>;
}

/** One request to forward, as the route's pipeline hands it over. */
export interface ForwardRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly originalUrl: string;
  /** The request's id, sent to the service and on the response head. */
  readonly id: string;
  /** What the client says about itself, as fastify judged it (`trustProxy`). */
  readonly clientAddress: string | undefined;
  readonly clientProtocol: string;
  readonly clientHost: string;
  /** Sees the response on its way to the client (the cache fills through it). */
  readonly tap?: ResponseTap;
  /** Takes the response instead of the client (a route's `onResponse` hook). */
  readonly receiver?: ResponseReceiver;
  /** Told how the exchange failed on the service's side; the forwarder imports no metrics. */
  upstreamFailed(kind: UpstreamErrorKind): void;
}

/** Why an attempt failed before any of its response reached the client. */
export type AttemptFailure =
  | { kind: 'connect-error' | 'reset'; error: Error }
  | { kind: '502' | '503' | '504'; status: number; retryAfter?: string };

/** One request's exchange as a retry policy sees it. */
export interface ForwardAttempts {
  readonly request: ForwardRequest;
  /** Attempts made so far, this one included. */
  readonly attempts: number;
  /** Whether the request may be sent again as it was: no body, or one the service never read. */
  replayable(): boolean;
  /** Sends the request to `forwarder`, on a connection of its own when `fresh`. */
  sendTo(forwarder: Forwarder, fresh: boolean): void;
}

/** Decides what follows each attempt of a request: the route's targets and retry rules. */
export interface AttemptPolicy {
  /** True when the policy sends the request again (now or later, here or elsewhere). */
  failed(attempts: ForwardAttempts, failure: AttemptFailure, forwarder: Forwarder): boolean;
  /** The attempt on `forwarder` got a response head that is passed on. */
  answered?(forwarder: Forwarder, status: number): void;
  /** An attempt goes to `forwarder`. */
  sent?(forwarder: Forwarder): void;
  /** An attempt on `forwarder` ended, however. */
  settled?(forwarder: Forwarder): void;
}

/** An exchange in flight, as its caller holds it. */
export interface Forwarding {
  /** The client left, or the response was given up: end the exchange with the service, tell no one. */
  abandon(): void;
  /** Attempts made, the first included. */
  readonly attempts: number;
  /** The target of the latest attempt. */
  readonly target: string | undefined;
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
export class Forwarder implements UpgradeTargets {
  private readonly pool: Pool;
  /** Connections used once, for requests sent again after a reused connection failed them. */
  private freshPool?: Pool;
  private readonly targetHost: string;
  private readonly basePath: string;
  private readonly connect: buildConnector.connector;
  /** A route's only target takes every upgrade: there is nothing to count or choose. */
  private readonly upgradeTarget: UpgradeDestination;

  constructor(
    readonly route: ForwardTarget,
    private readonly drain: DrainState,
  ) {
    const { target } = route;
    this.connect = guardConnects(buildConnector({ timeout: route.timeout }));
    this.pool = new Pool(target.origin, {
      ...this.poolOptions(),
      // The gateway's own idle limit, and the most a target's `Keep-Alive` hint may extend it:
      // a connection is retired before the service closes it.
      keepAliveTimeout: route.keepAliveTimeout,
      keepAliveMaxTimeout: route.keepAliveTimeout,
    });
    this.targetHost = route.host ?? target.host;
    this.basePath = target.pathname === '/' ? '' : target.pathname.replace(/\/+$/, '');
    this.upgradeTarget = { target, host: route.host, settled: () => undefined, closed: () => undefined };
  }

  upgradeDestination(): UpgradeDestination {
    return this.upgradeTarget;
  }

  private poolOptions(): Pool.Options {
    const { maxConnections, timeout } = this.route;
    return { connections: maxConnections, connect: this.connect, headersTimeout: timeout, bodyTimeout: timeout };
  }


  /** Where requests go, for logs and metrics. */
  get href(): string {
    return this.route.target.href;
  }

  /**
   * Forwards one request; the caller calls `abandon()` on what it returns when the client leaves
   * (the forwarder adds no listener of its own to the client's response). `policy` decides what
   * follows a failed attempt; without one, only a request lost to a closing keep-alive
   * connection is sent again.
   */
  forward(request: ForwardRequest, policy: AttemptPolicy = this.lostRaceResend): Forwarding | undefined {
    const { req } = request;
    const headers = req.headers;
    const transferEncoding = headers['transfer-encoding'];
    const contentLength = headers['content-length'];
    let body: RequestBodyStream | null = null;
    // The gateway frames the body itself: a length when the client's parser knew it, chunked
    // otherwise, neither without a body. Whatever framing the client sent, only one request
    // ever reaches the service (request smuggling, RFC 9112 §6.3).
    if (transferEncoding !== undefined) {
      if (transferEncoding.toLowerCase() !== 'chunked') return this.refuse(request, new UnsupportedFramingError(transferEncoding));
      body = this.watchedBody(req, this.route.bodyLimit);
    } else if (contentLength !== undefined && contentLength !== '0') {
      if (Number(contentLength) > this.route.bodyLimit) return this.refuse(request, new BodyTooLargeError(this.route.bodyLimit));
      // The parser holds a declared length to its word; only silence needs watching.
      body = this.watchedBody(req, Infinity);
    }
    const exchange = new ForwardExchange(request, this.drain, body, body && transferEncoding === undefined ? contentLength : undefined, policy);
    this.send(exchange, false);
    return exchange;
  }

  /** Dispatches one attempt of an exchange to this target. */
  send(exchange: ForwardExchange, fresh: boolean): void {
    const { request } = exchange;
    const headers = toUpstreamHeaders(request, this.targetHost, exchange.declaredLength, this.route.dropHeaders);
    const options = { path: this.basePath + this.route.rewriteUrl(request.originalUrl), method: request.req.method!, headers, body: exchange.body };
    exchange.attemptOn(this);
    if (fresh) {
      // No keep-alive (`pipelining: 0`): a connection of its own, where a reused one failed.
      this.freshPool ??= new Pool(this.route.target.origin, { ...this.poolOptions(), pipelining: 0 });
      this.freshPool.dispatch(options, exchange);
    } else {
      this.pool.dispatch(options, exchange);
    }
  }

  /** A single target's policy: a request lost to a closing keep-alive connection goes again, once. */
  private readonly lostRaceResend: AttemptPolicy = {
    failed: (attempts, failure, forwarder) => {
      if (failure.kind !== 'reset' || attempts.attempts > 1 || !isSafeToResend(attempts)) return false;
      attempts.sendTo(forwarder, true);
      return true;
    },
  };

  /** The client's body as it streams on: counted against `limitBytes`, cut when it goes silent. */
  private watchedBody(req: IncomingMessage, limitBytes: number): RequestBodyStream {
    const watched = new RequestBodyStream(limitBytes, this.route.requestBodyTimeout);
    req.on('error', (error) => watched.destroy(error));
    // undici stops listening once it is done with the body; a late error must not go unheard.
    watched.on('error', () => undefined);
    return req.pipe(watched);
  }

  /** Asks the target for `path` (an active health check): whether it answered 2xx or 3xx within `timeoutMs`. */
  probe(path: string, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      let status = 0;
      this.pool.dispatch(
        { path: this.basePath + path, method: 'GET', headers: { host: this.targetHost }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs },
        {
          onConnect: () => undefined,
          onHeaders: (statusCode: number) => {
            if (statusCode >= 200) status = statusCode;
            return true;
          },
          onData: () => true,
          onComplete: () => resolve(status >= 200 && status < 400),
          onError: () => resolve(false),
        },
      );
    });
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.close(), this.freshPool?.close()]);
  }

  /** Answers a request refused before it reached the service. */
  private refuse(request: ForwardRequest, error: Error): undefined {
    writeProxyError(request, error);
    return undefined;
  }
}

const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/**
 * Whether a request the service may have received can be sent again: an idempotent method
 * (RFC 9110 §9.2.2), and a body that is absent or was never read.
 */
export function isSafeToResend(attempts: ForwardAttempts): boolean {
  return IDEMPOTENT_METHODS.has(attempts.request.req.method!) && attempts.replayable();
}

/**
 * How a service fails a request written on a connection it was closing (its idle timer fired
 * as the request went out): the socket ends or resets before any response byte.
 */
const RESET_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);
/** The service could not be reached: nothing of the request was sent. */
const CONNECT_ERROR_CODES = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** Signals undici to drop an attempt whose answer is being retried. */
const RETRYING = Object.assign(new Error('the answer is being retried'), { code: 'GATEWAY_RETRYING' });

/** The `Retry-After` of a raw head, if any. */
function retryAfterOf(rawHeaders: Buffer[]): string | undefined {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i].length === 11 && rawHeaders[i].toString('latin1').toLowerCase() === 'retry-after') return rawHeaders[i + 1].toString('latin1');
  }
  return undefined;
}

/** Writes the error a failed exchange answers with, once, or cuts a response already begun. */
export function writeProxyError({ req, res, id }: Pick<ForwardRequest, 'req' | 'res' | 'id'>, error: Error): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = toProxyErrorResponse(error);
  const payload = JSON.stringify(body);
  res.writeHead(body.statusCode, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    'x-request-id': id,
    // A route with no target to take requests: worth asking again shortly.
    ...(body.statusCode === 503 ? { 'retry-after': RETRY_AFTER_SECONDS } : {}),
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
export class ForwardExchange implements Dispatcher.DispatchHandler, Forwarding, ForwardAttempts {
  private abortUpstream?: (reason?: Error) => void;
  attempts = 0;
  private forwarder?: Forwarder;
  /** The attempt's answer was dropped for a retry: its end is not the exchange's. */
  private dropping = false;
  private resume?: () => void;
  /** The head was handed on: from here, a failure cuts the response instead of answering. */
  private started = false;
  private finished = false;
  private abandoned = false;
  /** The client left while the tap still wanted the response: it is read for the tap alone. */
  private detached = false;
  /** The latest chunk the tap keeps, not yet written to the client. */
  private lastChunk?: Buffer;

  /** @param declaredLength the client's `Content-Length`, sent on when it framed the body. */
  constructor(
    readonly request: ForwardRequest,
    private readonly drain: DrainState,
    readonly body: RequestBodyStream | null,
    readonly declaredLength: string | undefined,
    private readonly policy: AttemptPolicy,
  ) {}

  replayable(): boolean {
    // Once the service has read some of the body, it cannot be sent to another.
    return this.body === null || !this.body.readableDidRead;
  }

  get target(): string | undefined {
    return this.forwarder?.href;
  }

  sendTo(forwarder: Forwarder, fresh: boolean): void {
    // The client left while a retry waited: nothing more comes, for the cache either.
    if (this.abandoned) return this.request.tap?.abort();
    forwarder.send(this, fresh);
  }

  /** A new attempt begins on `forwarder`. */
  attemptOn(forwarder: Forwarder): void {
    this.policy.sent?.(forwarder);
    this.attempts += 1;
    this.forwarder = forwarder;
    this.abortUpstream = undefined;
    this.dropping = false;
  }

  onConnect(abort: (reason?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.abandoned) abort();
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // 1xx: informational (a service's own `100 Continue`), not the response.
    if (statusCode < 200) return true;
    if (FAILURE_STATUSES.has(statusCode) && !this.abandoned) {
      const failure: AttemptFailure = { kind: String(statusCode) as '502', status: statusCode, retryAfter: retryAfterOf(rawHeaders) };
      const forwarder = this.forwarder!;
      if (this.policy.failed(this, failure, forwarder)) return this.drop();
    }
    this.policy.answered?.(this.forwarder!, statusCode);
    this.resume = resume;
    const list = toClientHeaders(rawHeaders);
    const { tap, receiver } = this.request;
    if (!tap && !receiver) {
      this.started = true;
      this.writeHead(statusCode, list);
      return true;
    }
    const headers = toHeaderObject(list);
    const held = tap?.head(statusCode, headers);
    if (held) {
      void held.then(() => this.start(statusCode, headers)).then(resume, (error: Error) => this.abortUpstream?.(error));
      return false;
    }
    this.start(statusCode, headers);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.dropping) return true;
    const { tap, receiver, res } = this.request;
    const kept = tap?.chunk(chunk) === true;
    if (this.detached) {
      if (!kept) this.stop();
      return true;
    }
    if (receiver) return receiver.data(chunk, this.resume!);
    if (kept) {
      // A client may hold the whole answer before its end is written (a `Content-Length`
      // body): the last chunk goes out with the end, once the tap is done with it.
      const previous = this.lastChunk;
      this.lastChunk = chunk;
      if (previous) res.write(previous);
      return true;
    }
    if (this.lastChunk) {
      res.write(this.lastChunk);
      this.lastChunk = undefined;
    }
    if (res.write(chunk)) return true;
    res.once('drain', this.resume!);
    return false;
  }

  onComplete(): void {
    this.policy.settled?.(this.forwarder!);
    if (this.dropping) return;
    this.finished = true;
    this.releaseBody();
    const gate = this.request.tap?.end();
    if (gate) void gate.finally(() => this.end());
    else this.end();
  }

  onError(error: Error): void {
    this.policy.settled?.(this.forwarder!);
    if (this.dropping) return;
    if (!this.started && !this.abandoned) {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      const kind = CONNECT_ERROR_CODES.has(code) ? 'connect-error' : RESET_CODES.has(code) ? 'reset' : undefined;
      if (kind && this.policy.failed(this, { kind, error }, this.forwarder!)) return;
    }
    this.finished = true;
    this.releaseBody();
    const { tap, receiver } = this.request;
    const kind = this.abandoned ? undefined : upstreamErrorKind(error);
    tap?.abort(kind && !this.started ? error : undefined);
    if (this.abandoned) return;
    if (kind) this.request.upstreamFailed(kind);
    if (receiver && this.started) return receiver.abort(error);
    // A service that dies mid-body must not leave the client waiting, nor let it take the
    // truncated body for a whole one: `writeProxyError` cuts a response already begun.
    writeProxyError(this.request, error);
  }

  private start(statusCode: number, headers: ResponseHeaders): void {
    this.started = true;
    const { receiver } = this.request;
    if (receiver) return receiver.head(statusCode, headers, this);
    headers['x-request-id'] = this.request.id;
    if (this.closesConnection()) headers.connection = 'close';
    this.request.res.writeHead(statusCode, headers);
  }

  private writeHead(statusCode: number, headers: string[]): void {
    headers.push('x-request-id', this.request.id);
    if (this.closesConnection()) headers.push('connection', 'close');
    this.request.res.writeHead(statusCode, headers);
  }

  /**
   * Draining, or the service answered before the client's body ended (a 401 to an upload): the
   * rest of that body would otherwise hold the connection, unread.
   */
  private closesConnection(): boolean {
    return this.drain.draining || !this.request.req.complete;
  }

  /**
   * undici leaves the body stream as it is when an exchange ends before the body was sent (a
   * refused connection, an early answer): unpiped and destroyed here, it holds no buffers, no
   * timer and no socket.
   */
  private releaseBody(): void {
    const body = this.body;
    if (!body || body.destroyed) return;
    this.request.req.unpipe(body);
    body.destroy();
  }

  /** Drops the attempt in flight: its answer is being retried. */
  private drop(): false {
    this.dropping = true;
    this.abortUpstream?.(RETRYING);
    return false;
  }

  abandon(): void {
    if (this.finished) return;
    const { tap, receiver } = this.request;
    if (this.started && !receiver && tap?.wantsRest?.()) {
      this.detached = true;
      this.resume!();
      return;
    }
    this.stop();
  }

  /** Ends the exchange with the service, telling no one. */
  private stop(): void {
    this.abandoned = true;
    this.abortUpstream?.();
  }

  private end(): void {
    const { receiver, res } = this.request;
    if (receiver) receiver.end();
    else if (!this.detached) res.end(this.lastChunk);
  }
}
