import { createServer as createHttpServer, type RequestListener, type Server, type ServerOptions as HttpServerOptions } from 'node:http';
import { createServer as createHttp2Server, type Http2Server, type ServerHttp2Session } from 'node:http2';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ResolvedServerOptions } from '../config/resolve-options.js';
import type { CertificatePair } from './certificates.js';
import { Http2GatewayResponse } from './http2-response.js';

/** What every h2c client sends first, before any frame (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
/**
 * Streams one HTTP/2 connection may have open at once (nginx allows 128). Node's default is
 * unbounded: one client could then hold as many requests to the services as it likes.
 */
export const HTTP2_MAX_CONCURRENT_STREAMS = 128;
/** While draining, an HTTP/2 session that opened no stream for this long is closed. */
const DRAIN_IDLE_SESSION_MS = 1000;

/** What the drain asks of a listener beyond its HTTP/1.1 connections, which Node's server closes. */
export interface ConnectionDrain {
  /** Sends GOAWAY on every HTTP/2 session: streams in flight finish, no new one starts. */
  drain(): void;
  /** Ends every connection still open, whatever it speaks: the grace period is over. */
  cut(): void;
}

/**
 * The gateway's port when it terminates TLS, speaks HTTP/2, or both (plain HTTP/1.1 is fastify's
 * own server, untouched). The listening server is always Node's HTTP/1.1 server (`https` with
 * TLS), so HTTP/1.1 keeps every setting and the drain it has without this; connections that
 * speak HTTP/2 are handed to an `http2` server that shares its request handler: by ALPN after
 * the TLS handshake, or, in cleartext, when their first bytes are the HTTP/2 preface (h2c with
 * prior knowledge). Node's own `allowHTTP1` falls back to HTTP/1.1 only after ALPN, never in
 * cleartext.
 */
export class GatewayListener implements ConnectionDrain {
  private server?: Server | HttpsServer;
  private readonly sessions = new Set<ServerHttp2Session>();
  /** Every connection accepted, also those mid-handshake or not yet known to speak either protocol. */
  private readonly accepted = new Set<Socket>();
  private draining = false;

  constructor(
    private readonly settings: ResolvedServerOptions,
    private readonly http: HttpServerOptions,
    private readonly certificate?: CertificatePair,
  ) {}

  /** fastify's `serverFactory`: builds the listening server around fastify's request handler. */
  readonly serverFactory = (handler: RequestListener): Server => {
    const { tls, http2, keepAliveTimeout, requestTimeout, headersTimeout } = this.settings;
    const server: Server | HttpsServer = tls
      ? createHttpsServer(
          {
            ...this.http,
            ...this.certificate,
            minVersion: tls.minVersion,
            ALPNProtocols: http2 ? ['h2', 'http/1.1'] : ['http/1.1'],
            // A client late with its handshake holds a socket like one late with its headers.
            handshakeTimeout: headersTimeout,
          },
          handler,
        )
      : createHttpServer(this.http, handler);
    server.keepAliveTimeout = keepAliveTimeout;
    server.requestTimeout = requestTimeout;
    server.on('connection', (socket: Socket) => {
      this.accepted.add(socket);
      socket.once('close', () => this.accepted.delete(socket));
    });
    if (http2) this.shareWithHttp2(server, handler);
    this.server = server;
    return server;
  };

  /** New handshakes get `pair`; connections already open keep the certificate they were given. */
  setCertificate(pair: CertificatePair): void {
    (this.server as HttpsServer).setSecureContext({ ...pair, minVersion: this.settings.tls!.minVersion });
  }

  drain(): void {
    this.draining = true;
    for (const session of this.sessions) session.close();
  }

  cut(): void {
    for (const session of this.sessions) session.destroy();
    for (const socket of this.accepted) socket.destroy();
  }

  private shareWithHttp2(server: Server | HttpsServer, handler: RequestListener): void {
    const h2 = createHttp2Server(
      { settings: { maxConcurrentStreams: HTTP2_MAX_CONCURRENT_STREAMS }, Http2ServerResponse: Http2GatewayResponse },
      handler as unknown as Parameters<typeof createHttp2Server>[1],
    );
    h2.on('session', (session: ServerHttp2Session) => this.track(session));
    // Node's HTTP/1.1 connection listener, called for the connections that do not speak HTTP/2.
    const event = this.settings.tls ? 'secureConnection' : 'connection';
    const http1 = server.listeners(event)[0] as (socket: Socket) => void;
    server.removeListener(event, http1);
    if (this.settings.tls) {
      server.on('secureConnection', (socket: TLSSocket) => (socket.alpnProtocol === 'h2' ? h2.emit('connection', socket) : http1.call(server, socket)));
    } else {
      server.on('connection', (socket: Socket) => this.sniff(socket, server, http1, h2));
    }
  }

  /**
   * Reads a cleartext connection's first bytes: the HTTP/2 preface hands it to the HTTP/2
   * server, anything else to HTTP/1.1. What was read goes back into the socket, where each reads
   * it as if first. Only connections of a listener with `http2` pay for this.
   */
  private sniff(socket: Socket, server: Server, http1: (socket: Socket) => void, h2: Pick<Http2Server, 'emit'>): void {
    let seen: Buffer | undefined;
    const ignore = () => undefined;
    // A client silent from the start is a slow client before its headers.
    socket.setTimeout(this.settings.headersTimeout, () => socket.destroy());
    socket.on('error', ignore);
    const onData = (chunk: Buffer) => {
      seen = seen ? Buffer.concat([seen, chunk]) : chunk;
      const length = Math.min(seen.length, H2_PREFACE.length);
      const speaksH2 = seen.compare(H2_PREFACE, 0, length, 0, length) === 0;
      if (speaksH2 && seen.length < H2_PREFACE.length) return;
      socket.off('data', onData);
      socket.off('error', ignore);
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(seen);
      // The HTTP/2 session reads what is buffered itself; HTTP/1.1's parser once the socket flows.
      if (speaksH2) return void h2.emit('connection', socket);
      http1.call(server, socket);
      socket.resume();
    };
    socket.on('data', onData);
  }

  private track(session: ServerHttp2Session): void {
    this.sessions.add(session);
    session.once('close', () => this.sessions.delete(session));
    // An idle session is closed like an idle keep-alive connection (GOAWAY, then the socket).
    session.setTimeout(this.settings.keepAliveTimeout, () => session.close());
    if (!this.draining) return;
    // A session that opens while draining is served its first request, as an HTTP/1.1
    // connection then is, and closed after it.
    session.once('stream', () => session.close());
    setTimeout(() => session.close(), DRAIN_IDLE_SESSION_MS).unref();
  }
}

/** The listener for `server`'s settings; undefined for plain HTTP/1.1, which fastify builds itself. */
export function createListener(server: ResolvedServerOptions, http: HttpServerOptions, certificate?: CertificatePair): GatewayListener | undefined {
  return server.tls || server.http2 ? new GatewayListener(server, http, certificate) : undefined;
}
