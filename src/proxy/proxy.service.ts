import type { IncomingMessage, ServerResponse } from 'node:http';
import { type BeforeApplicationShutdown, Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { createProxyServer, type ProxyServer, type ServerOptions } from 'http-proxy-3';
import type { OnResponseHook } from '../config/gateway-options.interface.js';
import { GATEWAY_METRICS, UPSTREAM_WARNING_INTERVAL_MS } from '../gateway.constants.js';
import type { GatewayMetrics } from '../metrics/index.js';
import { requestIdHeader, X_REQUEST_ID } from '../logging/index.js';
import { hookFailureBody } from '../gateway.errors.js';
import { throttledWarning } from '../throttled-warning.js';
import { createUpstreamAgents, destroyUpstreamAgents } from './agents.js';
import { BodyLimitStream, exceedsDeclaredLength } from './body-limit.js';
import { setForwardedHeaders, stripHopByHopHeaders } from './forwarded-headers.js';
import { BodyTooLargeError, toProxyErrorResponse, upstreamErrorKind, UpstreamTimeoutError } from './proxy-errors.js';

/** Where and how one route forwards: decided once, at start-up. */
export interface ForwardTarget {
  /** The route's prefix, naming it in metrics. */
  prefix: string;
  /** Base URL of the service. */
  target: URL;
  /** Turns the client's URL (path and query) into the path the service receives. */
  rewriteUrl: (originalUrl: string) => string;
  /** Largest request body, in bytes. */
  bodyLimit: number;
  /** Longest upstream silence, in milliseconds. */
  timeout: number;
  /** Replaces the default streaming of the response to the client. */
  onResponse?: OnResponseHook;
}

/** Forwards one request; built by {@link ProxyService.prepare} for one route. */
export type Forwarder = (req: FastifyRequest, reply: FastifyReply) => Promise<void> | void;

/** What the proxy-server events need to know about a request in flight. */
interface Exchange {
  req: FastifyRequest;
  reply: FastifyReply;
  onResponse: OnResponseHook;
  done: () => void;
}

const EXCHANGE = Symbol('nest-gateway.exchange');
type TrackedRequest = IncomingMessage & { [EXCHANGE]?: Exchange };

/**
 * Forwards requests to targets through http-proxy, one proxy server per route and keep-alive
 * agents shared by all. A server per route keeps its options fixed: options passed per call are
 * merged into a new object on every request, which costs more than the rest of http-proxy's work.
 */
@Injectable()
export class ProxyService implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(ProxyService.name);
  private readonly warnUpstreamError = throttledWarning(this.logger, UPSTREAM_WARNING_INTERVAL_MS);
  private readonly agents = createUpstreamAgents();
  private readonly servers: ProxyServer[] = [];
  /** Once the application shuts down, responses close their connections. */
  private draining = false;

  constructor(@Inject(GATEWAY_METRICS) private readonly metrics: GatewayMetrics) {}

  /** Builds the forwarder of one route; everything that does not depend on the request is fixed here. */
  prepare(forward: ForwardTarget): Forwarder {
    const server = this.createServer(forward);
    const onError = (error: Error, req: IncomingMessage, res: ServerResponse | unknown) => {
      if (!(error instanceof BodyTooLargeError)) this.metrics.upstreamError(forward.prefix, upstreamErrorKind(error));
      this.fail(error, req, res as ServerResponse);
    };

    return (req, reply) => {
      const raw = req.raw;
      if (exceedsDeclaredLength(raw.headers['content-length'], forward.bodyLimit)) {
        reply.hijack();
        this.fail(new BodyTooLargeError(forward.bodyLimit), raw, reply.raw);
        return;
      }
      // Read before the hop-by-hop headers, `transfer-encoding` among them, are dropped.
      const chunked = raw.headers['transfer-encoding'] !== undefined;
      raw.url = forward.rewriteUrl(req.originalUrl);
      stripHopByHopHeaders(raw.headers);
      setForwardedHeaders(req);
      // Only a chunked body needs per-call options (its counted stream): the rest keep
      // http-proxy's fast path, which copies the route's options without merging.
      const send = () =>
        chunked
          ? server.web(raw, reply.raw, this.limitedBody(raw, reply.raw, forward.bodyLimit), onError)
          : server.web(raw, reply.raw, onError);

      if (!forward.onResponse) {
        reply.hijack();
        send();
        return;
      }
      const onResponse = forward.onResponse;
      return new Promise<void>((done) => {
        (raw as TrackedRequest)[EXCHANGE] = { req, reply, onResponse, done };
        reply.raw.once('close', done);
        send();
      });
    };
  }

  beforeApplicationShutdown(): void {
    this.draining = true;
  }

  onApplicationShutdown(): void {
    for (const server of this.servers) server.close();
    destroyUpstreamAgents(this.agents);
  }

  private createServer(forward: ForwardTarget): ProxyServer {
    const server = createProxyServer({
      target: forward.target,
      agent: forward.target.protocol === 'https:' ? this.agents.https : this.agents.http,
      changeOrigin: true,
      selfHandleResponse: forward.onResponse !== undefined,
    });
    const timeout = forward.timeout;
    server.on('proxyReq', (proxyReq) => {
      proxyReq.setTimeout(timeout, () => proxyReq.destroy(new UpstreamTimeoutError(timeout)));
    });
    server.on('proxyRes', (proxyRes, req, res) => {
      // The service's connection headers describe its connection to the gateway, not the
      // client's: `keep-alive: timeout=5` or `connection: keep-alive` would be wrong, and the
      // latter would keep open a connection the client asked to close. http-proxy copies what is
      // left and sets `connection` when absent, so it is set from Node's own decision.
      stripHopByHopHeaders(proxyRes.headers);
      proxyRes.headers[X_REQUEST_ID] = req.headers[X_REQUEST_ID];
      proxyRes.headers.connection = (res as ServerResponse).shouldKeepAlive && !this.draining ? 'keep-alive' : 'close';
      // A target that dies mid-body must not leave the client waiting, nor let it take the
      // truncated body for a whole one: cut the client connection too.
      proxyRes.on('error', () => undefined);
      proxyRes.on('close', () => {
        if (proxyRes.complete) return;
        this.metrics.upstreamError(forward.prefix, 'reset');
        (res as ServerResponse).destroy();
      });
      const exchange = (req as TrackedRequest)[EXCHANGE];
      if (exchange) void this.handOverResponse(exchange, proxyRes);
    });
    // Errors of requests forwarded with a callback never reach this listener; it keeps an
    // unexpected one from crashing the process.
    server.on('error', (error) => this.logger.error(`Proxy error: ${error.message}`));
    this.servers.push(server);
    return server;
  }

  /** A body of unknown length is counted while it streams; one over the limit aborts the exchange. */
  private limitedBody(raw: IncomingMessage, res: ServerResponse, bodyLimit: number): ServerOptions {
    const counted = new BodyLimitStream(bodyLimit);
    counted.on('error', (error) => this.fail(error, raw, res));
    raw.on('error', (error) => counted.destroy(error));
    return { buffer: raw.pipe(counted) };
  }

  private async handOverResponse(exchange: Exchange, proxyRes: IncomingMessage): Promise<void> {
    const { req, reply, onResponse, done } = exchange;
    try {
      const headers = { ...proxyRes.headers };
      stripHopByHopHeaders(headers);
      reply.code(proxyRes.statusCode!).headers(headers);
      await onResponse(req, reply, proxyRes);
    } catch (error) {
      proxyRes.destroy();
      if (!reply.sent) {
        for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name);
        reply.code(500).type('application/json').send(hookFailureBody(error));
      }
    } finally {
      done();
    }
  }

  /** Answers a failed exchange once; if the response has begun, the connection is cut instead. */
  private fail(error: Error, req: IncomingMessage, res: ServerResponse): void {
    (req as TrackedRequest)[EXCHANGE]?.done();
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    const body = toProxyErrorResponse(error);
    if (body.statusCode === 502) {
      this.warnUpstreamError(`Upstream error for ${req.method} ${req.url}: ${(error as NodeJS.ErrnoException).code ?? error.message}`);
    }
    const payload = JSON.stringify(body);
    // The unread rest of a refused body would otherwise be parsed as the next request.
    const closeConnection = !req.complete;
    res.writeHead(body.statusCode, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(payload),
      ...(closeConnection ? { connection: 'close' } : {}),
      ...requestIdHeader(req),
    });
    res.end(payload);
  }
}
