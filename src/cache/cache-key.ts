import type { IncomingMessage } from 'node:http';

/** What a middleware may set on the request to steer the cache. */
export interface CacheDirectives {
  /** Skips the cache for this request. */
  cacheDisabled?: boolean;
  /** Extends the key, e.g. with the user id, so users do not share entries. */
  cacheAppendKey?: (req: IncomingMessage) => string;
}

export type CacheAwareRequest = IncomingMessage & CacheDirectives;

/**
 * `method + url` (the client's full URL, query included), plus what `cacheAppendKey` adds.
 * HEAD reads the GET entry: it is the same response without its body.
 */
export function buildCacheKey(req: CacheAwareRequest, originalUrl: string): string {
  const key = (req.method === 'HEAD' ? 'GET' : req.method) + originalUrl;
  return req.cacheAppendKey ? key + req.cacheAppendKey(req) : key;
}
