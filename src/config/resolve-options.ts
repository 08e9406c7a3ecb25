import {
  DEFAULT_BODY_LIMIT_BYTES,
  DEFAULT_CACHE_COALESCE_WAIT_MS,
  DEFAULT_CACHE_MAX_BYTES,
  DEFAULT_CACHE_MAX_ENTRIES,
  DEFAULT_REDIS_MAX_ENTRIES,
  DEFAULT_CACHE_MAX_ENTRY_BYTES,
  DEFAULT_CACHE_NAMESPACE,
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_HEALTH_PATHS,
  DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  DEFAULT_MAX_URL_LENGTH,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_METRICS_ALLOW,
  DEFAULT_METRICS_PATH,
  DEFAULT_PATH_REGEX,
  DEFAULT_PREFIX_REWRITE,
  DEFAULT_REQUEST_BODY_TIMEOUT_MS,
  DEFAULT_UPSTREAM_KEEP_ALIVE_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_ROUTE_LISTING_PATH,
  DEFAULT_SHUTDOWN_GRACE_MS,
  DEFAULT_TIMEOUT_MS,
  HTTP_METHODS,
} from '../gateway.constants.js';
import type {
  CacheOptions,
  GatewayOptions,
  HttpMethod,
  MiddlewareOption,
  RouteHooks,
  RouteOptions,
  ServerOptions,
} from './gateway-options.interface.js';
import { toRoutePaths } from './route-paths.js';

/** A route with every default filled in. */
export interface ResolvedRoute extends Required<Omit<RouteOptions, 'hooks' | 'methods'>> {
  /** Methods forwarded, each once, in the order given. */
  methods: HttpMethod[];
  hooks: RouteHooks;
  /** The fastify paths the route answers, from its prefix and `pathRegex`. */
  paths: string[];
}

export type ResolvedCacheOptions = Required<Omit<CacheOptions, 'redisUrl'>> & Pick<CacheOptions, 'redisUrl'>;

/** The options with every default filled in, built once at start-up: nothing downstream re-defaults. */
export interface ResolvedGatewayOptions {
  routes: ResolvedRoute[];
  middlewares: MiddlewareOption[];
  cache?: ResolvedCacheOptions;
  maxUrlLength: number;
  health: { liveness: string; readiness: string; requireCache: boolean } | false;
  server: Required<Omit<ServerOptions, 'trustProxy'>> & Pick<ServerOptions, 'trustProxy'>;
  watch: boolean;
  metrics: { path: string; allow: string[] } | false;
  routeListing: { path: string } | false;
  accessLog: boolean;
  logger?: GatewayOptions['logger'];
}

/** Fills every default of validated options. Pure; the same for `forRoot`, `forRootAsync` and the file. */
export function resolveGatewayOptions(options: GatewayOptions): ResolvedGatewayOptions {
  const pathRegex = options.pathRegex ?? DEFAULT_PATH_REGEX;
  return {
    routes: options.routes.map((route) => resolveRoute(route, pathRegex)),
    middlewares: options.middlewares ?? [],
    cache: options.cache && resolveCacheOptions(options.cache),
    maxUrlLength: options.maxUrlLength ?? DEFAULT_MAX_URL_LENGTH,
    health: options.health === false ? false : { ...DEFAULT_HEALTH_PATHS, requireCache: false, ...options.health },
    server: {
      trustProxy: options.server?.trustProxy,
      shutdownGracePeriod: options.server?.shutdownGracePeriod ?? DEFAULT_SHUTDOWN_GRACE_MS,
      headersTimeout: options.server?.headersTimeout ?? DEFAULT_HEADERS_TIMEOUT_MS,
      requestTimeout: options.server?.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT_MS,
      keepAliveTimeout: options.server?.keepAliveTimeout ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
    },
    watch: options.watch ?? false,
    metrics: options.metrics === false ? false : { path: options.metrics?.path ?? DEFAULT_METRICS_PATH, allow: options.metrics?.allow ?? [...DEFAULT_METRICS_ALLOW] },
    routeListing: options.routeListing ? { path: options.routeListing.path ?? DEFAULT_ROUTE_LISTING_PATH } : false,
    accessLog: options.accessLog ?? true,
    logger: options.logger,
  };
}

function resolveRoute(route: RouteOptions, defaultPathRegex: string): ResolvedRoute {
  const pathRegex = route.pathRegex ?? defaultPathRegex;
  return {
    prefix: route.prefix,
    target: route.target,
    prefixRewrite: route.prefixRewrite ?? DEFAULT_PREFIX_REWRITE,
    pathRegex,
    methods: route.methods ? [...new Set(route.methods)] : [...HTTP_METHODS],
    bodyLimit: route.bodyLimit ?? DEFAULT_BODY_LIMIT_BYTES,
    timeout: route.timeout ?? DEFAULT_TIMEOUT_MS,
    maxConnections: route.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    requestBodyTimeout: route.requestBodyTimeout ?? DEFAULT_REQUEST_BODY_TIMEOUT_MS,
    keepAliveTimeout: route.keepAliveTimeout ?? DEFAULT_UPSTREAM_KEEP_ALIVE_MS,
    dropRequestHeaders: route.dropRequestHeaders ?? [],
    middlewares: route.middlewares ?? [],
    hooks: route.hooks ?? {},
    paths: toRoutePaths(route.prefix, pathRegex),
  };
}

/** The cache options with every default filled in. */
export function resolveCacheOptions(cache: CacheOptions): ResolvedCacheOptions {
  return {
    store: cache.store ?? 'memory',
    redisUrl: cache.redisUrl,
    namespace: cache.namespace ?? DEFAULT_CACHE_NAMESPACE,
    maxEntries: cache.maxEntries ?? (cache.store === 'redis' ? DEFAULT_REDIS_MAX_ENTRIES : DEFAULT_CACHE_MAX_ENTRIES),
    maxBytes: cache.maxBytes ?? DEFAULT_CACHE_MAX_BYTES,
    maxEntryBytes: cache.maxEntryBytes ?? DEFAULT_CACHE_MAX_ENTRY_BYTES,
    respectCacheControl: cache.respectCacheControl ?? false,
    coalesceWait: cache.coalesceWait ?? DEFAULT_CACHE_COALESCE_WAIT_MS,
  };
}
