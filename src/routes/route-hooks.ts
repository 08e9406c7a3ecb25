import { STATUS_CODES } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { cacheResultOf, type ResponseCacheInterceptor } from '../cache/index.js';
import { GATEWAY_CACHE_FIRST, GATEWAY_ROUTE_CONFIG, GATEWAY_ROUTE_LABEL } from '../gateway.constants.js';
import { assignRequestId, type GatewayLogger, type RouteLabel, startAccessLine, X_REQUEST_ID } from '../logging/index.js';
import type { GatewayMetrics } from '../metrics/index.js';
import { hideContentType, installPassthroughParser, restoreContentType } from '../proxy/index.js';
import type { CompiledRoute } from './compile-routes.js';
import { refuseRequestTarget } from './request-target.js';

/** The fastify config of a route's handlers: marks them for the hooks below, names them for the logs. */
export function gatewayRouteConfig(route: CompiledRoute): Record<string, unknown> {
  const label: RouteLabel = { prefix: route.prefix, target: route.forward.target.href };
  return { [GATEWAY_ROUTE_CONFIG]: true, [GATEWAY_CACHE_FIRST]: route.cached && !route.onRequest, [GATEWAY_ROUTE_LABEL]: label };
}

/** A route's hooks of one kind with `hook` added last. */
function withHook<T>(hooks: T | T[] | undefined, hook: T): T[] {
  return [...[hooks ?? []].flat(), hook] as T[];
}

declare module 'fastify' {
  interface FastifyContextConfig {
    [GATEWAY_CACHE_FIRST]?: boolean;
    [GATEWAY_ROUTE_LABEL]?: RouteLabel;
  }
}

export interface RouteHooksOptions {
  /** Asked as each route is registered, once the host application's guards are known. */
  hasGlobalGuards: () => boolean;
  maxUrlLength: number;
  cacheInterceptor?: ResponseCacheInterceptor;
  /** Where access lines go; absent when they are off or filtered out by the level. */
  accessLog?: GatewayLogger;
  metrics: GatewayMetrics;
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
  const { hasGlobalGuards, maxUrlLength, cacheInterceptor, accessLog, metrics } = options;
  installPassthroughParser(fastify);
  // Global, so that it runs before every route-level hook (the early cache lookup among them).
  // Nest's middlewares, registered on fastify before it, run first; they forward nothing.
  fastify.addHook('onRequest', (request, reply, done) => {
    const config = request.routeOptions.config;
    if (config?.[GATEWAY_ROUTE_CONFIG] !== true) return done();
    const id = assignRequestId(request.raw);
    const label = config[GATEWAY_ROUTE_LABEL]!;
    const counted = metrics.startExchange(label.prefix, request.raw.method!);
    const logLine = accessLog && startAccessLine(accessLog, request, label, id);
    // One listener for both: the exchange ends here whichever way, answered, refused or cut.
    reply.raw.once('close', () => {
      const res = reply.raw;
      const cache = cacheResultOf(res);
      counted(res.statusCode, cache);
      if (logLine) logLine(res, cache);
    });
    const refused = refuseRequestTarget(request.url, maxUrlLength);
    if (!refused) return done();
    const { statusCode, message } = refused;
    void reply.code(statusCode).header('connection', 'close').send({ statusCode, error: STATUS_CODES[statusCode], message });
  });
  // Answers fastify sends for a gateway route (errors from hooks, guards, the body limit) carry
  // the id too; proxied responses and cache hits add it where they write their head.
  fastify.addHook('onSend', (request, reply, payload, done) => {
    if (request.routeOptions.config?.[GATEWAY_ROUTE_CONFIG] === true) void reply.header(X_REQUEST_ID, request.raw.headers[X_REQUEST_ID]);
    done(null, payload);
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
