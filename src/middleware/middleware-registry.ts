import type { ConnectMiddleware, MiddlewareOption } from '../config/gateway-options.interface.js';
import type { BuiltinMiddlewareName } from '../config/builtin-middleware-options.js';
import { createBasicAuth } from './builtin/basic-auth.js';
import { createCors } from './builtin/cors.js';

/** How each middleware a config file can name is built from its (validated) options. */
const BUILTIN_MIDDLEWARES: Record<BuiltinMiddlewareName, (options: never) => ConnectMiddleware> = {
  basicAuth: createBasicAuth,
  cors: createCors,
};

/**
 * Turns a validated middleware option into a connect function: functions pass through, names
 * are built-ins whose options the config schema has checked.
 */
export function resolveMiddleware(option: MiddlewareOption): ConnectMiddleware {
  if (typeof option === 'function') return option;
  const create = BUILTIN_MIDDLEWARES[option.use as BuiltinMiddlewareName] as (options: unknown) => ConnectMiddleware;
  return create(option.options ?? {});
}
