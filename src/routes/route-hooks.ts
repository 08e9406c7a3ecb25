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

/**
 * Gives every gateway route, as fastify registers it, its own hooks: the body passthrough and,
 * where a cache hit needs no `onRequest` check first, the early cache lookup (after the
 * middlewares, which run in fastify's global `onRequest`). Must run before the routes are
 * registered; once per instance.
 */
export function installRouteHooks(fastify: FastifyInstance, cacheInterceptor?: ResponseCacheInterceptor): void {
  installPassthroughParser(fastify);
  fastify.addHook('onRoute', (route) => {
    const config = route.config;
    if (config?.[GATEWAY_ROUTE_CONFIG] !== true) return;
    route.preParsing = withHook(route.preParsing, hideContentType);
    route.preValidation = withHook(route.preValidation, restoreContentType);
    if (config[GATEWAY_CACHE_FIRST] && cacheInterceptor) {
      route.onRequest = withHook(route.onRequest, cacheInterceptor.serveHitsFirst);
    }
  });
}
