import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { FastifyRequest } from 'fastify';
import type { GatewayLogger } from './logger.js';

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
  logger: GatewayLogger,
  route: RouteLabel,
  exchange: LoggedExchange,
  res: ServerResponse,
  cache: string | undefined,
): void {
  logger.info({
    ...lineHead(route, exchange),
    target: exchange.forwarding?.target ?? route.target,
    ...(exchange.forwarding && exchange.forwarding.attempts > 1 ? { attempts: exchange.forwarding.attempts } : {}),
    status: res.statusCode,
    durationMs: performance.now() - exchange.startedAt,
    cache: cache ?? '-',
    bytes: exchange.socket.bytesWritten - exchange.bytesBefore,
    ...(res.writableFinished ? {} : { aborted: true }),
  });
}

/** What an upgraded connection carried, as its access line reports it. */
export interface LoggedWebSocket {
  durationMs: number;
  bytesFromClient: number;
  bytesToClient: number;
}

/** Writes the one access line of a WebSocket connection, when it has closed. */
export function writeWebSocketLine(logger: GatewayLogger, route: RouteLabel, exchange: Pick<LoggedExchange, 'id' | 'request'>, traffic: LoggedWebSocket): void {
  logger.info({
    ...lineHead(route, exchange),
    target: route.target,
    status: 101,
    websocket: true,
    durationMs: traffic.durationMs,
    bytesIn: traffic.bytesFromClient,
    bytesOut: traffic.bytesToClient,
  });
}

/** What every access line starts with: the request and the route it matched. */
function lineHead(route: RouteLabel, { id, request }: Pick<LoggedExchange, 'id' | 'request'>) {
  return { reqId: id, method: request.raw.method, url: request.originalUrl, route: route.prefix };
}
