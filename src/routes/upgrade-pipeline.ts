import { type IncomingMessage, type Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { WebSocketCounters } from '../metrics/index.js';
import {
  RETRY_AFTER_SECONDS,
  type UpgradeOutcome,
  type UpgradeRequest,
  type UpgradeTargets,
  type UpstreamErrorKind,
  type WebSocketProxy,
  type WebSocketRoute,
  type WebSocketTraffic,
} from '../proxy/index.js';
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

/**
 * Takes WebSocket upgrades (Node's `upgrade` event: fastify does not route them) and serves
 * each as a request like any other, so that it meets exactly what an HTTP request would:
 * fastify's router and hooks, then the route's pipeline (path and Host refusals, middlewares,
 * the host's global guards, the `onRequest` hook). The request gets a real `ServerResponse` on
 * its socket: a refusal (basicAuth's 401, a 400, a 404) is written as a normal HTTP answer and
 * the socket is closed after it. Only the pipeline's last stage proxies the upgrade.
 *
 * Upgrades below none of `prefixes` (the WebSocket routes) are left to the host application's
 * own `upgrade` listeners when it has any, and otherwise served as plain HTTP requests, as Node
 * serves them without a listener.
 */
export function listenForUpgrades(server: Server, prefixes: string[], counters: WebSocketCounters): void {
  const ours = underPrefixes(prefixes);
  server.on('upgrade', (req: UpgradingRequest, socket: Socket, head: Buffer) => {
    const websocket = req.headers.upgrade?.toLowerCase() === 'websocket' && ours(req.url!);
    if (!websocket && server.listenerCount('upgrade') > 1) return;
    socket.on('error', ignore);
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    res.on('finish', () => socket.destroySoon());
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

  closed(traffic: WebSocketTraffic): void {
    this.context.counters.closed(traffic.bytesFromClient, traffic.bytesToClient);
    this.context.line?.(this.exchange, traffic);
  }

  upstreamFailed(kind: UpstreamErrorKind): void {
    this.exchange.upstreamFailed(kind);
  }
}
