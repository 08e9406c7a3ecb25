import type { ServerResponse } from 'node:http';
import type { FastifyRequest } from 'fastify';
import type { GatewayLogger } from './logger.js';

/** What the access log says of the route a request matched. */
export interface RouteLabel {
  prefix: string;
  target: string;
}

/** Starts timing a request; the returned function writes its access line once the response has ended. */
export function startAccessLine(
  logger: GatewayLogger,
  request: FastifyRequest,
  route: RouteLabel,
  id: string,
): (res: ServerResponse, cache: string | undefined) => void {
  const started = process.hrtime.bigint();
  const socket = request.raw.socket;
  const writtenBefore = socket.bytesWritten;
  return (res, cache) =>
    logger.info({
      reqId: id,
      method: request.raw.method,
      url: request.originalUrl,
      route: route.prefix,
      target: route.target,
      status: res.statusCode,
      durationMs: Number(process.hrtime.bigint() - started) / 1e6,
      cache: cache ?? '-',
      bytes: socket.bytesWritten - writtenBefore,
      ...(res.writableFinished ? {} : { aborted: true }),
    });
}
