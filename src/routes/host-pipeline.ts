import type { ApplicationConfig, ExternalContextCreator } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { GuardedStages, RouteExchange } from './route-pipeline.js';

// Handlers get fastify's (request, reply) as they are: with param metadata, Nest would await each
// argument, and a FastifyReply is a thenable that settles only once the response is sent.
const NO_PARAM_METADATA = 'nest-gateway:no-param-metadata';

/** What the host application's global guards and interceptors see as the handler of a gateway route. */
class GatewayRouteHandler {
  constructor(readonly forward: GuardedStages) {}
}

/** The host application's global guards and interceptors around a route's stages; undefined when it has none. */
export function hostPipeline(config: ApplicationConfig, contextCreator: ExternalContextCreator): ((stages: GuardedStages) => GuardedStages) | undefined {
  const count =
    config.getGlobalGuards().length +
    config.getGlobalRequestGuards().length +
    config.getGlobalInterceptors().length +
    config.getGlobalRequestInterceptors().length;
  if (count === 0) return undefined;
  return (stages) => {
    const handler = new GatewayRouteHandler(stages);
    const options = { guards: true, interceptors: true, filters: false };
    const run = contextCreator.create(handler, handler.forward as (...args: unknown[]) => unknown, 'forward', NO_PARAM_METADATA, undefined, undefined, undefined, options, 'http');
    return (request: FastifyRequest, reply: FastifyReply, exchange: RouteExchange) => run(request, reply, exchange) as Promise<void>;
  };
}
