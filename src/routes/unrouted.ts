import { STATUS_CODES } from 'node:http';
import type { FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import { X_REQUEST_ID } from '../gateway.constants.js';
import { writeJsonAnswer } from '../gateway.errors.js';
import { Exchange, type ExchangeStages } from './exchange.js';

/** The route label of requests no route takes, in access lines and metrics. */
export const UNROUTED = '-';

/**
 * Requests no route takes, answered by the gateway: a method a route's path does not allow (405
 * with `Allow`), and, when the gateway answers them, paths no route matches (404). Each is an
 * exchange of route `-`, with its access line and metrics, as a routed one is.
 */
export class UnroutedRequests {
  constructor(private readonly stages: ExchangeStages) {}

  /** The handler of the methods a path does not allow; `allowed` are those it does. */
  notAllowed(allowed: readonly string[]): RouteHandlerMethod {
    const allow = allowed.join(', ');
    return (request, reply) => this.answer(request, reply, 405, `${request.raw.method} is not allowed here; allowed: ${allow}`, allow);
  }

  /** The handler of the paths no route matches. */
  readonly notFound: RouteHandlerMethod = (request, reply) => this.answer(request, reply, 404, `Cannot ${request.raw.method} ${request.raw.url}`);

  private answer(request: FastifyRequest, reply: FastifyReply, statusCode: 404 | 405, message: string, allow?: string): void {
    const exchange = new Exchange(this.stages, request, reply, request.routeOptions.url ?? request.url);
    reply.hijack();
    const headers = allow === undefined ? { [X_REQUEST_ID]: exchange.id } : { allow, [X_REQUEST_ID]: exchange.id };
    writeJsonAnswer(reply.raw, statusCode, { statusCode, error: STATUS_CODES[statusCode], message }, headers);
  }
}
