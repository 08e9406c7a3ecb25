import type { NestInterceptor } from '@nestjs/common';
import type { ExternalContextCreator } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import type { ProxyService } from '../proxy/index.js';
import type { CompiledRoute } from './compile-routes.js';
import { gatewayRouteConfig } from './route-hooks.js';
import { createRouteController, handlerName, mappedMethods } from './route-controller.factory.js';

// Handlers get fastify's (request, reply) as they are: with param metadata, Nest would await each
// argument, and a FastifyReply is a thenable that settles only once the response is sent.
const NO_PARAM_METADATA = 'nest-gateway:no-param-metadata';

/**
 * Mounts routes on fastify directly, for `forRootAsync`, whose routes are known only after Nest
 * has read the module's controllers. Each handler is the same generated controller method that
 * `forRoot` registers, wrapped by Nest's context creator so its interceptors run as they do on a
 * controller (the approach @nestjs/graphql takes for resolvers).
 */
export function mountRoutes(
  fastify: FastifyInstance,
  routes: CompiledRoute[],
  proxy: ProxyService,
  contextCreator: ExternalContextCreator,
  cacheInterceptor: NestInterceptor,
): void {
  for (const route of routes) {
    const controller = new (createRouteController(route, cacheInterceptor))(proxy) as unknown as Record<
      string,
      (...args: unknown[]) => unknown
    >;
    for (const method of mappedMethods(route.methods)) {
      const name = handlerName(method);
      const handler = contextCreator.create(
        controller,
        controller[name],
        name,
        NO_PARAM_METADATA,
        undefined,
        undefined,
        undefined,
        { guards: true, interceptors: true, filters: false },
        'http',
      );
      for (const url of route.paths) {
        fastify.route({
          method,
          url,
          config: gatewayRouteConfig(route),
          handler: (req, reply) => handler(req, reply),
        });
      }
    }
  }
}
