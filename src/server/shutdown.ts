import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';
import type { INestApplication, LoggerService } from '@nestjs/common';
import { DrainState } from '../health/index.js';
import type { ConnectionDrain } from './listener.js';

const DRAIN_SWEEP_MS = 100;
/** How long a closing listener still takes what is queued, its queue cut to one. */
export const ACCEPT_SETTLE_MS = 100;
/** While draining, a connection that carried no request for this long is closed. */
export const DRAIN_IDLE_MS = 1000;

/** What Node's HTTP server keeps on a socket it serves (no public API tells idle from busy). */
interface ServedSocket extends Socket {
  /** The response in progress, from the moment a request's head was parsed until it finished. */
  _httpMessage?: unknown;
  /** Gone once the connection was upgraded (WebSocket): no longer the HTTP server's to close. */
  parser?: unknown;
}

/**
 * Closes connections the way Envoy drains HTTP/1: once the drain starts, each response says
 * `Connection: close` and Node closes its connection after it; a connection with no request in
 * progress is closed only once it has read nothing for `DRAIN_IDLE_MS`. Node's own
 * `closeIdleConnections()` (which `server.close()` calls) closes an idle keep-alive connection at
 * once, resetting the request its client is writing at that moment.
 */
function drainConnections(server: Server, sockets: Set<ServedSocket>): () => void {
  server.closeIdleConnections = () => undefined;
  server.prependListener('request', (_req, res) => {
    res.shouldKeepAlive = false;
  });
  // Counted from the first sweep that sees a connection: one accepted while draining is new.
  const seen = new Map<ServedSocket, { bytesRead: number; idleSince: number }>();
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const socket of sockets) {
      const last = seen.get(socket);
      const busy = socket._httpMessage || !socket.parser || (last !== undefined && last.bytesRead !== socket.bytesRead);
      const idleSince = busy || !last ? now : last.idleSince;
      if (!busy && now - idleSince >= DRAIN_IDLE_MS) {
        socket.destroy();
        seen.delete(socket);
      } else {
        seen.set(socket, { bytesRead: socket.bytesRead, idleSince });
      }
    }
  }, DRAIN_SWEEP_MS);
  return () => clearInterval(sweep);
}

/**
 * Closing a listening socket resets every connection in its accept queue: the kernel completed
 * their handshakes and their clients may have sent a request. No portable call stops new
 * handshakes on a listener, so the window is narrowed instead: the queue is cut to one
 * connection (`listen(fd, 0)` again: Linux then drops new SYNs, which clients send again a second
 * later, to a closed port by then), the listener takes what is queued for `ACCEPT_SETTLE_MS`, and
 * it closes right after an accept, when the queue was just emptied (or after another
 * `ACCEPT_SETTLE_MS` if none comes). A handshake that completes in that instant is still reset,
 * before its request was read: what `server.drainDelay` behind a load balancer avoids, by leaving
 * no new connections to come. The server's `close()` (fastify's, as the app closes) waits for it.
 */
function closeListenerWhenEmpty(server: Server): void {
  const close = server.close.bind(server);
  const handle = (server as unknown as { _handle?: ListeningHandle })._handle;
  const emptied = closeAfterAnAccept(server, handle).then(() => close());
  server.close = ((callback?: (error?: Error) => void) => {
    void emptied.then(() => close(callback));
    return server;
  }) as Server['close'];
}

/** What Node's listening handle offers beyond its public API. */
interface ListeningHandle {
  listen?: (backlog: number) => number;
}

function closeAfterAnAccept(server: Server, handle: ListeningHandle | undefined): Promise<void> {
  handle?.listen?.(0);
  return new Promise<void>((resolve) => {
    let fallback: NodeJS.Timeout | undefined;
    const closeNow = () => {
      clearTimeout(fallback);
      server.off('connection', closeNow);
      resolve();
    };
    setTimeout(() => {
      fallback = setTimeout(closeNow, ACCEPT_SETTLE_MS);
      server.on('connection', closeNow);
    }, ACCEPT_SETTLE_MS);
  });
}

export interface DrainOptions {
  /**
   * Whether this process is the last to accept on its port (one process, or a pool that stops),
   * rather than a worker leaving a pool that keeps serving: then readiness fails at once, it
   * serves on for `drainDelayMs`, and it narrows its accept queue before it closes its listener
   * (see `closeListenerWhenEmpty`). @default true
   */
  lastOut?: boolean;
  /** How long the last out serves on, readiness failing, before it drains (`server.drainDelay`), ms. @default 0 */
  drainDelayMs?: number;
  /** A message (`{ type }`) from the parent process that stops this one as the last out. */
  stopMessage?: string;
  /** Sent (`{ type }`) to the parent process once a `stopMessage` drain begins, its delay over. */
  closingMessage?: string;
  /** The listener's HTTP/2 sessions and connections Node's HTTP/1.1 server does not know of (`src/server/listener.ts`). */
  listener?: ConnectionDrain;
}

/**
 * On SIGTERM or SIGINT: fail readiness (`DrainState`) and, as the last out, serve on for the
 * drain delay; then stop accepting connections, drain the open ones (see `drainConnections`)
 * and let requests in flight finish for up to `graceMs`, then cut the connections still open;
 * Nest's shutdown hooks then close Redis and the upstream agents, and `exit(0)` runs. A second
 * signal ends the process at once. Returns a function that removes the listeners.
 */
export function drainOnSignals(
  app: INestApplication,
  graceMs: number,
  logger: LoggerService,
  exit: (code: number) => void,
  { lastOut = true, drainDelayMs = 0, stopMessage, closingMessage, listener }: DrainOptions = {},
): () => void {
  const server = app.getHttpServer() as Server;
  const drainState = app.get(DrainState, { strict: false });
  const sockets = new Set<ServedSocket>();
  const track = (socket: ServedSocket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  // Node's HTTP/1.1 state (the parser, the response) is on the TLS socket, not the TCP one under it.
  const served = server instanceof TlsServer ? 'secureConnection' : 'connection';
  server.on(served, track);
  const onMessage = (message: { type?: string }) => {
    if (message?.type === stopMessage) stop('SIGTERM', true);
  };
  const stopListening = () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.off('message', onMessage);
  };
  const drain = (signal: NodeJS.Signals, last: boolean) => {
    logger.log(`${signal}: closing; requests in flight have ${graceMs} ms to finish`);
    const stopDraining = drainConnections(server, sockets);
    listener?.drain();
    const cut = setTimeout(() => {
      logger.warn('Grace period over: cutting the connections still open');
      server.closeAllConnections();
      listener?.cut();
    }, graceMs).unref();
    if (last) closeListenerWhenEmpty(server);
    // A failure to close is an unhandled rejection: the process then exits 1 with its stack.
    void app.close().then(() => {
      stopDraining();
      clearTimeout(cut);
      exit(0);
    });
  };
  const stop = (signal: NodeJS.Signals, last: boolean) => {
    stopListening();
    // A worker that a reload retires leaves no gap: the others accept on the same socket.
    if (!last) return drain(signal, false);
    drainState.begin();
    const begin = () => {
      drain(signal, true);
      if (closingMessage && process.send) process.send({ type: closingMessage });
    };
    if (drainDelayMs === 0) return begin();
    logger.log(`${signal}: readiness fails; serving on for ${drainDelayMs} ms (server.drainDelay) before closing`);
    setTimeout(begin, drainDelayMs);
  };
  const onSignal = (signal: NodeJS.Signals) => stop(signal, lastOut);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  if (stopMessage) process.on('message', onMessage);
  return () => {
    stopListening();
    server.off(served, track);
  };
}
