import type { IncomingMessage } from 'node:http';
import type { CacheAwareRequest } from './cache-key.js';

/** A request as the gateway's middlewares see it, with what they may tell the response cache. */
export type GatewayRequest = CacheAwareRequest;

/** Skips the response cache for this request: it is neither answered from the cache nor stored. */
export function disableCache(req: IncomingMessage): void {
  (req as GatewayRequest).cacheDisabled = true;
}

/** Extends this request's cache key with what `appendKey` returns, e.g. the user id: users then do not share entries. */
export function appendCacheKey(req: IncomingMessage, appendKey: (req: IncomingMessage) => string): void {
  (req as GatewayRequest).cacheAppendKey = appendKey;
}
