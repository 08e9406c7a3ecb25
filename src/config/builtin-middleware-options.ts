import { z } from 'zod';
import { closedObject } from './schema-parts.js';

const stringOrList = z.union([z.string(), z.array(z.string())]);

/** Options of the built-in `basicAuth` middleware. */
export const basicAuthOptionsSchema = closedObject({
  /** Accepted user names and their passwords. */
  users: z.record(z.string().min(1), z.string().min(1)).refine((users) => Object.keys(users).length > 0, {
    message: 'expected at least one user',
  }),
  /** Realm announced in `WWW-Authenticate`. @default 'Authorization Required' */
  realm: z.string().optional(),
});

/** Options of the built-in `cors` middleware: those of the `cors` package that fit in a file. */
export const corsOptionsSchema = closedObject({
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

export type BasicAuthOptions = z.infer<typeof basicAuthOptionsSchema>;
export type CorsOptions = z.infer<typeof corsOptionsSchema>;

/**
 * The options schema of each middleware a config can name in `{ use, options }`: the config
 * checks them with the rest of the file, so `validate` and a reload refuse what a start would.
 */
export const BUILTIN_MIDDLEWARE_OPTIONS = {
  basicAuth: basicAuthOptionsSchema,
  cors: corsOptionsSchema,
} as const;

export type BuiltinMiddlewareName = keyof typeof BUILTIN_MIDDLEWARE_OPTIONS;
