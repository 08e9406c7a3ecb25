import { STATUS_CODES } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { ResponseCacheInterceptor } from '../cache/index.js';
import { GATEWAY_CACHE_FIRST, GATEWAY_ROUTE_CONFIG } from '../gateway.constants.js';
import { hideContentType, installPassthroughParser, restoreContentType } from '../proxy/index.js';
import type { CompiledRoute } from './compile-routes.js';
import { refuseRequestTarget } from './request-target.js';

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

export interface RouteHooksOptions {
  /** Asked as each route is registered, once the host application's guards are known. */
  hasGlobalGuards: () => boolean;
  maxUrlLength: number;
  cacheInterceptor?: ResponseCacheInterceptor;
}

/**
 * Gives every gateway route, as fastify registers it, its own hooks: the body passthrough and,
 * where a cache hit needs no check first, the early cache lookup. That lookup runs after the
 * middlewares (fastify's global `onRequest`) but before Nest's guards, so it is left out when the
 * host application has global guards. Before all of them, a request whose path is not in normal
 * form is refused. Must run before the routes are registered and before Nest adds the
 * middlewares' hook; once per instance.
 */
export function installRouteHooks(fastify: FastifyInstance, options: RouteHooksOptions): void {
  const { hasGlobalGuards, maxUrlLength, cacheInterceptor } = options;
  installPassthroughParser(fastify);
  // Global, so that it runs before the middlewares: a refused path must not reach any of them.
  fastify.addHook('onRequest', (request, reply, done) => {
    if (request.routeOptions.config?.[GATEWAY_ROUTE_CONFIG] !== true) return done();
    const refused = refuseRequestTarget(request.url, maxUrlLength);
    if (!refused) return done();
    const { statusCode, message } = refused;
    void reply.code(statusCode).header('connection', 'close').send({ statusCode, error: STATUS_CODES[statusCode], message });
  });
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
