import { type IncomingMessage, type Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { WebSocketCounters } from '../metrics/index.js';
import type { Readable } from 'node:stream';
import { CacheFill, type ResponseCacheService } from '../cache/index.js';
import { CACHE_DIRECTIVE_HEADERS, X_REQUEST_ID } from '../gateway.constants.js';
import {
  RETRY_AFTER_SECONDS,
  toHeaderObject,
  type UpgradeOutcome,
  type UpgradeRequest,
  type UpgradeTargets,
  type UpstreamErrorKind,
  type WebSocketProxy,
  type WebSocketRoute,
  type WebSocketTraffic,
} from '../proxy/index.js';
import { writeJsonAnswer } from '../gateway.errors.js';
import type { Exchange } from './exchange.js';

/** The upgrade a request carries, once the gateway took it from the HTTP server. */
interface PendingUpgrade {
  readonly socket: Socket;
  readonly head: Buffer;
  /** Handed to the WebSocket proxy (past every refusal, middleware, guard and hook). */
  proxied: boolean;
}

const UPGRADE = Symbol('nest-gateway.upgrade');
type UpgradingRequest = IncomingMessage & { [UPGRADE]?: PendingUpgrade };

const ignore = () => undefined;

/** Whether a path is a prefix's or below it: the routes that may take an upgrade. */
function underPrefixes(prefixes: string[]): (url: string) => boolean {
  const bases = prefixes.map((prefix) => (prefix === '/' ? '' : prefix.replace(/\/+$/, '')));
  return (url) => {
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    return bases.some((base) => path === base || path.startsWith(`${base}/`));
  };
}

/** Node ≥ 24.9 asks the server which upgrades it takes; @types/node of Node 20 omits it. */
type UpgradeDecidingServer = Server & { shouldUpgradeCallback?: (req: IncomingMessage) => boolean };

/** Whether a request announces a body: one Node's parser leaves unread when it hands over an upgrade. */
const declaresBody = ({ headers }: IncomingMessage) => headers['transfer-encoding'] !== undefined || (headers['content-length'] ?? '0') !== '0';

/**
 * Takes WebSocket upgrades (Node's `upgrade` event: fastify does not route them) and serves
 * each as a request like any other, so that it meets exactly what an HTTP request would:
 * fastify's router and hooks, then the route's pipeline (path and Host refusals, middlewares,
 * the host's global guards, the `onRequest` hook). The request gets a real `ServerResponse` on
 * its socket: a refusal (basicAuth's 401, a 400, a 404) is written as a normal HTTP answer and
 * the socket is closed after it. Only the pipeline's last stage proxies the upgrade.
 *
 * Any other `Upgrade` (`h2c`, what `curl --http2` sends; a POST asking for `websocket`) is a
 * plain request, body included, as nginx treats it. Node hands an upgrade over with its body
 * unread and unframed, so the gateway tells Node which upgrades it takes where Node asks
 * (`shouldUpgradeCallback`), and the others are parsed as plain requests. Where Node does not
 * ask (Node 20), such a request without a body is served as it is, and one with a body is
 * refused (400) before anything is forwarded: forwarding it without its body would hand the
 * service another request than the client sent. Upgrades below none of `prefixes` (the
 * WebSocket routes) are left to the host application's own `upgrade` listeners when it has any.
 */
export function listenForUpgrades(server: UpgradeDecidingServer, prefixes: string[], counters: WebSocketCounters): void {
  const ours = underPrefixes(prefixes);
  const isHandshake = (req: IncomingMessage) => req.method === 'GET' && req.headers.upgrade?.toLowerCase() === 'websocket';
  const hostListens = () => server.listenerCount('upgrade') > 1;
  // Every WebSocket handshake is taken, ours or not: one refused (a 404 off the WebSocket
  // routes) is answered on a connection that closes after it, as before Node asked.
  if (typeof server.shouldUpgradeCallback === 'function') server.shouldUpgradeCallback = (req) => isHandshake(req) || (!ours(req.url!) && hostListens());
  server.on('upgrade', (req: UpgradingRequest, socket: Socket, head: Buffer) => {
    const websocket = isHandshake(req) && ours(req.url!);
    if (!websocket && hostListens()) return;
    socket.on('error', ignore);
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    res.on('finish', () => socket.destroySoon());
    if (!websocket && declaresBody(req)) {
      return writeJsonAnswer(res, 400, { statusCode: 400, error: 'Bad Request', message: 'a request body with an Upgrade other than websocket is not supported' });
    }
    if (websocket) {
      const pending: PendingUpgrade = { socket, head, proxied: false };
      req[UPGRADE] = pending;
      res.once('close', () => {
        if (!pending.proxied) counters.ended('refused');
      });
    }
    server.emit('request', req, res);
  });
}

/** What the upgrade stage needs of the gateway, built once per route. */
export interface UpgradeContext {
  proxy: WebSocketProxy;
  counters: WebSocketCounters;
  /** Writes a connection's access line; absent when the access log is off. */
  line?: (exchange: Exchange, traffic: WebSocketTraffic) => void;
  /** The cache, on a cached route: a declined upgrade's `x-cache-expire` is obeyed as any answer's. */
  cache?: ResponseCacheService;
  /** The route's prefix, which `expireScope: route` confines that expiry to. */
  prefix: string;
}

/** The last stage of a WebSocket route's pipeline for upgrades: proxy instead of forward. */
export class UpgradeStage {
  constructor(
    private readonly route: WebSocketRoute,
    /** The route's pool of targets, or its one target. */
    private readonly targets: UpgradeTargets,
    private readonly context: UpgradeContext,
  ) {}

  /** Proxies the request's upgrade, if it carries one the gateway took; false otherwise. */
  take(exchange: Exchange): boolean {
    const pending = (exchange.request.raw as UpgradingRequest)[UPGRADE];
    if (!pending) return false;
    pending.proxied = true;
    // Hooks' routes answer through fastify's reply: from here on, the socket is the proxy's.
    exchange.reply.hijack();
    this.context.proxy.forward(this.route, this.targets, exchange, new UpgradeExchange(exchange, pending, this.context));
    return true;
  }
}

/** An exchange whose request is an upgrade, as the WebSocket proxy sees it and reports to. */
class UpgradeExchange implements UpgradeRequest {
  constructor(
    private readonly exchange: Exchange,
    private readonly pending: PendingUpgrade,
    private readonly context: UpgradeContext,
  ) {}

  get socket(): Socket {
    return this.pending.socket;
  }

  get head(): Buffer {
    return this.pending.head;
  }

  answer(statusCode: number, body: object, close: boolean): void {
    // As for HTTP (`writeProxyError`): no target or no room now, worth asking again shortly.
    if (statusCode === 503) this.exchange.res.setHeader('retry-after', RETRY_AFTER_SECONDS);
    this.exchange.answer(statusCode, body, close);
  }

  upgraded(): void {
    this.exchange.upgraded();
    this.context.counters.opened();
  }

  ended(outcome: UpgradeOutcome, statusCode: number): void {
    this.context.counters.ended(outcome);
    this.exchange.res.statusCode = statusCode;
  }

  declined(statusCode: number, headers: string[], body: Readable): void {
    const head = toHeaderObject(headers);
    // Only watched: an answer to an upgrade is never stored, but its instructions are the gateway's.
    const { cache } = this.context;
    const held = cache ? new CacheFill(cache, this.exchange.req, undefined, undefined, this.context.prefix, 'bypass').head(statusCode, head) : undefined;
    if (!cache) for (const name of CACHE_DIRECTIVE_HEADERS) delete head[name];
    const relay = () => {
      head[X_REQUEST_ID] = this.exchange.id;
      this.exchange.res.writeHead(statusCode, head);
      body.pipe(this.exchange.res);
    };
    if (held) void held.then(relay);
    else relay();
  }

  closed(traffic: WebSocketTraffic): void {
    this.context.counters.closed(traffic.bytesFromClient, traffic.bytesToClient);
    this.context.line?.(this.exchange, traffic);
  }

  upstreamFailed(kind: UpstreamErrorKind): void {
    this.exchange.upstreamFailed(kind);
  }
}
