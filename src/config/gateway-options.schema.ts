import { isIP } from 'node:net';
import { z } from 'zod';
import { HTTP_METHODS } from '../gateway.constants.js';
import { BUILTIN_MIDDLEWARE_OPTIONS } from './builtin-middleware-options.js';
import { findRouteConflicts } from './route-conflicts.js';
import { closedObject, didYouMean, duration, size } from './schema-parts.js';
import { type ResolvedGatewayOptions, resolveGatewayOptions } from './resolve-options.js';
import { type GatewayOptions, RETRY_CONDITIONS } from './gateway-options.interface.js';

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
  redisUrl: z.string().regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL').optional(),
  namespace: z.string().min(1).regex(/^[^*?\s]+$/, 'expected no spaces or glob characters').optional(),
  maxEntries: z.number().int().positive().optional(),
  maxBytes: size().optional(),
  maxEntryBytes: size().optional(),
  respectCacheControl: z.boolean().optional(),
  coalesceWait: duration(0).optional(),
  expireScope: z.enum(['global', 'route']).optional(),
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
    dropRequestHeaders: z.array(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected a header name')).optional(),
    websocket: z.boolean().optional(),
    websocketIdleTimeout: duration().optional(),
    middlewares: z.array(middleware).optional(),
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
      if (value.hashOn !== undefined && value.balance !== 'consistent-hash') {
        context.addIssue({ code: 'custom', path: ['hashOn'], message: "only with balance: 'consistent-hash'" });
      }
    });
  return closedObject({
    routes: z.array(route).min(1),
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
    ...(allowFunctions ? { logger: z.custom<object>(isPinoLogger, 'expected a pino logger').optional() } : {}),
  });
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
  if (!result.success) {
    throw new GatewayConfigError(
      source,
      withoutMissesOfTypos(result.error.issues, input).map((issue) => `${formatFieldPath(issue.path) || '(root)'}: ${issue.message}`),
    );
  }
  const options = result.data as GatewayOptions;
  const resolved = resolveGatewayOptions(options);
  const issues = findRouteConflicts(resolved);
  if (resolved.cache?.store === 'redis' && !resolved.cache.redisUrl) {
    issues.push('cache.redisUrl: required by the redis store (or set REDIS_URL for the standalone gateway)');
  }
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
