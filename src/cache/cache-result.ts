import type { ServerResponse } from 'node:http';
import { X_CACHE } from '../gateway.constants.js';

/** Set on a response written whole from the cache, whose head never went through `setHeader`. */
const SERVED_FROM_CACHE = Symbol('nest-gateway.served-from-cache');
type MarkedResponse = ServerResponse & { [SERVED_FROM_CACHE]?: true };

export function markServedFromCache(res: ServerResponse): void {
  (res as MarkedResponse)[SERVED_FROM_CACHE] = true;
}

/** HIT, MISS or BYPASS for a response of a cached route; undefined for any other. */
export function cacheResultOf(res: ServerResponse): string | undefined {
  return (res as MarkedResponse)[SERVED_FROM_CACHE] ? 'HIT' : (res.getHeader(X_CACHE) as string | undefined);
}
