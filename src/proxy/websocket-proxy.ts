import type { ClientRequest as OutgoingRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import type { BeforeApplicationShutdown, OnApplicationShutdown } from '@nestjs/common';
import { createProxyServer } from 'http-proxy-3';
import { NoTargetError, toProxyErrorResponse, type UpstreamErrorKind, upstreamErrorKind } from './proxy-errors.js';
import { type ClientRequest, toClientHeaders, toHeaderObject, toUpstreamHeaders } from './upstream-headers.js';

/** How one route proxies its WebSocket upgrades: decided once, at start-up. */
export interface WebSocketRoute {
  rewriteUrl: (originalUrl: string) => string;
  /** Longest wait for the target's answer to the upgrade, in milliseconds. */
  timeout: number;
  /** Longest silence either way on an upgraded connection, in milliseconds. */
  idleTimeout: number;
  dropHeaders: ReadonlySet<string>;
}

/** How the handshake of one upgrade with its target ended. */
export type HandshakeResult = 'upgraded' | 'declined' | 'failed' | 'abandoned';

/** The target one upgrade goes to, told once how its handshake ended, and when its connection closed. */
export interface UpgradeDestination {
  readonly target: URL;
  /** The `Host` the service is sent, when not the target's own (an address found by DNS discovery). */
  readonly host?: string;
  /**
   * `upgraded`; `declined` with the target's status; `failed`: unreachable, reset or silent;
   * `abandoned`: the client left first, or the upgrade was never sent.
   */
  settled(result: HandshakeResult, statusCode?: number): void;
  /** The connection an `upgraded` handshake opened has closed. */
  closed(): void;
}

/** Where a route's upgrades go: one of its targets per upgrade, or none when none can take it. */
export interface UpgradeTargets {
  upgradeDestination(client: UpgradeClient): UpgradeDestination | undefined;
}

/** What an upgraded connection carried, reported when it closes. */
export interface WebSocketTraffic {
  /** The target it went to. */
  target: string;
  durationMs: number;
  bytesFromClient: number;
  bytesToClient: number;
}

/** Why an upgrade did not become a connection, as the pipeline reports it. */
export type UpgradeOutcome = 'declined' | 'failed' | 'over_capacity';

/** The client's request of an upgrade, as the forwarder reads any request. */
export interface UpgradeClient extends ClientRequest {
  readonly originalUrl: string;
}

/** One upgrade to proxy, as the route's pipeline hands it over; told what became of it. */
export interface UpgradeRequest {
  /** The client's connection, taken from the HTTP server. */
  readonly socket: Socket;
  /** What the client sent after the request head. */
  readonly head: Buffer;
  /** Answers the client in HTTP with a JSON body, then closes the connection. */
  answer(statusCode: number, body: object, close: boolean): void;
  /** The target switched protocols: the connection is open. */
  upgraded(): void;
  /** The upgrade ended without a connection: its HTTP status, and why. */
  ended(outcome: UpgradeOutcome, statusCode: number): void;
  /**
   * The target answered without switching protocols: its answer (the head as the client gets
   * it, `toClientHeaders`, and the body) goes to the client through the gateway's response
   * rules, then the connection closes.
   */
  declined(statusCode: number, headers: string[], body: Readable): void;
  /** The upgraded connection closed. */
  closed(traffic: WebSocketTraffic): void;
  upstreamFailed(kind: UpstreamErrorKind): void;
}

class UpgradeTimeoutError extends Error {
  readonly code = 'UND_ERR_HEADERS_TIMEOUT';
}

/** The per-request options http-proxy-3 hands back to `proxyReqWs` listeners. */
interface ConnectionOptions {
  target: URL;
  connection: WebSocketConnection;
}

/**
 * One client's WebSocket, from the upgrade request to the close of both sockets: whichever side
 * closes or fails, the other is closed too, and the connection leaves the registry once.
 */
class WebSocketConnection {
  private upstreamSocket?: Socket;
  private outgoing?: OutgoingRequest;
  private upgradedAt = 0;
  private bytesReadBefore = 0;
  private bytesWrittenBefore = 0;
  private open = true;
  private handshakeOpen = true;

  constructor(
    readonly request: UpgradeRequest,
    readonly route: WebSocketRoute,
    readonly destination: UpgradeDestination,
    private readonly release: (connection: WebSocketConnection) => void,
  ) {
    request.socket.once('close', this.onClientClose);
  }

  /** The upgrade request went out (http-proxy-3's `proxyReqWs`). */
  sent(outgoing: OutgoingRequest): void {
    this.outgoing = outgoing;
    outgoing.setTimeout(this.route.timeout, () => outgoing.destroy(new UpgradeTimeoutError('The service did not answer the upgrade in time')));
    outgoing.once('upgrade', this.onUpgrade);
    // http-proxy-3 adds its own relay of a declined upgrade just after `proxyReqWs`, which writes
    // the service's head to the socket as it is: replaced by the gateway's, before any answer
    // can arrive (that takes a read from the socket, after this tick).
    process.nextTick(() => {
      outgoing.removeAllListeners('response');
      outgoing.once('response', this.onDeclined);
    });
  }

  /** The target or the connection to it failed (http-proxy-3's error callback). */
  readonly failed = (error: Error): void => {
    // After the upgrade, or once the client left, there is no one to answer.
    if (this.upgradedAt || this.request.socket.destroyed) {
      this.settle('abandoned');
      return this.destroy();
    }
    this.settle('failed');
    const kind = upstreamErrorKind(error);
    if (kind) this.request.upstreamFailed(kind);
    const body = toProxyErrorResponse(error);
    this.request.ended('failed', body.statusCode);
    this.request.answer(body.statusCode, body, true);
  };

  /** Closes both sides now. */
  destroy(): void {
    this.request.socket.destroy();
    this.upstreamSocket?.destroy();
    this.outgoing?.destroy();
  }

  /** Tells the destination how the handshake ended, the first time only. */
  private settle(result: HandshakeResult, statusCode?: number): void {
    if (!this.handshakeOpen) return;
    this.handshakeOpen = false;
    this.destination.settled(result, statusCode);
  }

  private readonly onUpgrade = (_response: IncomingMessage, upstreamSocket: Socket): void => {
    this.upstreamSocket = upstreamSocket;
    const client = this.request.socket;
    if (client.destroyed) {
      this.settle('abandoned');
      upstreamSocket.destroy();
      return;
    }
    this.settle('upgraded');
    this.upgradedAt = performance.now();
    this.bytesReadBefore = client.bytesRead - this.request.head.length;
    this.bytesWrittenBefore = client.bytesWritten;
    upstreamSocket.once('close', this.onUpstreamClose);
    // Every frame either way is read from or written to the client's socket, so its inactivity
    // timer is the connection's; http-proxy-3 cleared it before asking the target.
    client.setTimeout(this.route.idleTimeout, () => this.destroy());
    this.request.upgraded();
  };

  private readonly onDeclined = (response: IncomingMessage): void => {
    this.settle('declined', response.statusCode);
    this.request.ended('declined', response.statusCode!);
    this.request.declined(response.statusCode!, toClientHeaders(response.rawHeaders), response);
  };

  // http-proxy-3 only ends (half-closes) the other side; a peer that never closes its half
  // would hold the socket. Once one side is gone, the other is ended and then destroyed.
  private readonly onClientClose = (): void => {
    this.upstreamSocket?.destroySoon();
    if (!this.upgradedAt) {
      this.settle('abandoned');
      this.outgoing?.destroy();
    }
    this.done();
  };

  private readonly onUpstreamClose = (): void => {
    this.request.socket.destroySoon();
  };

  private done(): void {
    if (!this.open) return;
    this.open = false;
    this.release(this);
    if (!this.upgradedAt) return;
    this.destination.closed();
    const client = this.request.socket;
    this.request.closed({
      target: this.destination.target.href,
      durationMs: performance.now() - this.upgradedAt,
      bytesFromClient: client.bytesRead - this.bytesReadBefore,
      bytesToClient: client.bytesWritten - this.bytesWrittenBefore,
    });
  }
}

/**
 * Proxies WebSocket upgrades through http-proxy-3's `ws` pass (one proxy server for every
 * route) and holds the process's upgraded connections: at most `maxConnections` at once,
 * handshakes included, and all of them closed on shutdown once the grace period is over: as the
 * application begins to shut down (a SIGTERM, a reload's draining worker), connections get
 * `graceMs`, and its shutdown waits for them.
 */
export class WebSocketProxy implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly server = createProxyServer({ xfwd: false, prependPath: true });
  private readonly connections = new Set<WebSocketConnection>();
  private closing?: Promise<void>;
  private deadlinePassed = false;

  constructor(
    readonly maxConnections: number,
    private readonly graceMs: number,
  ) {
    // Errors of a proxied upgrade reach its callback; the server's own are the sockets' echo.
    this.server.on('error', () => undefined);
    this.server.on('proxyReqWs', (outgoing: OutgoingRequest, _req: IncomingMessage, _socket: unknown, options: unknown) => {
      (options as ConnectionOptions).connection.sent(outgoing);
    });
  }

  beforeApplicationShutdown(): void {
    void this.closeAll(this.graceMs);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.closeAll(this.graceMs);
  }

  /**
   * Proxies one upgrade to the target `targets` gives it (503 when none can take it): the
   * client's headers without hop-by-hop ones but the upgrade pair, `X-Forwarded-*` and the
   * request id, the URL rewritten by the route.
   */
  forward(route: WebSocketRoute, targets: UpgradeTargets, client: UpgradeClient, request: UpgradeRequest): void {
    if (this.connections.size >= this.maxConnections || this.deadlinePassed) {
      request.ended('over_capacity', 503);
      return request.answer(503, { statusCode: 503, error: 'Service Unavailable', message: 'Too many WebSocket connections' }, true);
    }
    const destination = targets.upgradeDestination(client);
    if (!destination) {
      const body = toProxyErrorResponse(new NoTargetError());
      request.ended('failed', body.statusCode);
      return request.answer(body.statusCode, body, true);
    }
    const { req } = client;
    const { socket, head } = request;
    const connection = new WebSocketConnection(request, route, destination, this.release);
    this.connections.add(connection);
    const list = toUpstreamHeaders(client, destination.host ?? destination.target.host, undefined, route.dropHeaders);
    list.push('connection', 'Upgrade', 'upgrade', req.headers.upgrade!);
    req.headers = toHeaderObject(list) as IncomingMessage['headers'];
    req.url = route.rewriteUrl(client.originalUrl);
    const options: ConnectionOptions = { target: destination.target, connection };
    this.server.ws(req, socket, head, options, connection.failed);
  }

  /**
   * Lets the open connections run for `graceMs`, then closes both sides of those left; new
   * upgrades are refused from then on. Resolves once none is left. Calling it again returns the
   * first call's promise: the grace is never extended.
   */
  closeAll(graceMs: number): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      const finish = () => {
        this.deadlinePassed = true;
        for (const connection of this.connections) connection.destroy();
        this.connections.clear();
        resolve();
      };
      if (this.connections.size === 0) return finish();
      const timer = setTimeout(finish, graceMs);
      this.emptied = () => {
        clearTimeout(timer);
        finish();
      };
    });
    return this.closing;
  }

  private emptied?: () => void;

  private readonly release = (connection: WebSocketConnection): void => {
    this.connections.delete(connection);
    if (this.connections.size === 0) this.emptied?.();
  };
}
