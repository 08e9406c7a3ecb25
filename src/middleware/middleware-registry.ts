import type { z } from 'zod';
import type { ConnectMiddleware, MiddlewareOption } from '../config/gateway-options.interface.js';
import { GatewayConfigError, formatFieldPath } from '../config/gateway-options.schema.js';
import { basicAuthOptionsSchema, createBasicAuth } from './builtin/basic-auth.js';
import { corsOptionsSchema, createCors } from './builtin/cors.js';

interface BuiltinMiddleware<Schema extends z.ZodType> {
  schema: Schema;
  create: (options: z.infer<Schema>) => ConnectMiddleware;
}

const builtin = <Schema extends z.ZodType>(entry: BuiltinMiddleware<Schema>) => entry;

/** The middlewares a config file can name in `{ use, options }`. */
export const BUILTIN_MIDDLEWARES = {
  basicAuth: builtin({ schema: basicAuthOptionsSchema, create: createBasicAuth }),
  cors: builtin({ schema: corsOptionsSchema, create: createCors }),
} as const;

const builtinNames = Object.keys(BUILTIN_MIDDLEWARES).join(', ');

/**
 * Turns a middleware option into a connect function: functions pass through, names are looked
 * up among the built-ins and their options validated. `path` locates the option for errors.
 */
export function resolveMiddleware(option: MiddlewareOption, path: PropertyKey[]): ConnectMiddleware {
  if (typeof option === 'function') return option;
  const entry = BUILTIN_MIDDLEWARES[option.use as keyof typeof BUILTIN_MIDDLEWARES];
  if (!entry) {
    throw new GatewayConfigError('middlewares', [
      `${formatFieldPath([...path, 'use'])}: unknown middleware '${option.use}' (built-in: ${builtinNames})`,
    ]);
  }
  const parsed = entry.schema.safeParse(option.options ?? {});
  if (!parsed.success) {
    throw new GatewayConfigError(
      'middlewares',
      parsed.error.issues.map(
        (issue) => `${formatFieldPath([...path, 'options', ...issue.path])}: ${issue.message}`,
      ),
    );
  }
  return (entry.create as (options: unknown) => ConnectMiddleware)(parsed.data);
}
