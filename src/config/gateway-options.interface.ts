import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

/** An HTTP method a route can be limited to. */
export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

/**
 * A connect-style middleware, e.g. `cors()`. It sees Node's raw request and response; calling
 * `next(err)` answers with the error's status (500 by default).
 */
export type ConnectMiddleware = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (err?: unknown) => void,
) => void;

/** A built-in middleware chosen by name, as config files do: `{ use: basicAuth, options: {...} }`. */
export interface MiddlewareSpec {
  /** Name of the built-in middleware: `basicAuth` or `cors`. */
  use: string;
  /** Options of that middleware (see the built-in middlewares in docs/configuration.md). */
  options?: Record<string, unknown>;
}

/** A middleware given as a function (code) or by name (code and config files). */
export type MiddlewareOption = ConnectMiddleware | MiddlewareSpec;

/**
 * Runs before the request is forwarded. It may answer the client itself through `reply`;
 * a truthy return value (or an answered reply) stops the forwarding. A throw answers 500.
 */
export type OnRequestHook = (req: FastifyRequest, reply: FastifyReply) => unknown;

/**
 * Runs when the target's response headers arrive, instead of the default pass-through.
 * Status and headers are already copied onto `reply`; the hook must send the body,
 * e.g. `reply.send(res)` or a rewritten payload. A throw answers 500.
 */
export type OnResponseHook = (
  req: FastifyRequest,
  reply: FastifyReply,
  res: IncomingMessage,
) => unknown;

/** Proxy lifecycle hooks of a route. */
export interface RouteHooks {
  /** Called before forwarding; may answer and abort. */
  onRequest?: OnRequestHook;
  /** Called with the target's response; must send the reply. */
  onResponse?: OnResponseHook;
}

/** One route: requests under `prefix` go to `target`. */
export interface RouteOptions {
  /** URL prefix the route answers, e.g. `/users`. Required. */
  prefix: string;
  /** Base URL of the service, `http://` or `https://`. Exactly one of `target` and `targets`. */
  target?: string;
  /** Several replicas of the service, balanced (see `balance`). Exactly one of `target` and `targets`. */
  targets?: (string | WeightedTarget)[];
  /** How a request picks one of `targets`. @default 'round-robin' */
  balance?: BalanceMode;
  /** `consistent-hash` only: what keys a request to its target: `header:<name>`, `cookie:<name>` or `ip`. */
  hashOn?: string;
  /** Active health checks of each target; off unless given. */
  healthCheck?: HealthCheckOptions;
  /**
   * How often a failed request is sent again, to another target when there is one: a number of
   * attempts, or the details. @default 1 with several targets, else 0
   */
  retries?: number | RetryOptions;
  /** Passive health: when a target that keeps failing is taken out, and for how long. */
  outlierDetection?: OutlierDetectionOptions;
  /** Per target: a cap on requests in flight, and a breaker that opens on a high error rate. Off unless given. */
  circuitBreaker?: CircuitBreakerOptions;
  /**
   * `dns`: each target whose host is a name becomes one target per address it resolves to (a
   * Kubernetes headless Service, compose replicas), re-resolved as the records' TTL and
   * `interval` say. Off unless given.
   */
  discovery?: DiscoveryOptions;
  /** Replaces `prefix` in the forwarded path. @default '' */
  prefixRewrite?: string;
  /**
   * Path pattern below the prefix, in fastify's route syntax. `'/*'` answers the prefix and
   * everything below it; `''` answers the prefix path only. @default the global `pathRegex`
   */
  pathRegex?: string;
  /** HTTP methods the route forwards; others get 405 with `Allow`. @default all of {@link HttpMethod} */
  methods?: HttpMethod[];
  /** Largest request body forwarded: bytes, or `'1mb'` notation; larger bodies get 413. @default 1048576 (1 MiB) */
  bodyLimit?: Size;
  /** Longest silence from the target, milliseconds or `ms` notation, before answering 504. @default 30000 */
  timeout?: Duration;
  /** Most connections open to the target at once; requests beyond wait for one. @default 256 */
  maxConnections?: number;
  /** Longest silence in a client's request body, milliseconds or `ms` notation, before answering 408. @default 30000 */
  requestBodyTimeout?: Duration;
  /**
   * Longest an idle connection to the target is kept for reuse, milliseconds or `ms` notation; shorter when
   * the target's `Keep-Alive: timeout` hint says so. Below what services commonly close idle
   * connections at (gunicorn 2 s, Node 5 s, nginx 75 s), so the gateway retires a connection
   * before the service does. @default 1000
   */
  keepAliveTimeout?: Duration;
  /**
   * Client request headers never forwarded to the target, by name (any case), e.g.
   * `['Forwarded', 'X-Original-URL', 'X-Rewrite-URL', 'X-HTTP-Method-Override']`. @default []
   */
  dropRequestHeaders?: string[];
  /**
   * Proxy WebSocket upgrades (`Upgrade: websocket` on a GET) to the target, through the same
   * refusals, middlewares, guards and `onRequest` hook as HTTP; `false` forwards them as plain
   * GETs. @default true
   */
  websocket?: boolean;
  /** Longest a WebSocket connection may go without a frame either way, milliseconds or `ms` notation, before both sides are closed. @default 600000 (10 min) */
  websocketIdleTimeout?: Duration;
  /** Middlewares of this route only, run after the global ones. @default [] */
  middlewares?: MiddlewareOption[];
  /** Proxy lifecycle hooks. @default none */
  hooks?: RouteHooks;
  /**
   * Client addresses and CIDRs allowed on this route (after the top-level `allow`); anyone else
   * gets 403. The client is the socket peer, or what `server.trustProxy` lets it be. @default everyone
   */
  allow?: string[];
  /** Client addresses and CIDRs refused with 403 on this route; deny wins over allow. @default [] */
  deny?: string[];
  /** Rate limits of this route: one, or several that each must pass (per IP and per user, say). */
  rateLimit?: RateLimitOptions | RateLimitOptions[];
  /** Who may use this route: a JWT checked against the issuer's keys, or an API key. */
  auth?: AuthOptions;
  /**
   * How an `https://` target is reached: a private CA, a client certificate (mTLS), the name its
   * certificate is checked against. Its certificate is always verified. @default the system CAs, no client certificate
   */
  tls?: UpstreamTlsOptions;
  /**
   * `grpc`: calls are proxied over HTTP/2 end to end (h2c to an `http://` target, h2 over TLS to
   * an `https://` one), streamed both ways, never cached nor retried; needs `server.http2: true`
   * in a config file. @default 'http'
   */
  protocol?: RouteProtocol;
}

/** What a route forwards: HTTP requests, or gRPC calls over HTTP/2. */
export type RouteProtocol = 'http' | 'grpc';

/** TLS to a route's `https://` targets; files are read once, at start-up. */
export interface UpstreamTlsOptions {
  /** PEM file of the CA(s) the target's certificate must chain to, in place of the system's. */
  ca?: string;
  /** PEM file of the client certificate sent to targets that ask for one (mTLS); with `key`. */
  cert?: string;
  /** PEM file of the client certificate's private key; with `cert`. */
  key?: string;
  /** The name sent as SNI and the target's certificate is checked against. @default the target's host name */
  servername?: string;
}

/** A limit of `limit` requests per `window` (GCRA: spread evenly, with up to `burst` at once). */
export interface RateLimitOptions {
  /** Requests per window. Required. */
  limit: number;
  /** The window: milliseconds or `ms` notation (`'1m'`). Required. */
  window: Duration;
  /** What a client is counted by: `ip`, `header:<name>`, `cookie:<name>` or `jwt:<claim>`; requests without it are counted by address. @default 'ip' */
  by?: string;
  /** Most requests let through at once after a quiet spell. @default limit */
  burst?: number;
  /** The policy's name in the `RateLimit` and `RateLimit-Policy` headers (a token). @default 'default', or the `by` value when a route has several limits */
  name?: string;
  /** `memory`: per process. `redis`: shared by every process and replica, exact. @default 'memory' */
  store?: 'memory' | 'redis';
  /** The `redis` store's server; env `REDIS_URL` overrides it. @default cache.redisUrl */
  redisUrl?: string;
  /** While Redis does not answer: count in process memory (`local`), let everything through (`open`) or answer 503 (`closed`). @default 'local' */
  onRedisDown?: 'local' | 'open' | 'closed';
}

/** How a route's clients prove who they are: exactly one of `jwt` and `apiKey`. */
export interface AuthOptions {
  jwt?: JwtAuthOptions;
  apiKey?: ApiKeyAuthOptions;
}

/** A bearer JWT, verified against the issuer's published keys (JWKS). */
export interface JwtAuthOptions {
  jwks: {
    /** Where the issuer publishes its keys. */
    url: string;
    /** Least time between two fetches for a key id not yet known. @default '30s' */
    cooldown?: Duration;
    /** How long fetched keys are used before they are fetched again. @default '10m' */
    maxAge?: Duration;
    /** Longest a fetch may take. @default '5s' */
    timeout?: Duration;
  };
  /** Expected `iss`: one value or a list. @default not checked */
  issuer?: string | string[];
  /** Expected `aud`: one value or a list (any of them). @default not checked */
  audience?: string | string[];
  /** Signature algorithms accepted (asymmetric only: `none` and `HS*` are refused). Required. */
  algorithms: string[];
  /** Leeway for `exp` and `nbf`. @default 0 */
  clockTolerance?: Duration;
  /** Claims sent to the service, as `claim: header-name`; a client's own such headers never are. @default {} */
  forwardClaims?: Record<string, string>;
}

/** A key sent in a header, one of `keys`; the header is not forwarded. */
export interface ApiKeyAuthOptions {
  /** @default 'x-api-key' */
  header?: string;
  /** The keys, by the name of who holds each (at least 16 characters each). */
  keys: Record<string, string>;
}

/** The response cache. The services decide what is stored with `x-cache-timeout`. */
export interface CacheOptions {
  /** `memory` for one gateway process, `redis` for several sharing entries. @default 'memory' */
  store?: 'memory' | 'redis';
  /** Redis URL for the `redis` store; env `REDIS_URL` overrides it. */
  redisUrl?: string;
  /** Prefix of every key the gateway writes, so it can find its own. @default 'nest-gateway' */
  namespace?: string;
  /**
   * Most entries kept. Memory store: the least recently used go first. Redis store: the index
   * of the gateway's keys holds at most this many, and the entries that would expire first go.
   * @default 10000 (memory), 100000 (redis)
   */
  maxEntries?: number;
  /** Memory store: most bytes kept, bodies included; bytes or `'64mb'` notation. @default 67108864 (64 MiB) */
  maxBytes?: Size;
  /** Largest body stored, bytes or `'1mb'` notation; larger responses pass uncached. @default 1048576 (1 MiB) */
  maxEntryBytes?: Size;
  /** Also take TTLs from `Cache-Control` (s-maxage, max-age) when there is no `x-cache-timeout`. @default false */
  respectCacheControl?: boolean;
  /**
   * Longest a miss waits for another request's answer to the same key before it goes to the
   * service itself, milliseconds or `ms` notation: a slow first reader cannot hold the others. @default 2000
   */
  coalesceWait?: Duration;
  /**
   * Which entries a service's `x-cache-expire` may delete: `global`, any route's (one service
   * can empty the whole cache with `*`); `route`, only those of the route that answered, for
   * services trusted less than the gateway. @default 'global'
   */
  expireScope?: 'global' | 'route';
  /**
   * The purge API: `POST <path>` with `Authorization: Bearer <token>` and `{"tags": [...]}`
   * and/or `{"patterns": [...]}` deletes those entries. Off without it.
   */
  purge?: CachePurgeOptions;
}

/** The cache's purge API, the gateway's own endpoint (never forwarded). */
export interface CachePurgeOptions {
  /** The bearer token a purge must carry, at least 16 characters; env `GATEWAY_CACHE_PURGE_TOKEN` overrides it. */
  token: string;
  /** Where it answers, matched before any route. @default '/_gateway/cache/purge' */
  path?: string;
}

/** One of a route's targets, with its share of the requests. */
export interface WeightedTarget {
  url: string;
  /** Relative share of the requests. @default 1 */
  weight?: number;
}

export type BalanceMode = 'round-robin' | 'least-request' | 'consistent-hash';

/** A duration: milliseconds, or `ms` notation (`'500ms'`, `'5s'`, `'1 minute'`). */
export type Duration = number | string;

/** A size: bytes, or the `bytes` package's notation (`'512kb'`, `'1mb'`: powers of 1024). */
export type Size = number | string;

export interface HealthCheckOptions {
  /** Path asked with GET; any 2xx or 3xx is healthy. Required. */
  path: string;
  /** @default '5s' */
  interval?: Duration;
  /** @default '1s' */
  timeout?: Duration;
  /** Consecutive failed checks that take a target out. @default 2 */
  unhealthyThreshold?: number;
  /** Consecutive passed checks that bring it back. @default 1 */
  healthyThreshold?: number;
}

/**
 * What a retry may follow (see the retry rules in docs/upstreams.md): the connection failed (refused or
 * unreachable), it was reset before any answer, or the service answered one of these statuses.
 */
export const RETRY_CONDITIONS = ['connect-error', 'reset', '502', '503', '504'] as const;

/** What a retry may follow: one of `RETRY_CONDITIONS`. */
export type RetryCondition = (typeof RETRY_CONDITIONS)[number];

export interface RetryOptions {
  /** Attempts after the first. */
  attempts: number;
  /** @default ['connect-error', 'reset', '502', '503', '504'] */
  on?: RetryCondition[];
  /** Most retries as a share of the route's requests over the last 10 s. @default 0.2 */
  budget?: number;
}

export interface OutlierDetectionOptions {
  /** Failures in a row (connect errors, resets, 502/503/504) that eject a target. @default 5 */
  failures?: number;
  /** The first ejection's length; each next one of the same target lasts this much longer, up to 5 minutes. @default '10s' */
  ejectionTime?: Duration;
  /** Most of the route's targets ejected at once, as a share (at least one of two or more). @default 0.5 */
  maxEjectedShare?: number;
}

export interface DiscoveryOptions {
  type: 'dns';
  /** Longest time between two resolutions; shorter when the records' TTL is. @default '10s' */
  interval?: Duration;
  /** DNS servers to ask (`host` or `host:port`); the system's when absent. */
  servers?: string[];
}

export interface CircuitBreakerOptions {
  /** Most requests in flight to one target; beyond, it takes no more until some end. */
  maxPending?: number;
  /** Share of failures (connect errors, resets, 502/503/504) over the last 10 s that opens the breaker. */
  errorRate?: number;
  /** Requests in those 10 s before the error rate counts. @default 20 */
  minRequests?: number;
  /** How long an open breaker takes no requests. @default '5s' */
  cooldown?: Duration;
  /** Requests let through after the cooldown; all must succeed to close it. @default 3 */
  probes?: number;
}

/** The health endpoints, answered by the gateway itself and never proxied. */
export interface HealthOptions {
  /** Liveness: the process serves requests; `false` for none. @default '/health' */
  liveness?: string | false;
  /** Readiness: the config is loaded (and the cache store answers, with `requireCache`); `false` for none. @default '/ready' */
  readiness?: string | false;
  /**
   * Readiness fails while requests bypass the cache store (Redis unreachable, or not answering
   * in time). Off, readiness stays up, since the cache fails open, and reports the bypass.
   * @default false
   */
  requireCache?: boolean;
  /** Readiness fails while a route with several targets (or checks) has none taking requests. @default false */
  requireTargets?: boolean;
}

/**
 * The HTTP server of the standalone gateway (`dist/main.js`). Inside a host application, these
 * are the host's own fastify and Node settings; the gateway ignores this section there.
 */
export interface ServerOptions {
  /**
   * Whom to believe about the client (fastify's `trustProxy`): `true`, or the addresses/CIDRs of
   * the proxies in front, comma-separated or as a list. When trusted, `X-Forwarded-Proto`/`-Host` from the client are forwarded as
   * they came; otherwise the gateway sets them. `X-Forwarded-For` is always appended to.
   * @default false
   */
  trustProxy?: boolean | string | string[];
  /**
   * On SIGTERM, how long the gateway goes on serving as usual, with readiness already failing,
   * before it stops accepting connections and drains: the time a load balancer or Kubernetes
   * takes to stop sending new connections here. Milliseconds or `ms` notation. Not applied to a
   * reload's workers, which others replace on the same port. @default 0
   */
  drainDelay?: Duration;
  /** On SIGTERM/SIGINT, longest wait for requests in flight before their connections are cut, milliseconds or `ms` notation. @default 10000 */
  shutdownGracePeriod?: Duration;
  /** Longest time a client may take to send the request headers, milliseconds or `ms` notation (slow clients). @default 10000 */
  headersTimeout?: Duration;
  /** Longest time a client may take to send a whole request, body included, milliseconds or `ms` notation. @default 300000 */
  requestTimeout?: Duration;
  /** How long an idle keep-alive client connection (an idle HTTP/2 session too) stays open, milliseconds or `ms` notation. @default 72000 */
  keepAliveTimeout?: Duration;
  /**
   * Terminate TLS on the gateway's port: the certificate and key files are read at start-up and
   * again whenever they change (or on SIGHUP), without a restart. @default none (plain HTTP)
   */
  tls?: ServerTlsOptions;
  /**
   * Also speak HTTP/2 on the same port as HTTP/1.1: negotiated by ALPN with `tls`, and as h2c
   * with prior knowledge (the connection preface) without it. @default false
   */
  http2?: boolean;
}

/** The TLS versions the gateway may accept at the least; 1.0 and 1.1 are never accepted. */
export const TLS_MIN_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;

/** The gateway's own certificate. */
export interface ServerTlsOptions {
  /** The certificate chain file (PEM), the server's certificate first. */
  cert: string;
  /** The private key file (PEM) of that certificate. */
  key: string;
  /** The oldest TLS version accepted. @default 'TLSv1.2' */
  minVersion?: (typeof TLS_MIN_VERSIONS)[number];
}

/** The Prometheus endpoint. */
export interface MetricsOptions {
  /** Where the gateway answers it. @default '/metrics' */
  path?: string;
  /**
   * Peers (addresses or CIDR subnets, by the connection's own address, never a forwarded one)
   * that may read it; others get 404. @default ['127.0.0.0/8', '::1']
   */
  allow?: string[];
}

/** The operator page, the gateway's own (never forwarded). */
export interface DashboardOptions {
  /**
   * Where the page answers, ending in `/`; its data is at `<path>api/state` (JSON) and
   * `<path>api/events` (server-sent events). Matched before any route. @default '/_gateway/'
   */
  path?: string;
  /**
   * Peers (addresses or CIDR subnets, by the connection's own address, never a forwarded one)
   * that may open it; others get 404. @default ['127.0.0.0/8', '::1']
   */
  allow?: string[];
  /**
   * A secret of at least 16 characters the page asks for: `Authorization: Bearer <token>`, or as
   * the password of Basic auth (any user name); env `GATEWAY_DASHBOARD_TOKEN` overrides it.
   * @default none: the allowed peers need no token
   */
  token?: string;
  /** How often the page's figures are sent, milliseconds or `ms` notation, at least 100 ms. @default '1s' */
  refresh?: Duration;
}

/** Options of `GatewayModule.forRoot` and of the config file (which has no functions). */
export interface GatewayOptions {
  /** The routes, matched by prefix. Required. */
  routes: RouteOptions[];
  /** Client addresses and CIDRs allowed on every route; anyone else gets 403. @default everyone */
  allow?: string[];
  /** Client addresses and CIDRs refused with 403 on every route. @default [] */
  deny?: string[];
  /** Default `pathRegex` of every route. @default '/*' */
  pathRegex?: string;
  /** Middlewares run for every gateway route, before the route's own. @default [] */
  middlewares?: MiddlewareOption[];
  /** Response cache; off when absent. */
  cache?: CacheOptions;
  /** Most upgraded (WebSocket) connections one process holds, handshakes included; further upgrades get 503. @default 10000 */
  websocketMaxConnections?: number;
  /** Longest URL (path and query) a gateway route accepts; longer ones get 414. @default 8192 */
  maxUrlLength?: number;
  /**
   * The health endpoints (`{}` for both at their default paths), or `false` for none. A host app
   * asks for them; a config file (the standalone server) has them unless it says `false`.
   * @default false in a host app; `{ liveness: '/health', readiness: '/ready' }` in a config file
   */
  health?: HealthOptions | false;
  /** Standalone server settings. */
  server?: ServerOptions;
  /** With supervised workers (`GATEWAY_WORKERS` set), reload when this file changes, as on SIGHUP. @default false */
  watch?: boolean;
  /**
   * Prometheus metrics at `path` (`{}` for `/metrics`), answered by the gateway itself, or `false`
   * for none. A host app asks for them; a config file has them unless it says `false`.
   * @default false in a host app; `{ path: '/metrics' }` in a config file
   */
  metrics?: MetricsOptions | false;
  /**
   * An operator page at `path` (`{}` for `/_gateway/`): routes, targets and their state, traffic,
   * errors, latency, the cache's hit ratio, live. Off unless set. @default false
   */
  dashboard?: DashboardOptions | false;
  /** A JSON list of the routes (prefix, methods, target) at `path`; off unless set. @default false */
  routeListing?: { path?: string } | false;
  /** OpenTelemetry traces of every request and every attempt to a service, exported over OTLP/HTTP; off unless set. */
  tracing?: TracingOptions;
  /** One JSON line per request at level `info`: id, method, URL, route, target, status, ms, cache, bytes. @default true */
  accessLog?: boolean;
  /**
   * Requests that match no route get the gateway's own 404, with an access line and metrics
   * under route `-` (as a method a route does not allow always gets 405 with `Allow`). Off in a
   * host app, whose own 404 stays. @default false in a host app; true in a config file
   */
  answerUnmatched?: boolean;
  /** In code only: the pino logger to write to. @default a new one on stdout at `LOG_LEVEL` */
  logger?: Logger;
}

/** Where and how the gateway exports its traces. Unset fields fall back to the standard `OTEL_*` environment variables. */
export interface TracingOptions {
  /** The collector's traces URL. @default OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT + '/v1/traces', else http://localhost:4318/v1/traces */
  otlpUrl?: string;
  /** @default OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL, else 'http/protobuf' */
  protocol?: 'http/protobuf' | 'http/json';
  /** Share of the traces the gateway starts that it records, 0 to 1; a caller's sampled flag is followed. @default 1 */
  sampleRatio?: number;
  /** @default OTEL_SERVICE_NAME, else 'nest-gateway' */
  serviceName?: string;
  /** Headers sent to the collector (e.g. `authorization`). @default OTEL_EXPORTER_OTLP_HEADERS */
  headers?: Record<string, string>;
  /** How often finished spans are sent. @default '1s' */
  exportInterval?: Duration;
  /** Longest an export may take before it is given up. @default '10s' */
  exportTimeout?: Duration;
  /** Most finished spans waiting for export; past it, spans are dropped and counted. @default 2048 */
  maxQueueSize?: number;
}
