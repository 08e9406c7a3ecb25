import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { FastifyRequest } from 'fastify';
import type { InfoLineWriter } from './logger.js';

/** What the access log says of the route a request matched. */
export interface RouteLabel {
  prefix: string;
  target: string;
}

/** One ended request, as the exchange knows it. */
export interface LoggedExchange {
  readonly id: string;
  readonly request: FastifyRequest;
  /** `performance.now()` when the request arrived. */
  readonly startedAt: number;
  /** The client's connection: Node detaches it from the request once the response is done. */
  readonly socket: Socket;
  /** What the client's connection had been sent before this response. */
  readonly bytesBefore: number;
  /** The exchange with the service, when there was one. */
  readonly forwarding?: { readonly attempts: number; readonly target: string | undefined };
}

/** Writes the access line of a request whose response has ended (or was cut). */
export function writeAccessLine(
  writeLine: InfoLineWriter,
  route: RouteLabel,
  exchange: LoggedExchange,
  res: ServerResponse,
  cache: string | undefined,
): void {
  // One object per line, filled in order: every request with the access log on writes one.
  const line = lineHead(route, exchange);
  const { forwarding } = exchange;
  line.target = forwarding?.target ?? route.target;
  if (forwarding && forwarding.attempts > 1) line.attempts = forwarding.attempts;
  line.status = res.statusCode;
  line.durationMs = toMicroseconds(performance.now() - exchange.startedAt);
  line.cache = cache ?? '-';
  line.bytes = exchange.socket.bytesWritten - exchange.bytesBefore;
  if (!res.writableFinished) line.aborted = true;
  writeLine(line);
}

/** What an upgraded connection carried, as its access line reports it. */
export interface LoggedWebSocket {
  target: string;
  durationMs: number;
  bytesFromClient: number;
  bytesToClient: number;
}

/** Writes the one access line of a WebSocket connection, when it has closed. */
export function writeWebSocketLine(writeLine: InfoLineWriter, route: Pick<RouteLabel, 'prefix'>, exchange: Pick<LoggedExchange, 'id' | 'request'>, traffic: LoggedWebSocket): void {
  writeLine({
    ...lineHead(route, exchange),
    target: traffic.target,
    status: 101,
    websocket: true,
    durationMs: toMicroseconds(traffic.durationMs),
    bytesIn: traffic.bytesFromClient,
    bytesOut: traffic.bytesToClient,
  });
}

/** What every access line starts with: the request and the route it matched. */
function lineHead(route: Pick<RouteLabel, 'prefix'>, { id, request }: Pick<LoggedExchange, 'id' | 'request'>): Record<string, unknown> {
  return { reqId: id, method: request.raw.method, url: request.originalUrl, route: route.prefix };
}

/**
 * A duration in milliseconds to the microsecond. The shortest text of an unrounded double is up to
 * 17 digits, and printing it was a quarter of what an access line cost to build.
 */
function toMicroseconds(durationMs: number): number {
  return Math.round(durationMs * 1000) / 1000;
}
