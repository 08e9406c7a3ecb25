import type {
  ConnectMiddleware,
  GatewayOptions,
  HttpMethod,
  OnRequestHook,
  OnResponseHook,
} from '../config/gateway-options.interface.js';
import {
  DEFAULT_BODY_LIMIT_BYTES,
  DEFAULT_PATH_REGEX,
  DEFAULT_PREFIX_REWRITE,
  DEFAULT_TIMEOUT_MS,
  HTTP_METHODS,
} from '../gateway.constants.js';
import { resolveMiddleware } from '../middleware/index.js';
import type { ForwardTarget } from '../proxy/index.js';
import { createUrlRewriter, toRoutePaths } from './path-pattern.js';

/** A route with every default filled in and everything the request path needs precomputed. */
export interface CompiledRoute {
  /** Position in `routes`, used to name its controller. */
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
  forward: ForwardTarget;
}

/** Resolves validated options into routes. Pure: the same for `forRoot` and `forRootAsync`. */
export function compileRoutes(options: GatewayOptions): CompiledRoute[] {
  const globalMiddlewares = (options.middlewares ?? []).map((middleware, index) =>
    resolveMiddleware(middleware, ['middlewares', index]),
  );
  const defaultPathRegex = options.pathRegex ?? DEFAULT_PATH_REGEX;

  return options.routes.map((route, index) => {
    const paths = toRoutePaths(route.prefix, route.pathRegex ?? defaultPathRegex);
    const methods = route.methods ? HTTP_METHODS.filter((method) => route.methods!.includes(method)) : [...HTTP_METHODS];
    const routeMiddlewares = (route.middlewares ?? []).map((middleware, position) =>
      resolveMiddleware(middleware, ['routes', index, 'middlewares', position]),
    );
    return {
      index,
      prefix: route.prefix,
      paths,
      methods,
      middlewares: [...globalMiddlewares, ...routeMiddlewares],
      onRequest: route.hooks?.onRequest,
      onResponse: route.hooks?.onResponse,
      cached: options.cache !== undefined,
      forward: {
        target: new URL(route.target),
        rewriteUrl: createUrlRewriter(route.prefix, route.prefixRewrite ?? DEFAULT_PREFIX_REWRITE),
        bodyLimit: route.bodyLimit ?? DEFAULT_BODY_LIMIT_BYTES,
        timeout: route.timeout ?? DEFAULT_TIMEOUT_MS,
      },
    };
  });
}
