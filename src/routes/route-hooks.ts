import type { FastifyInstance } from 'fastify';
import type { ResponseCacheInterceptor } from '../cache/index.js';
import { GATEWAY_CACHE_FIRST, GATEWAY_ROUTE_CONFIG } from '../gateway.constants.js';
import { hideContentType, installPassthroughParser, restoreContentType } from '../proxy/index.js';
import type { CompiledRoute } from './compile-routes.js';

/** The fastify config of a route's handlers: marks them for the hooks below. */
export function gatewayRouteConfig(route: CompiledRoute): Record<string, boolean> {
  return { [GATEWAY_ROUTE_CONFIG]: true, [GATEWAY_CACHE_FIRST]: route.cached && !route.onRequest };
}

/** A route's hooks of one kind with `hook` added last. */
function withHook<T>(hooks: T | T[] | undefined, hook: T): T[] {
  return [...[hooks ?? []].flat(), hook] as T[];
}

declare module 'fastify' {
  interface FastifyContextConfig {
    [GATEWAY_CACHE_FIRST]?: boolean;
  }
}

/**
 * Gives every gateway route, as fastify registers it, its own hooks: the body passthrough and,
 * where a cache hit needs no check first, the early cache lookup. That lookup runs after the
 * middlewares (fastify's global `onRequest`) but before Nest's guards, so it is left out when the
 * host application has global guards (`hasGlobalGuards` is asked as each route is registered,
 * once they are known). Must run before the routes are registered; once per instance.
 */
export function installRouteHooks(
  fastify: FastifyInstance,
  hasGlobalGuards: () => boolean,
  cacheInterceptor?: ResponseCacheInterceptor,
): void {
  installPassthroughParser(fastify);
  fastify.addHook('onRoute', (route) => {
    const config = route.config;
    if (config?.[GATEWAY_ROUTE_CONFIG] !== true) return;
    route.preParsing = withHook(route.preParsing, hideContentType);
    route.preValidation = withHook(route.preValidation, restoreContentType);
    if (config[GATEWAY_CACHE_FIRST] && cacheInterceptor && !hasGlobalGuards()) {
      route.onRequest = withHook(route.onRequest, cacheInterceptor.serveHitsFirst);
    }
  });
}
