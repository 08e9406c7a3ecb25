/** Injection token of the validated {@link GatewayOptions}. */
export const GATEWAY_OPTIONS = 'GATEWAY:OPTIONS';
/** Injection token of the options once validated (defaults of `forRootAsync` factories applied). */
export const GATEWAY_VALIDATED_OPTIONS = 'GATEWAY:VALIDATED_OPTIONS';
/** Injection token of the routes compiled from the options. */
export const GATEWAY_ROUTES = 'GATEWAY:ROUTES';

/** Injection token of the gateway's Prometheus metrics. */
export const GATEWAY_METRICS = 'GATEWAY:METRICS';
export const DEFAULT_METRICS_PATH = '/metrics';
/** Who may read the metrics unless told otherwise: the machine itself. */
export const DEFAULT_METRICS_ALLOW = ['127.0.0.0/8', '::1'] as const;
/** Where fast-gateway users find the route list. */
export const DEFAULT_ROUTE_LISTING_PATH = '/services.json';
/** Injection token of the gateway's pino logger. */
export const GATEWAY_LOGGER = 'GATEWAY:LOGGER';

export const DEFAULT_PATH_REGEX = '/*';
export const DEFAULT_PREFIX_REWRITE = '';
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;
export const DEFAULT_TIMEOUT_MS = 30_000;
/** Per route: enough for busy services, a bound for clients that would hold connections open. */
export const DEFAULT_MAX_CONNECTIONS = 256;
export const DEFAULT_REQUEST_BODY_TIMEOUT_MS = 30_000;
/** Idle connections to targets: below what services commonly close them at. */
export const DEFAULT_UPSTREAM_KEEP_ALIVE_MS = 1000;
export const DEFAULT_HEALTH_CHECK_INTERVAL = '5s';
export const DEFAULT_HEALTH_CHECK_TIMEOUT = '1s';
/** Retries may add at most this share of a route's requests (Envoy's retry budget). */
export const DEFAULT_RETRY_BUDGET = 0.2;
export const DEFAULT_HEALTH_PATHS = { liveness: '/health', readiness: '/ready' } as const;
/** Nothing is assumed to route by readiness: the drain starts at the signal unless told to wait. */
export const DEFAULT_DRAIN_DELAY_MS = 0;
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;
/** TLS 1.0 and 1.1 are broken (RFC 8996); 1.2 is what clients that cannot do 1.3 still speak. */
export const DEFAULT_TLS_MIN_VERSION = 'TLSv1.2';
/** Well under Node's 60 s: a slow client holds a socket only this long before it has sent its headers. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
/** Node's own default: a whole request, body included, in 5 minutes. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 300_000;
/** Longer than the 60 s idle timeout of common load balancers, so they close first. */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 72_000;
/** A WebSocket connection with no frame either way for this long is closed: 10 minutes. */
export const DEFAULT_WEBSOCKET_IDLE_TIMEOUT_MS = 10 * 60_000;
/** Upgraded connections one gateway process holds at most; further upgrades get 503. */
export const DEFAULT_WEBSOCKET_MAX_CONNECTIONS = 10_000;
/** As nginx's default `large_client_header_buffers`: longer URLs get 414. */
export const DEFAULT_MAX_URL_LENGTH = 8 * 1024;

export const HTTP_METHODS = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
] as const;

export const DEFAULT_CACHE_NAMESPACE = 'nest-gateway';
export const DEFAULT_CACHE_PURGE_PATH = '/_gateway/cache/purge';
export const DEFAULT_CACHE_MAX_ENTRIES = 10_000;
/** Redis holds what every gateway process shares; expiry by pattern scans its index (~2.5 µs an entry, in Redis). */
export const DEFAULT_REDIS_MAX_ENTRIES = 100_000;
export const DEFAULT_CACHE_MAX_BYTES = 64 * 1024 * 1024;
export const DEFAULT_CACHE_MAX_ENTRY_BYTES = 1024 * 1024;
export const DEFAULT_CACHE_COALESCE_WAIT_MS = 2000;
/**
 * How long a URL whose response could not be stored skips miss coalescing ("hit-for-pass"), so
 * that concurrent requests for an uncacheable URL do not queue behind one another.
 */
export const CACHE_PASS_MEMORY_MS = 5_000;
/** Most URLs remembered as uncacheable at once, and most characters of their keys in all. */
export const CACHE_PASS_MEMORY_ENTRIES = 10_000;
export const CACHE_PASS_MEMORY_CHARS = 1024 * 1024;
/** Shortest interval between two warnings about the same cache store failure. */
export const CACHE_WARNING_INTERVAL_MS = 30_000;
/** Shortest interval between two warnings about failed upstream exchanges. */
export const UPSTREAM_WARNING_INTERVAL_MS = 10_000;
/** Longest the gateway's start waits for the cache store to connect. */
export const CACHE_CONNECT_WAIT_MS = 2000;
/** Longest a request waits for a cache read before it is proxied as a miss. */
export const CACHE_READ_WAIT_MS = 500;
/** Longest a response waits for its entry to be stored (or for an expiry) before it completes anyway: no longer than a read. */
export const CACHE_WRITE_WAIT_MS = CACHE_READ_WAIT_MS;
/** Store operations in a row past their deadline after which the cache skips the store. */
export const CACHE_SKIP_AFTER_TIMEOUTS = 3;
/** How often a skipped store is probed; the first answer in time ends the skip. */
export const CACHE_PROBE_INTERVAL_MS = 1000;

export const X_CACHE_TIMEOUT = 'x-cache-timeout';
export const X_CACHE_EXPIRE = 'x-cache-expire';
export const X_CACHE_STALE = 'x-cache-stale';
export const X_CACHE_TAGS = 'x-cache-tags';
export const X_CACHE_EXPIRE_TAGS = 'x-cache-expire-tags';
/** What services tell the gateway's cache: the gateway's to read, never the client's. */
export const CACHE_DIRECTIVE_HEADERS = [X_CACHE_TIMEOUT, X_CACHE_EXPIRE, X_CACHE_STALE, X_CACHE_TAGS, X_CACHE_EXPIRE_TAGS] as const;
export const X_CACHE = 'x-cache';
export const X_CACHE_HIT = 'x-cache-hit';

/** Injection token of the store behind the response cache. */
export const RESPONSE_STORE = 'GATEWAY:RESPONSE_STORE';
/** Injection token of the tracer; undefined when tracing is off. */
export const GATEWAY_TRACER = 'GATEWAY:TRACER';
/** Injection token of what health and metrics read of the cache (`StoreStats`). */
export const STORE_STATS = 'GATEWAY:STORE_STATS';
/** Injection token of the cache options (empty when the cache is off). */
export const GATEWAY_CACHE_OPTIONS = 'GATEWAY:CACHE_OPTIONS';

/** The request id header: kept from the client when sane, sent to the service and on every answer. */
export const X_REQUEST_ID = 'x-request-id';

/** Where a route's API key comes unless told otherwise. */
export const DEFAULT_API_KEY_HEADER = 'x-api-key';
/** Least time between two fetches of an issuer's key set. */
export const DEFAULT_JWKS_COOLDOWN = '30s';
/** How long an issuer's key set is used before it is fetched again. */
export const DEFAULT_JWKS_MAX_AGE = '10m';
export const DEFAULT_JWKS_TIMEOUT = '5s';
