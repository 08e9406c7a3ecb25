import { isIP } from 'node:net';
import { z } from 'zod';
import { HTTP_METHODS } from '../gateway.constants.js';
import { isGatewayOwnedHeader } from '../proxy/upstream-headers.js';
import { BUILTIN_MIDDLEWARE_OPTIONS } from './builtin-middleware-options.js';
import { findRouteConflicts } from './route-conflicts.js';
import { grpcRouteIssues, readUpstreamTls, requireHttp2ForGrpc, routeTargetUrls } from './route-protocols.js';
import { closedObject, didYouMean, duration, size } from './schema-parts.js';
import { rateLimitName, type ResolvedGatewayOptions, resolveGatewayOptions } from './resolve-options.js';
import { type GatewayOptions, RETRY_CONDITIONS, TLS_MIN_VERSIONS } from './gateway-options.interface.js';

const isFunction = (value: unknown): value is (...args: never[]) => unknown =>
  typeof value === 'function';
const isPinoLogger = (value: unknown) =>
  typeof value === 'object' && value !== null && typeof (value as { isLevelEnabled?: unknown }).isLevelEnabled === 'function';
const fn = () => z.custom<(...args: never[]) => unknown>(isFunction, 'expected a function');

const httpUrl = z
  .string()
  .refine((value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol), {
    message: 'expected an http:// or https:// URL',
  })
  // Credentials in a target would be shown wherever the target is (access lines, metric
  // labels, errors) and would never be sent: undici does not turn them into a header.
  .refine((value) => !URL.canParse(value) || (new URL(value).username === '' && new URL(value).password === ''), {
    message: 'expected no user:password@ in a target; send credentials as a header (e.g. a middleware setting authorization)',
  });

const urlPath = z
  .string()
  .regex(/^\/[^?#\s]*$/, "expected a path starting with '/', without query or spaces");

const addressOrSubnet = z.string().refine(
  (value) => {
    const [address, bits, ...rest] = value.split('/');
    const family = isIP(address);
    if (family === 0 || rest.length > 0) return false;
    return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
  },
  { message: 'expected an IP address or a CIDR subnet (10.0.0.0/8, fd00::/8)' },
);

const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected a header name');
const redisUrl = z.string().regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL');
const addressList = z.array(addressOrSubnet);

const rateLimit = closedObject({
  limit: z.number().int().positive(),
  window: duration(),
  by: z
    .string()
    .regex(/^(header:[!#$%&'*+.^_`|~0-9A-Za-z-]+|cookie:[^\s;=]+|jwt:[^\s]+|ip)$/, "expected 'ip', 'header:<name>', 'cookie:<name>' or 'jwt:<claim>'")
    .optional(),
  burst: z.number().int().positive().optional(),
  name: z.string().regex(/^[A-Za-z][\w-]*$/, 'expected a token such as per-user').optional(),
  store: z.enum(['memory', 'redis']).optional(),
  redisUrl: redisUrl.optional(),
  onRedisDown: z.enum(['local', 'open', 'closed']).optional(),
});

// Asymmetric only: a shared (HS*) secret would have to sit in the gateway's config, and whoever
// reads it could mint tokens; `none` is no signature at all.
const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
// A claim may not be forwarded as a header the gateway owns (hop-by-hop, framing, addressing,
// `x-forwarded-*`), nor as the client's credentials.
const isReservedForClaims = (name: string) => isGatewayOwnedHeader(name) || name === 'authorization' || name === 'cookie';
const oneOrMore = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);
const jwtAuth = closedObject({
  jwks: closedObject({ url: httpUrl, cooldown: duration().optional(), maxAge: duration().optional(), timeout: duration().optional() }),
  issuer: oneOrMore.optional(),
  audience: oneOrMore.optional(),
  algorithms: z
    .array(z.string().refine((name) => (JWT_ALGORITHMS as readonly string[]).includes(name), { message: `expected one of ${JWT_ALGORITHMS.join(', ')} ('none' and HS* are refused)` }))
    .min(1),
  clockTolerance: duration(0).optional(),
  forwardClaims: z
    .record(
      z.string().min(1),
      headerName.refine((name) => !isReservedForClaims(name.toLowerCase()), {
        message: 'expected a header of the request the gateway does not frame, address or set itself',
      }),
    )
    .optional(),
});
const apiKeyAuth = closedObject({
  header: headerName.optional(),
  keys: z
    .record(z.string().min(1), z.string().min(16, 'expected a key of at least 16 characters'))
    .refine((keys) => Object.keys(keys).length > 0, { message: 'expected at least one key' })
    .refine((keys) => new Set(Object.values(keys)).size === Object.keys(keys).length, { message: 'expected a different key for each name' }),
});
const auth = closedObject({ jwt: jwtAuth.optional(), apiKey: apiKeyAuth.optional() })
  .refine((value) => (value.jwt === undefined) !== (value.apiKey === undefined), { message: 'expected exactly one of jwt and apiKey' });

const weightedTarget = z.union([httpUrl, closedObject({ url: httpUrl, weight: z.number().int().positive().optional() })]);

const hashOn = z.string().regex(/^(header:[!#$%&'*+.^_`|~0-9A-Za-z-]+|cookie:[^\s;=]+|ip)$/, "expected 'header:<name>', 'cookie:<name>' or 'ip'");

const healthCheck = closedObject({
  path: urlPath,
  interval: duration().optional(),
  timeout: duration().optional(),
  unhealthyThreshold: z.number().int().positive().optional(),
  healthyThreshold: z.number().int().positive().optional(),
});

const retries = z.union([
  z.number().int().nonnegative(),
  closedObject({
    attempts: z.number().int().nonnegative(),
    on: z.array(z.enum(RETRY_CONDITIONS)).optional(),
    budget: z.number().min(0).max(1).optional(),
  }),
]);

const circuitBreaker = closedObject({
  maxPending: z.number().int().positive().optional(),
  errorRate: z.number().gt(0).max(1).optional(),
  minRequests: z.number().int().positive().optional(),
  cooldown: duration().optional(),
  probes: z.number().int().positive().optional(),
});

const upstreamTls = closedObject({
  ca: z.string().min(1).optional(),
  cert: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  servername: z.string().regex(/^[A-Za-z0-9.-]+$/, 'expected a host name').optional(),
}).refine((tls) => (tls.cert === undefined) === (tls.key === undefined), { message: 'expected both cert and key, or neither' });

const builtinNames = Object.keys(BUILTIN_MIDDLEWARE_OPTIONS);

/** A built-in middleware by name, its options checked by that middleware's own schema. */
const middlewareSpec = closedObject({
  use: z.string().min(1),
  options: z.record(z.string(), z.unknown()).optional(),
}).superRefine((spec, context) => {
  if (!Object.hasOwn(BUILTIN_MIDDLEWARE_OPTIONS, spec.use)) {
    context.addIssue({
      code: 'custom',
      path: ['use'],
      message: `unknown middleware '${spec.use}'${didYouMean(spec.use, builtinNames)} (built-in: ${builtinNames.join(', ')})`,
    });
    return;
  }
  const parsed = BUILTIN_MIDDLEWARE_OPTIONS[spec.use as keyof typeof BUILTIN_MIDDLEWARE_OPTIONS].safeParse(spec.options ?? {});
  for (const issue of parsed.error?.issues ?? []) context.addIssue({ code: 'custom', path: ['options', ...issue.path], message: issue.message });
});

const cacheOptions = closedObject({
  store: z.enum(['memory', 'redis']).optional(),
  redisUrl: redisUrl.optional(),
  namespace: z.string().min(1).regex(/^[^*?\s]+$/, 'expected no spaces or glob characters').optional(),
  maxEntries: z.number().int().positive().optional(),
  maxBytes: size().optional(),
  maxEntryBytes: size().optional(),
  respectCacheControl: z.boolean().optional(),
  coalesceWait: duration(0).optional(),
  expireScope: z.enum(['global', 'route']).optional(),
  purge: closedObject({ token: z.string().min(16, 'expected a token of at least 16 characters'), path: urlPath.optional() }).optional(),
});

const tracingOptions = closedObject({
  otlpUrl: httpUrl.optional(),
  protocol: z.enum(['http/protobuf', 'http/json']).optional(),
  sampleRatio: z.number().min(0).max(1).optional(),
  serviceName: z.string().min(1).optional(),
  headers: z.record(z.string().min(1), z.string()).optional(),
  exportInterval: duration().optional(),
  exportTimeout: duration().optional(),
  maxQueueSize: z.number().int().positive().optional(),
});

/** A page's path: segments, and a `/` at the end (its data is at `<path>api/...`). */
const pagePath = z.string().regex(/^(\/[^/?#\s]+)+\/$/, "expected a path ending in '/', such as /_gateway/, without query or spaces");
const MIN_DASHBOARD_REFRESH_MS = 100;

const dashboardOptions = closedObject({
  path: pagePath.optional(),
  allow: z.array(addressOrSubnet).min(1).optional(),
  token: z.string().min(16, 'expected a token of at least 16 characters').optional(),
  refresh: duration()
    .refine((milliseconds) => milliseconds >= MIN_DASHBOARD_REFRESH_MS, `expected at least ${MIN_DASHBOARD_REFRESH_MS} ms`)
    .optional(),
});

const healthOptions = z.union([
  z.literal(false),
  closedObject({ liveness: z.union([urlPath, z.literal(false)]).optional(), readiness: z.union([urlPath, z.literal(false)]).optional(), requireCache: z.boolean().optional(), requireTargets: z.boolean().optional() }),
]);

const serverOptions = closedObject({
  trustProxy: z.union([z.boolean(), z.string().min(1), z.array(z.string().min(1))]).optional(),
  drainDelay: duration(0).optional(),
  shutdownGracePeriod: duration(0).optional(),
  headersTimeout: duration().optional(),
  requestTimeout: duration(0).optional(),
  keepAliveTimeout: duration().optional(),
  tls: closedObject({
    cert: z.string().min(1, 'expected the path of a PEM certificate file'),
    key: z.string().min(1, 'expected the path of a PEM private key file'),
    minVersion: z.enum(TLS_MIN_VERSIONS, { error: `expected ${TLS_MIN_VERSIONS.join(' or ')} (TLS 1.0 and 1.1 are never accepted)` }).optional(),
  }).optional(),
  http2: z.boolean().optional(),
});

function buildSchema(allowFunctions: boolean) {
  const middleware = allowFunctions ? z.union([fn(), middlewareSpec]) : middlewareSpec;
  const route = closedObject({
    prefix: urlPath,
    target: httpUrl.optional(),
    targets: z.array(weightedTarget).min(1, 'expected at least one target').optional(),
    balance: z.enum(['round-robin', 'least-request', 'consistent-hash']).optional(),
    hashOn: hashOn.optional(),
    healthCheck: healthCheck.optional(),
    retries: retries.optional(),
    circuitBreaker: circuitBreaker.optional(),
    outlierDetection: z
      .strictObject({
        failures: z.number().int().positive().optional(),
        ejectionTime: duration().optional(),
        maxEjectedShare: z.number().min(0).max(1).optional(),
      })
      .optional(),
    discovery: z
      .strictObject({
        type: z.literal('dns'),
        interval: duration().optional(),
        servers: z.array(z.string().regex(/^[\w.:[\]-]+$/, 'expected a host or host:port')).min(1).optional(),
      })
      .optional(),
    prefixRewrite: z.union([z.literal(''), urlPath]).optional(),
    pathRegex: z.string().optional(),
    methods: z
      .array(z.string().transform((method) => method.toUpperCase()).pipe(z.enum(HTTP_METHODS)))
      .min(1)
      .optional(),
    bodyLimit: size(0).optional(),
    timeout: duration().optional(),
    maxConnections: z.number().int().positive().optional(),
    requestBodyTimeout: duration().optional(),
    keepAliveTimeout: duration().optional(),
    dropRequestHeaders: z.array(headerName).optional(),
    websocket: z.boolean().optional(),
    websocketIdleTimeout: duration().optional(),
    middlewares: z.array(middleware).optional(),
    allow: addressList.optional(),
    deny: addressList.optional(),
    rateLimit: z.union([rateLimit, z.array(rateLimit).min(1)]).optional(),
    auth: auth.optional(),
    tls: upstreamTls.optional(),
    protocol: z.enum(['http', 'grpc']).optional(),
    ...(allowFunctions
      ? {
          hooks: z
            .strictObject({ onRequest: fn().optional(), onResponse: fn().optional() })
            .optional(),
        }
      : {}),
  })
    .superRefine((value, context) => {
      if ((value.target === undefined) === (value.targets === undefined)) {
        context.addIssue({ code: 'custom', path: value.target === undefined ? ['target'] : ['targets'], message: 'expected exactly one of target and targets' });
      }
      for (const issue of grpcRouteIssues(value)) context.addIssue({ code: 'custom', ...issue });
      if (value.tls !== undefined && routeTargetUrls(value).some((url) => !url.startsWith('https:'))) {
        context.addIssue({ code: 'custom', path: ['tls'], message: 'only with https:// targets' });
      }
      if (value.hashOn !== undefined && value.balance !== 'consistent-hash') {
        context.addIssue({ code: 'custom', path: ['hashOn'], message: "only with balance: 'consistent-hash'" });
      }
      const limits = Array.isArray(value.rateLimit) ? value.rateLimit : value.rateLimit ? [value.rateLimit] : [];
      limits.forEach((limit, position) => {
        const path = Array.isArray(value.rateLimit) ? ['rateLimit', position] : ['rateLimit'];
        if (limit.by?.startsWith('jwt:') && !value.auth?.jwt) context.addIssue({ code: 'custom', path: [...path, 'by'], message: 'counting by a claim needs auth.jwt on the route' });
      });
      const names = limits.map((limit) => rateLimitName(limit, limits.length));
      if (new Set(names).size < names.length) context.addIssue({ code: 'custom', path: ['rateLimit'], message: `expected a different name for each limit (give each a name); got ${names.join(', ')}` });
    });
  const gateway = closedObject({
    routes: z.array(route).min(1),
    allow: addressList.optional(),
    deny: addressList.optional(),
    pathRegex: z.string().optional(),
    middlewares: z.array(middleware).optional(),
    cache: cacheOptions.optional(),
    maxUrlLength: z.number().int().positive().optional(),
    websocketMaxConnections: z.number().int().positive().optional(),
    health: healthOptions.optional(),
    server: serverOptions.optional(),
    accessLog: z.boolean().optional(),
    answerUnmatched: z.boolean().optional(),
    watch: z.boolean().optional(),
    metrics: z
      .union([z.literal(false), closedObject({ path: urlPath.optional(), allow: z.array(addressOrSubnet).min(1).optional() })])
      .optional(),
    routeListing: z.union([z.literal(false), closedObject({ path: urlPath.optional() })]).optional(),
    tracing: tracingOptions.optional(),
    dashboard: z.union([z.literal(false), dashboardOptions]).optional(),
    ...(allowFunctions ? { logger: z.custom<object>(isPinoLogger, 'expected a pino logger').optional() } : {}),
  });
  // A file is the standalone server's: its gRPC routes need its listener to speak HTTP/2. In
  // code, the host app's adapter is the listener, and the gateway cannot see how it was made.
  return allowFunctions ? gateway : gateway.superRefine(requireHttp2ForGrpc);
}

const moduleOptionsSchema = buildSchema(true);
const fileOptionsSchema = buildSchema(false);

/** Thrown when options do not validate; `issues` name each field path and what is wrong. */
export class GatewayConfigError extends Error {
  constructor(
    readonly source: string,
    readonly issues: string[],
  ) {
    super(`Invalid gateway config in ${source}:\n  - ${issues.join('\n  - ')}`);
    this.name = 'GatewayConfigError';
  }
}

/** `['routes', 1, 'target']` → `routes[1].target`. */
export function formatFieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((text, key) => {
    if (typeof key === 'number') return `${text}[${key}]`;
    return text ? `${text}.${String(key)}` : String(key);
  }, '');
}

/**
 * One line per issue, `field.path: what is wrong`. Where a field takes one of several shapes (a
 * limit or a list of them), zod reports that none matched; the issues of the shape the value has
 * (the one branch not refused for its type, or as another literal, alone) say more, at their own paths.
 */
function describeIssues(issues: readonly z.core.$ZodIssue[], base: readonly PropertyKey[]): string[] {
  return issues.flatMap((issue) => {
    const path = [...base, ...issue.path];
    if (issue.code === 'invalid_union') {
      // A literal's branch (`false` for "off") refuses any other value whole, as a type does.
      const sameType = issue.errors.filter((branch) => !branch.some((inner) => (inner.code === 'invalid_type' || inner.code === 'invalid_value') && inner.path.length === 0));
      if (sameType.length === 1) return describeIssues(sameType[0], path);
    }
    return [`${formatFieldPath(path) || '(root)'}: ${issue.message}`];
  });
}

const SUGGESTED_KEY = /did you mean "([^"]+)"/g;

/**
 * A typo of a required key (`prefx`) is one issue, the unknown key with the known one it looks
 * like, not also "expected string, received undefined" (or any other issue) at the missing key.
 */
function withoutMissesOfTypos(issues: z.core.$ZodIssue[], input: unknown): z.core.$ZodIssue[] {
  const typoOf = new Set<string>();
  for (const issue of issues) {
    // Built-in middlewares' issues come through a refinement, as custom ones: read by their message.
    if (!issue.message.startsWith('Unrecognized key')) continue;
    const holder = issue.path.reduce<unknown>((value, key) => (value as Record<PropertyKey, unknown> | undefined)?.[key], input);
    for (const [, key] of issue.message.matchAll(SUGGESTED_KEY)) {
      if ((holder as Record<string, unknown>)[key] === undefined) typoOf.add(formatFieldPath([...issue.path, key]));
    }
  }
  return typoOf.size ? issues.filter((issue) => !typoOf.has(formatFieldPath(issue.path))) : issues;
}

function validate(schema: z.ZodType, input: unknown, source: string): GatewayOptions {
  const result = schema.safeParse(input);
  if (!result.success) throw new GatewayConfigError(source, describeIssues(withoutMissesOfTypos(result.error.issues, input), []));
  const options = result.data as GatewayOptions;
  const resolved = resolveGatewayOptions(options);
  const issues = findRouteConflicts(resolved);
  if (resolved.cache?.store === 'redis' && !resolved.cache.redisUrl) {
    issues.push('cache.redisUrl: required by the redis store (or set REDIS_URL for the standalone gateway)');
  }
  resolved.routes.forEach((route, index) => {
    if (route.tls) issues.push(...readUpstreamTls(route.tls, `routes[${index}].tls`).issues);
    const redisServers = new Set(route.rateLimits.filter((limit) => limit.store === 'redis').map((limit) => limit.redisUrl));
    if (redisServers.size > 1) issues.push(`routes[${index}].rateLimit: expected one Redis server for a route's limits (one round trip counts them all); got ${[...redisServers].join(', ')}`);
    route.rateLimits.forEach((limit, position) => {
      if (limit.store === 'redis' && !limit.redisUrl) {
        const path = Array.isArray(options.routes[index].rateLimit) ? `routes[${index}].rateLimit[${position}]` : `routes[${index}].rateLimit`;
        issues.push(`${path}.redisUrl: required by the redis store (or cache.redisUrl, or REDIS_URL for the standalone gateway)`);
      }
    });
  });
  if (issues.length) throw new GatewayConfigError(source, issues);
  return options;
}

/** Validates options given in code and fills every default: what the module runs on. */
export function resolveValidGatewayOptions(input: unknown, source?: string): ResolvedGatewayOptions {
  return resolveGatewayOptions(validateGatewayOptions(input, source));
}

/** Validates options given in code (functions allowed). */
export function validateGatewayOptions(input: unknown, source = 'GatewayModule options'): GatewayOptions {
  return validate(moduleOptionsSchema, input, source);
}

/**
 * What a config file has on unless it says otherwise: a file is the standalone server's, which
 * is the whole service at its port, where a host app asks for each of these in code.
 */
export const STANDALONE_DEFAULTS = { health: {}, metrics: {}, answerUnmatched: true } as const satisfies Partial<GatewayOptions>;

/** Validates options read from a config file (no functions: middlewares by name), with the standalone server's defaults. */
export function validateGatewayConfigFile(input: unknown, source: string): GatewayOptions {
  const withDefaults = typeof input === 'object' && input !== null && !Array.isArray(input) ? { ...STANDALONE_DEFAULTS, ...input } : input;
  return validate(fileOptionsSchema, withDefaults, source);
}
