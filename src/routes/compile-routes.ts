import type { ConnectMiddleware, HttpMethod, OnRequestHook, OnResponseHook } from '../config/gateway-options.interface.js';
import { GatewayConfigError } from '../config/gateway-options.schema.js';
import type { ResolvedGatewayOptions, ResolvedRoute } from '../config/resolve-options.js';
import { readUpstreamTls } from '../config/route-protocols.js';
import { resolveMiddleware } from '../middleware/index.js';
import type { ForwardTarget, UpstreamTls, WebSocketRoute } from '../proxy/index.js';
import type { UpstreamSettings } from '../upstream/index.js';
import { CACHE_DIRECTIVE_HEADERS } from '../gateway.constants.js';
import { createUrlRewriter } from './path-pattern.js';

/** A route with everything its pipeline needs precomputed. */
export interface CompiledRoute {
  /** Position in `routes`. */
  index: number;
  prefix: string;
  /** Fastify paths the route answers. */
  paths: string[];
  /** Methods forwarded, in a stable order. */
  methods: HttpMethod[];
  /** Global middlewares first, then the route's. */
  middlewares: ConnectMiddleware[];
  onRequest?: OnRequestHook;
  onResponse?: OnResponseHook;
  /** Whether the response cache serves this route. */
  cached: boolean;
  /** How requests are forwarded; `target` is the first of `upstream.targets`. */
  forward: ForwardTarget;
  upstream: UpstreamSettings;
  /** How WebSocket upgrades are proxied (to `upstream`'s targets); absent with `websocket: false`. */
  webSocket?: WebSocketRoute;
  /** The route's own address rules (the top-level ones apply too). */
  allow: string[];
  deny: string[];
  rateLimits: ResolvedRoute['rateLimits'];
  auth?: ResolvedRoute['auth'];
}

// A cached route's fill reads the cache's instructions and removes them; without the cache, the
// forwarder drops them: no client sees them, whatever the cache setting.
const TRACE_CONTEXT_HEADERS = ['traceparent', 'tracestate'];
const UNCACHED_DROPPED_RESPONSE_HEADERS: ReadonlySet<string> = new Set(CACHE_DIRECTIVE_HEADERS);
const NONE: ReadonlySet<string> = new Set();

/** Compiles resolved options into routes. Pure: the same for `forRoot` and `forRootAsync`. */
export function compileRoutes(options: ResolvedGatewayOptions): CompiledRoute[] {
  const globalMiddlewares = options.middlewares.map(resolveMiddleware);
  return options.routes.map((route, index) => ({
    index,
    prefix: route.prefix,
    paths: route.paths,
    methods: route.methods,
    middlewares: [
      ...globalMiddlewares,
      ...route.middlewares.map(resolveMiddleware),
    ],
    onRequest: route.hooks.onRequest,
    onResponse: route.hooks.onResponse,
    // A gRPC answer is a stream whose status comes last, in a trailer: never stored.
    cached: options.cache !== undefined && route.protocol !== 'grpc',
    upstream: {
      targets: route.targets.map((target) => ({ url: new URL(target.url), weight: target.weight })),
      balance: route.balance,
      hashOn: route.hashOn,
      healthCheck: route.healthCheck,
      retries: route.retries,
      circuitBreaker: route.circuitBreaker,
      discovery: route.discovery,
      outlierDetection: route.outlierDetection,
    } satisfies UpstreamSettings,
    forward: {
      target: new URL(route.targets[0].url),
      rewriteUrl: createUrlRewriter(route.prefix, route.prefixRewrite),
      bodyLimit: route.bodyLimit,
      timeout: route.timeout,
      maxConnections: route.maxConnections,
      requestBodyTimeout: route.requestBodyTimeout,
      keepAliveTimeout: route.keepAliveTimeout,
      // Traced, the service gets the gateway's trace context, whose parent is the attempt's span.
      dropHeaders: new Set([...route.dropRequestHeaders.map((name) => name.toLowerCase()), ...(options.tracing ? TRACE_CONTEXT_HEADERS : [])]),
      dropResponseHeaders: options.cache ? NONE : UNCACHED_DROPPED_RESPONSE_HEADERS,
      tls: route.tls && readTls(route, index),
      protocol: route.protocol,
    },
    webSocket: route.websocket && route.protocol !== 'grpc' ? compileWebSocket(route) : undefined,
    allow: route.allow,
    deny: route.deny,
    rateLimits: route.rateLimits,
    auth: route.auth,
  }));
}

/** The route's TLS files, read here once; one gone since validation fails the start as it would have failed it. */
function readTls(route: ResolvedRoute, index: number): UpstreamTls {
  const { material, issues } = readUpstreamTls(route.tls!, `routes[${index}].tls`);
  if (issues.length) throw new GatewayConfigError('GatewayModule options', issues);
  return material;
}

function compileWebSocket(route: ResolvedRoute): WebSocketRoute {
  return {
    rewriteUrl: createUrlRewriter(route.prefix, route.prefixRewrite),
    timeout: route.timeout,
    idleTimeout: route.websocketIdleTimeout,
    dropHeaders: new Set(route.dropRequestHeaders.map((name) => name.toLowerCase())),
  };
}
