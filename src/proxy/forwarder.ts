import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
// undici's own files, loaded alone to spare the RSS its index costs (src/types/undici-parts.d.ts).
// They are no public API and may move in any release: package.json pins undici exactly, and a
// bump is checked by the suite (docs/development.md, Dependencies).
import buildConnector from 'undici/lib/core/connect.js';
import Pool from 'undici/lib/dispatcher/pool.js';
import { guardConnects } from './connect-guard.js';
import type { AttemptPolicy, AttemptTarget, DispatchedAttempt, ProxyDrain, ForwardAttempts, Forwarding, ForwardRequest, ForwardTarget } from './forward-contracts.js';
import { ForwardExchange } from './forward-exchange.js';
import { answerFailure, BodyTooLargeError, UnsupportedFramingError } from './proxy-errors.js';
import { RequestBodyStream } from './request-body.js';
import { toUpstreamHeaders } from './upstream-headers.js';
import type { UpgradeDestination, UpgradeTargets } from './websocket-proxy.js';

/**
 * Forwards the requests of one route to its target through one undici `Pool`, built at start-up
 * (its keep-alive connections are reused by every request) and closed on shutdown. Bodies stream
 * both ways with back-pressure and are framed by the gateway, never by the client.
 */
export class Forwarder implements AttemptTarget, UpgradeTargets {
  private readonly pool: Pool;
  /** Connections used once, for requests sent again after a reused connection failed them. */
  private freshPool?: Pool;
  private readonly targetHost: string;
  private readonly basePath: string;
  private readonly connect: buildConnector.connector;
  /** undici takes a request's SNI from its `Host` before the connector's: a route's own name is set on each. */
  private readonly servername?: string;
  /** A route's only target takes every upgrade: there is nothing to count or choose. */
  private readonly upgradeTarget: UpgradeDestination;
  readonly dropResponseHeaders: ReadonlySet<string>;

  constructor(
    readonly route: ForwardTarget,
    private readonly drain: ProxyDrain,
  ) {
    const { target } = route;
    this.dropResponseHeaders = route.dropResponseHeaders;
    // The route's CA, client certificate and SNI name go to every TLS connect; verification
    // stays on (undici's `rejectUnauthorized` default), there is no option to turn it off.
    const { ca, cert, key, servername } = route.tls ?? {};
    this.connect = guardConnects(buildConnector({ timeout: route.timeout, ca, cert, key, servername }));
    this.servername = servername;
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

  get url(): URL {
    return this.route.target;
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
    } else if (contentLength !== undefined) {
      if (contentLength !== '0') {
        if (Number(contentLength) > this.route.bodyLimit) return this.refuse(request, new BodyTooLargeError(this.route.bodyLimit));
        // The parser (nghttp2 for HTTP/2) holds a declared length to its word; only silence needs watching.
        body = this.watchedBody(req, Infinity);
      }
    } else if (req.httpVersionMajor === 2 && !(req as unknown as Http2ServerRequest).stream.endAfterHeaders) {
      // HTTP/2 frames a body by its stream, not by a header: a request whose HEADERS frame did
      // not end the stream has one, of a length known once read, forwarded chunked.
      body = this.watchedBody(req, this.route.bodyLimit);
    }
    const exchange = new ForwardExchange(request, this.drain, body, body && transferEncoding === undefined ? contentLength : undefined, policy);
    this.send(exchange, false);
    return exchange;
  }

  send(exchange: DispatchedAttempt, fresh: boolean): void {
    const { request } = exchange;
    exchange.attemptOn(this);
    const headers = toUpstreamHeaders(request, this.targetHost, exchange.declaredLength, this.route.dropHeaders);
    const traced = exchange.watch?.headers;
    if (traced) for (const item of traced) headers.push(item);
    const options = { path: this.basePath + this.route.rewriteUrl(request.originalUrl), method: request.req.method!, headers, body: exchange.body, servername: this.servername };
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
    // undici's types omit the `servername` its requests take.
    const options = { path: this.basePath + path, method: 'GET' as const, headers: { host: this.targetHost }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, servername: this.servername };
    return new Promise((resolve) => {
      let status = 0;
      this.pool.dispatch(
        options,
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
    answerFailure(request, error);
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
