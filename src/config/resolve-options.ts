import {
  DEFAULT_API_KEY_HEADER,
  DEFAULT_BODY_LIMIT_BYTES,
  DEFAULT_JWKS_COOLDOWN,
  DEFAULT_JWKS_MAX_AGE,
  DEFAULT_JWKS_TIMEOUT,
  DEFAULT_CACHE_COALESCE_WAIT_MS,
  DEFAULT_CACHE_MAX_BYTES,
  DEFAULT_CACHE_MAX_ENTRIES,
  DEFAULT_REDIS_MAX_ENTRIES,
  DEFAULT_CACHE_MAX_ENTRY_BYTES,
  DEFAULT_CACHE_NAMESPACE,
  DEFAULT_CACHE_PURGE_PATH,
  DEFAULT_DRAIN_DELAY_MS,
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
  DEFAULT_TLS_MIN_VERSION,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_WEBSOCKET_IDLE_TIMEOUT_MS,
  DEFAULT_WEBSOCKET_MAX_CONNECTIONS,
  DEFAULT_HEALTH_CHECK_INTERVAL,
  DEFAULT_HEALTH_CHECK_TIMEOUT,
  DEFAULT_RETRY_BUDGET,
  HTTP_METHODS,
} from '../gateway.constants.js';
import bytes from 'bytes';
import ms from 'ms';
import {
  type AuthOptions,
  type BalanceMode,
  type CacheOptions,
  type CachePurgeOptions,
  type DashboardOptions,
  type Duration,
  type GatewayOptions,
  type HttpMethod,
  type MiddlewareOption,
  type RateLimitOptions,
  RETRY_CONDITIONS,
  type RetryCondition,
  type RouteHooks,
  type RouteOptions,
  type ServerOptions,
  type ServerTlsOptions,
  type Size,
  type TracingOptions,
  type UpstreamTlsOptions,
} from './gateway-options.interface.js';
import { toRoutePaths } from './route-paths.js';

/** A route's active health checks, durations in milliseconds. */
export interface ResolvedHealthCheck {
  path: string;
  interval: number;
  timeout: number;
  unhealthyThreshold: number;
  healthyThreshold: number;
}

/** A route's passive health, durations in milliseconds. */
export interface ResolvedOutlierDetection {
  failures: number;
  ejectionTime: number;
  maxEjectedShare: number;
}

/** A route's per-target breaker, durations in milliseconds. */
export interface ResolvedCircuitBreaker {
  maxPending?: number;
  errorRate?: number;
  minRequests: number;
  cooldown: number;
  probes: number;
}

/** How a route spreads its requests over its targets, every default filled in. */
export interface ResolvedUpstreamRules {
  balance: BalanceMode;
  /** `consistent-hash` only. */
  hashOn?: string;
  healthCheck?: ResolvedHealthCheck;
  retries: { attempts: number; on: RetryCondition[]; budget: number };
  circuitBreaker?: ResolvedCircuitBreaker;
  discovery?: { interval: number; servers?: string[] };
  outlierDetection: ResolvedOutlierDetection;
}

/** A rate limit with every default filled in, the window in milliseconds. */
export interface ResolvedRateLimit {
  name: string;
  limit: number;
  window: number;
  by: string;
  burst: number;
  store: 'memory' | 'redis';
  /** The `redis` store's server: the limit's own, else the cache's. */
  redisUrl?: string;
  onRedisDown: 'local' | 'open' | 'closed';
}

/** A route's JWT checks, durations in milliseconds. */
export interface ResolvedJwtAuth {
  jwks: { url: string; cooldown: number; maxAge: number; timeout: number };
  issuer?: string | string[];
  audience?: string | string[];
  algorithms: string[];
  clockTolerance: number;
  /** `[claim, header]` pairs, headers in lower case. */
  forwardClaims: [string, string][];
}

/** A route's authentication: exactly one of the two. */
export interface ResolvedAuth {
  jwt?: ResolvedJwtAuth;
  apiKey?: { header: string; keys: Record<string, string> };
}

/** A route's durations (milliseconds) and sizes (bytes), as numbers. */
interface ResolvedRouteMeasures {
  bodyLimit: number;
  timeout: number;
  requestBodyTimeout: number;
  keepAliveTimeout: number;
  websocketIdleTimeout: number;
}

/** A route with every default filled in. */
export interface ResolvedRoute
  extends Required<Omit<RouteOptions, 'hooks' | 'methods' | 'target' | 'targets' | 'rateLimit' | 'auth' | 'tls' | keyof ResolvedUpstreamRules | keyof ResolvedRouteMeasures>>,
    ResolvedUpstreamRules,
    ResolvedRouteMeasures {
  rateLimits: ResolvedRateLimit[];
  auth?: ResolvedAuth;
  /** File paths, as given: read at start-up (`config/route-protocols.ts`). */
  tls?: UpstreamTlsOptions;
  /** `target` or `targets`, each with its weight. */
  targets: { url: string; weight: number }[];
  /** Methods forwarded, each once, in the order given. */
  methods: HttpMethod[];
  hooks: RouteHooks;
  /** The fastify paths the route answers, from its prefix and `pathRegex`. */
  paths: string[];
}

export type ResolvedCacheOptions = Required<Omit<CacheOptions, 'redisUrl' | 'maxBytes' | 'maxEntryBytes' | 'coalesceWait' | 'purge'>> &
  Pick<CacheOptions, 'redisUrl'> & { maxBytes: number; maxEntryBytes: number; coalesceWait: number; purge?: Required<CachePurgeOptions> };

/** The options with every default filled in, built once at start-up: nothing downstream re-defaults. */
export interface ResolvedGatewayOptions {
  routes: ResolvedRoute[];
  /** In front of every route. */
  allow: string[];
  deny: string[];
  middlewares: MiddlewareOption[];
  cache?: ResolvedCacheOptions;
  maxUrlLength: number;
  websocketMaxConnections: number;
  /** Each path, or `false` for no such endpoint. */
  health: { liveness: string | false; readiness: string | false; requireCache: boolean; requireTargets: boolean } | false;
  server: ResolvedServerOptions;
  watch: boolean;
  metrics: { path: string; allow: string[] } | false;
  routeListing: { path: string } | false;
  /** As given: the environment fills the rest when the tracer starts (`tracing/tracing-settings.ts`). */
  tracing?: TracingOptions;
  dashboard: ResolvedDashboardOptions | false;
  accessLog: boolean;
  answerUnmatched: boolean;
  logger?: GatewayOptions['logger'];
}

type ServerDurations = Exclude<keyof ServerOptions, 'trustProxy' | 'tls' | 'http2'>;

/** The standalone server's settings, durations in milliseconds. */
export type ResolvedServerOptions = Pick<ServerOptions, 'trustProxy'> & { [Key in ServerDurations]-?: number } & {
  tls?: Required<ServerTlsOptions>;
  http2: boolean;
};

/** The operator page's options, the refresh in milliseconds. */
export interface ResolvedDashboardOptions {
  /** Ends in `/`. */
  path: string;
  allow: string[];
  token?: string;
  refresh: number;
}

const DEFAULT_DASHBOARD_PATH = '/_gateway/';
const DEFAULT_DASHBOARD_REFRESH = '1s';

function resolveDashboardOptions(dashboard: DashboardOptions): ResolvedDashboardOptions {
  return {
    path: dashboard.path ?? DEFAULT_DASHBOARD_PATH,
    // The same peers as the metrics: the page shows as much.
    allow: dashboard.allow ?? [...DEFAULT_METRICS_ALLOW],
    token: dashboard.token,
    refresh: toMilliseconds(dashboard.refresh ?? DEFAULT_DASHBOARD_REFRESH),
  };
}

/** Fills every default of validated options. Pure; the same for `forRoot`, `forRootAsync` and the file. */
export function resolveGatewayOptions(options: GatewayOptions): ResolvedGatewayOptions {
  const pathRegex = options.pathRegex ?? DEFAULT_PATH_REGEX;
  return {
    routes: options.routes.map((route) => resolveRoute(route, pathRegex, options.cache?.redisUrl)),
    allow: options.allow ?? [],
    deny: options.deny ?? [],
    middlewares: options.middlewares ?? [],
    cache: options.cache && resolveCacheOptions(options.cache),
    maxUrlLength: options.maxUrlLength ?? DEFAULT_MAX_URL_LENGTH,
    websocketMaxConnections: options.websocketMaxConnections ?? DEFAULT_WEBSOCKET_MAX_CONNECTIONS,
    // Off unless asked for: a host app may have health endpoints of its own (a file asks for them).
    health: options.health ? { ...DEFAULT_HEALTH_PATHS, requireCache: false, requireTargets: false, ...options.health } : false,
    server: {
      trustProxy: options.server?.trustProxy,
      drainDelay: toMilliseconds(options.server?.drainDelay ?? DEFAULT_DRAIN_DELAY_MS),
      shutdownGracePeriod: toMilliseconds(options.server?.shutdownGracePeriod ?? DEFAULT_SHUTDOWN_GRACE_MS),
      headersTimeout: toMilliseconds(options.server?.headersTimeout ?? DEFAULT_HEADERS_TIMEOUT_MS),
      requestTimeout: toMilliseconds(options.server?.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT_MS),
      keepAliveTimeout: toMilliseconds(options.server?.keepAliveTimeout ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS),
      tls: options.server?.tls && { ...options.server.tls, minVersion: options.server.tls.minVersion ?? DEFAULT_TLS_MIN_VERSION },
      http2: options.server?.http2 ?? false,
    },
    watch: options.watch ?? false,
    metrics: options.metrics ? { path: options.metrics.path ?? DEFAULT_METRICS_PATH, allow: options.metrics.allow ?? [...DEFAULT_METRICS_ALLOW] } : false,
    routeListing: options.routeListing ? { path: options.routeListing.path ?? DEFAULT_ROUTE_LISTING_PATH } : false,
    tracing: options.tracing,
    dashboard: options.dashboard ? resolveDashboardOptions(options.dashboard) : false,
    accessLog: options.accessLog ?? true,
    answerUnmatched: options.answerUnmatched ?? false,
    logger: options.logger,
  };
}

function resolveRoute(route: RouteOptions, defaultPathRegex: string, cacheRedisUrl: string | undefined): ResolvedRoute {
  const pathRegex = route.pathRegex ?? defaultPathRegex;
  const targets = route.targets
    ? route.targets.map((target) => (typeof target === 'string' ? { url: target, weight: 1 } : { url: target.url, weight: target.weight ?? 1 }))
    : [{ url: route.target!, weight: 1 }];
  const balance = route.balance ?? 'round-robin';
  const retries = typeof route.retries === 'object' ? route.retries : { attempts: route.retries ?? (targets.length > 1 ? 1 : 0) };
  return {
    prefix: route.prefix,
    targets,
    balance,
    hashOn: balance === 'consistent-hash' ? (route.hashOn ?? 'ip') : undefined,
    healthCheck: route.healthCheck && {
      path: route.healthCheck.path,
      interval: toMilliseconds(route.healthCheck.interval ?? DEFAULT_HEALTH_CHECK_INTERVAL),
      timeout: toMilliseconds(route.healthCheck.timeout ?? DEFAULT_HEALTH_CHECK_TIMEOUT),
      unhealthyThreshold: route.healthCheck.unhealthyThreshold ?? 2,
      healthyThreshold: route.healthCheck.healthyThreshold ?? 1,
    },
    retries: { attempts: retries.attempts, on: retries.on ?? [...RETRY_CONDITIONS], budget: retries.budget ?? DEFAULT_RETRY_BUDGET },
    outlierDetection: {
      failures: route.outlierDetection?.failures ?? 5,
      ejectionTime: toMilliseconds(route.outlierDetection?.ejectionTime ?? '10s'),
      maxEjectedShare: route.outlierDetection?.maxEjectedShare ?? 0.5,
    },
    discovery: route.discovery && { interval: toMilliseconds(route.discovery.interval ?? '10s'), servers: route.discovery.servers },
    circuitBreaker: route.circuitBreaker && {
      maxPending: route.circuitBreaker.maxPending,
      errorRate: route.circuitBreaker.errorRate,
      minRequests: route.circuitBreaker.minRequests ?? 20,
      cooldown: toMilliseconds(route.circuitBreaker.cooldown ?? '5s'),
      probes: route.circuitBreaker.probes ?? 3,
    },
    // A gRPC method's path is `/package.Service/Method`, whole: the prefix is kept unless rewritten.
    prefixRewrite: route.prefixRewrite ?? (route.protocol === 'grpc' ? route.prefix : DEFAULT_PREFIX_REWRITE),
    pathRegex,
    methods: route.methods ? [...new Set(route.methods)] : [...HTTP_METHODS],
    bodyLimit: toBytes(route.bodyLimit ?? DEFAULT_BODY_LIMIT_BYTES),
    timeout: toMilliseconds(route.timeout ?? DEFAULT_TIMEOUT_MS),
    maxConnections: route.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    requestBodyTimeout: toMilliseconds(route.requestBodyTimeout ?? DEFAULT_REQUEST_BODY_TIMEOUT_MS),
    keepAliveTimeout: toMilliseconds(route.keepAliveTimeout ?? DEFAULT_UPSTREAM_KEEP_ALIVE_MS),
    dropRequestHeaders: route.dropRequestHeaders ?? [],
    websocket: route.websocket ?? true,
    websocketIdleTimeout: toMilliseconds(route.websocketIdleTimeout ?? DEFAULT_WEBSOCKET_IDLE_TIMEOUT_MS),
    middlewares: route.middlewares ?? [],
    hooks: route.hooks ?? {},
    paths: toRoutePaths(route.prefix, pathRegex),
    allow: route.allow ?? [],
    deny: route.deny ?? [],
    rateLimits: resolveRateLimits(route.rateLimit, cacheRedisUrl),
    auth: route.auth && resolveAuth(route.auth),
    tls: route.tls,
    protocol: route.protocol ?? 'http',
  };
}

/** A limit's name in the `RateLimit` headers: its own, else `default` when alone, else what it counts by. */
export function rateLimitName(limit: RateLimitOptions, limitsOnRoute: number): string {
  return limit.name ?? (limitsOnRoute === 1 ? 'default' : (limit.by ?? 'ip').replace(/[^\w-]/g, '-'));
}

function resolveRateLimits(rateLimit: RouteOptions['rateLimit'], cacheRedisUrl: string | undefined): ResolvedRateLimit[] {
  const limits = rateLimit === undefined ? [] : Array.isArray(rateLimit) ? rateLimit : [rateLimit];
  return limits.map((limit) => ({
    name: rateLimitName(limit, limits.length),
    limit: limit.limit,
    window: toMilliseconds(limit.window),
    by: limit.by ?? 'ip',
    burst: limit.burst ?? limit.limit,
    store: limit.store ?? 'memory',
    redisUrl: limit.redisUrl ?? cacheRedisUrl,
    onRedisDown: limit.onRedisDown ?? 'local',
  }));
}

function resolveAuth(auth: AuthOptions): ResolvedAuth {
  if (auth.apiKey) return { apiKey: { header: (auth.apiKey.header ?? DEFAULT_API_KEY_HEADER).toLowerCase(), keys: auth.apiKey.keys } };
  const jwt = auth.jwt!;
  return {
    jwt: {
      jwks: {
        url: jwt.jwks.url,
        cooldown: toMilliseconds(jwt.jwks.cooldown ?? DEFAULT_JWKS_COOLDOWN),
        maxAge: toMilliseconds(jwt.jwks.maxAge ?? DEFAULT_JWKS_MAX_AGE),
        timeout: toMilliseconds(jwt.jwks.timeout ?? DEFAULT_JWKS_TIMEOUT),
      },
      issuer: jwt.issuer,
      audience: jwt.audience,
      algorithms: jwt.algorithms,
      clockTolerance: toMilliseconds(jwt.clockTolerance ?? 0),
      forwardClaims: Object.entries(jwt.forwardClaims ?? {}).map(([claim, header]) => [claim, header.toLowerCase()]),
    },
  };
}

/** A validated duration in milliseconds (the schema turns every one into milliseconds already). */
export function toMilliseconds(value: Duration): number {
  return typeof value === 'number' ? value : ms(value as ms.StringValue);
}

/** A validated size in bytes (the schema turns every one into bytes already). */
function toBytes(value: Size): number {
  return typeof value === 'number' ? value : bytes.parse(value)!;
}

/** The cache options with every default filled in. */
export function resolveCacheOptions(cache: CacheOptions): ResolvedCacheOptions {
  return {
    store: cache.store ?? 'memory',
    redisUrl: cache.redisUrl,
    namespace: cache.namespace ?? DEFAULT_CACHE_NAMESPACE,
    maxEntries: cache.maxEntries ?? (cache.store === 'redis' ? DEFAULT_REDIS_MAX_ENTRIES : DEFAULT_CACHE_MAX_ENTRIES),
    maxBytes: toBytes(cache.maxBytes ?? DEFAULT_CACHE_MAX_BYTES),
    maxEntryBytes: toBytes(cache.maxEntryBytes ?? DEFAULT_CACHE_MAX_ENTRY_BYTES),
    respectCacheControl: cache.respectCacheControl ?? false,
    coalesceWait: toMilliseconds(cache.coalesceWait ?? DEFAULT_CACHE_COALESCE_WAIT_MS),
    expireScope: cache.expireScope ?? 'global',
    purge: cache.purge && { token: cache.purge.token, path: cache.purge.path ?? DEFAULT_CACHE_PURGE_PATH },
  };
}
