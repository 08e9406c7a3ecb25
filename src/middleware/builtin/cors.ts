import cors from 'cors';
import { z } from 'zod';
import type { ConnectMiddleware } from '../../config/gateway-options.interface.js';

const stringOrList = z.union([z.string(), z.array(z.string())]);

/** Options of the built-in `cors` middleware: those of the `cors` package that fit in a file. */
export const corsOptionsSchema = z.strictObject({
  /** Allowed origins: `'*'`, one origin, a list, or `true` to reflect the request's origin. */
  origin: z.union([z.boolean(), stringOrList]).optional(),
  methods: stringOrList.optional(),
  allowedHeaders: stringOrList.optional(),
  exposedHeaders: stringOrList.optional(),
  credentials: z.boolean().optional(),
  /** Seconds a preflight answer may be cached. */
  maxAge: z.number().int().nonnegative().optional(),
  /** Pass preflight requests on to the service instead of answering them. @default false */
  preflightContinue: z.boolean().optional(),
  optionsSuccessStatus: z.number().int().optional(),
});

/** CORS headers and preflight answers, by the `cors` package. */
export function createCors(options: z.infer<typeof corsOptionsSchema>): ConnectMiddleware {
  return cors(options) as ConnectMiddleware;
}
