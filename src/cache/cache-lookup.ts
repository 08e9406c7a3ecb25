import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { X_CACHE, X_CACHE_HIT, X_REQUEST_ID } from '../gateway.constants.js';
import { type CacheEntry, matchesIfNoneMatch } from './cache-entry.js';
import { CacheFill } from './cache-fill.js';
import { buildCacheKey, type CacheAwareRequest } from './cache-key.js';
import type { ResponseCacheService } from './response-cache.service.js';

/** What a lookup tells the pipeline: answer with this entry, or forward through this fill. */
export interface CacheOutcome {
  hit(entry: CacheEntry): void;
  miss(fill: CacheFill): void;
  /** A stage after an asynchronous lookup threw: answer or cut the response, never crash. */
  fail(error: unknown): void;
  /** The fill this miss waited for failed at the service: answer as it did. Without it, a miss. */
  failed?(error: Error): void;
}

/** What the cache keys a request on, besides its method and headers. */
export interface CacheAddress {
  originalUrl: string;
  /** The scheme and host the service is told (`X-Forwarded-Proto`, `-Host`). */
  scheme: string;
  host: string;
  /** The prefix of the route answering; absent for a host app's own controllers. */
  route?: string;
}

/**
 * Answers GET and HEAD from the store, or lets the request through with the fill that will store
 * its response. Concurrent misses of one key wait for the first one's fill (one request reaches
 * the service); a key whose last response was not storable skips that wait for a while
 * ("hit-for-pass"), so misses of an uncacheable URL never queue. Every other method, and a
 * request a middleware opted out (`cacheDisabled`), passes with a fill that only honours
 * `x-cache-expire`.
 */
export function lookUpResponse(
  cache: ResponseCacheService,
  req: CacheAwareRequest,
  address: CacheAddress,
  outcome: CacheOutcome,
): void {
  const { route } = address;
  if (req.method !== 'GET' && req.method !== 'HEAD') return outcome.miss(new CacheFill(cache, req, undefined, undefined, route));
  if (req.cacheDisabled || !cache.isAvailable() || dependsOnMoreThanItsKey(req)) {
    return outcome.miss(new CacheFill(cache, req, undefined, 'BYPASS', route));
  }
  const key = buildCacheKey(req, address.originalUrl, address.scheme, address.host);
  const found = cache.read(key);
  if (found instanceof Promise) void found.then((entry) => answer(cache, req, key, route, entry, outcome)).catch((error: unknown) => outcome.fail(error));
  else answer(cache, req, key, route, found, outcome);
}

/**
 * A GET with a body ("fat GET"), or one with a `Cookie`, may get an answer that depends on what
 * the key leaves out: neither is served nor stored unless a middleware keys it (`cacheAppendKey`).
 */
function dependsOnMoreThanItsKey(req: CacheAwareRequest): boolean {
  if (req.cacheAppendKey) return false;
  const { headers } = req;
  return headers.cookie !== undefined || headers['transfer-encoding'] !== undefined || (headers['content-length'] ?? '0') !== '0';
}

function answer(
  cache: ResponseCacheService,
  req: CacheAwareRequest,
  key: string,
  route: string | undefined,
  entry: CacheEntry | undefined,
  outcome: CacheOutcome,
): void {
  if (entry && cache.varyMatches(entry, req)) return outcome.hit(entry);
  // HEAD has no body to store: it reads the GET entry, never fills it.
  if (req.method === 'HEAD') return outcome.miss(new CacheFill(cache, req, undefined, 'MISS', route));
  if (cache.isUncacheable(key)) return outcome.miss(new CacheFill(cache, req, key, 'MISS', route));
  const pending = cache.pendingFill(key);
  if (!pending) {
    const fill = new CacheFill(cache, req, key, 'MISS', route);
    cache.registerFill(key, fill.stored);
    return outcome.miss(fill);
  }
  void pending
    .then((filled) => {
      if (filled instanceof Error && outcome.failed) return outcome.failed(filled);
      if (filled && !(filled instanceof Error) && cache.varyMatches(filled, req)) return outcome.hit(filled);
      outcome.miss(new CacheFill(cache, req, key, 'MISS', route));
    })
    .catch((error: unknown) => outcome.fail(error));
}

const ageOf = (entry: CacheEntry) => String(Math.max(0, Math.floor((Date.now() - entry.storedAt) / 1000)));

/** The headers every hit carries on top of the stored ones. */
export function hitHeaders(entry: CacheEntry): OutgoingHttpHeaders {
  return { [X_CACHE]: 'HIT', [X_CACHE_HIT]: '1', age: ageOf(entry) };
}

const NONE: readonly string[] = [];
const HEAD_LIST = Symbol('nest-gateway.head-list');
type ListedEntry = CacheEntry & { [HEAD_LIST]?: string[] };

/**
 * An entry's stored head as Node's flat `[name, value, ...]` list, with its length, made once per
 * entry object (the memory store hands out the same one every time). Spreading the stored headers
 * into a new object per hit made the head a dictionary and was a tenth of a hit's CPU (profile
 * under `npm run bench`).
 */
function headList(entry: ListedEntry): string[] {
  let list = entry[HEAD_LIST];
  if (list) return list;
  list = [];
  for (const [name, value] of Object.entries(entry.headers)) {
    if (Array.isArray(value)) for (const item of value) list.push(name, item);
    else if (value !== undefined) list.push(name, String(value));
  }
  if (entry.status !== 204) list.push('content-length', String(entry.body.length));
  entry[HEAD_LIST] = list;
  return list;
}

/** Writes a hit to the client whole, in one head and one body write (or a 304 for a matching ETag). */
export function writeHit(res: ServerResponse, req: CacheAwareRequest, entry: CacheEntry, requestId: string, added: readonly string[] = NONE): void {
  const age = ageOf(entry);
  if (matchesIfNoneMatch(req.headers['if-none-match'], entry.etag)) {
    res.writeHead(304, ['etag', entry.etag, X_CACHE, 'HIT', X_CACHE_HIT, '1', 'age', age, X_REQUEST_ID, requestId, ...added]);
    res.end();
    return;
  }
  // The stored head has none of `added`'s names (see `createCacheEntry`).
  const head = headList(entry).concat(X_CACHE, 'HIT', X_CACHE_HIT, '1', 'age', age, X_REQUEST_ID, requestId, ...added);
  res.writeHead(entry.status, head);
  res.end(req.method === 'HEAD' ? undefined : entry.body);
}
