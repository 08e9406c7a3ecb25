import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * What a middleware may set on a request for the response cache (through `disableCache` and
 * `appendCacheKey`, or on a `GatewayRequest`).
 */
export interface CacheDirectives {
  /** Skips the cache for this request. */
  cacheDisabled?: boolean;
  /** Extends the key, e.g. with the user id, so users do not share entries. */
  cacheAppendKey?: (req: IncomingMessage) => string;
}

export type CacheAwareRequest = IncomingMessage & CacheDirectives;

/**
 * `method scheme://host+url` (the scheme and host the gateway forwards, then the client's full
 * URL, query included),
 * plus what `cacheAppendKey` adds, plus, when the request carries `authorization`, a digest of
 * it: an answer to one credential is never served to another, nor to anonymous requests. The
 * digest keeps credentials out of the store. The scheme and host are in the key because the
 * service sees them (`X-Forwarded-Proto`, `X-Forwarded-Host`) and builds answers from them: an
 * entry filled through `Host: evil.example` must never answer another host, and a redirect to
 * https answered to an http request must never answer an https one (a loop for the whole TTL). A space, then `#`, cannot occur in a request target the
 * gateway accepts, so no URL can spell another key. HEAD reads the GET entry: it is the same
 * response without its body.
 */
export function buildCacheKey(req: CacheAwareRequest, originalUrl: string, scheme: string, host: string): string {
  let key = `${req.method === 'HEAD' ? 'GET' : req.method} ${scheme}://${host}${originalUrl}`;
  if (req.cacheAppendKey) key += req.cacheAppendKey(req);
  const authorization = req.headers.authorization;
  if (authorization !== undefined) key += `#auth=${createHash('sha256').update(authorization).digest('base64url')}`;
  return key;
}
