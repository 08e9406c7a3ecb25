import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { X_CACHE, X_CACHE_HIT, X_REQUEST_ID } from '../gateway.constants.js';
import { type CacheEntry, isFailure, matchesIfNoneMatch } from './cache-entry.js';
import { CacheFill } from './cache-fill.js';
import { ageOf, CACHE_STATUS, COLLAPSED_MEMBER, type ForwardReason, hitMember, withMember } from './cache-status.js';
import { buildCacheKey, type CacheAwareRequest } from './cache-key.js';
import type { ResponseCacheService } from './response-cache.service.js';

/**
 * What a lookup tells the pipeline: answer with this entry, or forward through this fill. The
 * hit's `status` is the gateway's `Cache-Status` member for it.
 */
export interface CacheOutcome {
  hit(entry: CacheEntry, status: string): void;
  miss(fill: CacheFill): void;
  /** A stage after an asynchronous lookup threw: answer or cut the response, never crash. */
  fail(error: unknown): void;
  /** The fill this miss waited for failed at the service: answer as it did. Without it, a miss. */
  failed?(error: Error): void;
  /**
   * A stale entry within its `stale-while-revalidate` window: answer with it at once, and forward
   * `refresh` in the background when given (none when a fill of the key is already in flight).
   * Without it, stale entries are misses (a host app's controllers).
   */
  stale?(entry: CacheEntry, status: string, refresh: CacheFill | undefined): void;
  /**
   * A stale entry past its `stale-while-revalidate` window but within its `stale-if-error` one:
   * the request is forwarded (a miss follows), and the entry answers instead if the service fails.
   */
  keepFallback?(entry: CacheEntry): void;
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
 * ("hit-for-pass"), so misses of an uncacheable URL never queue. A stale entry is answered while
 * one request refreshes it, or kept to answer if the service fails (see {@link CacheOutcome}).
 * Every other method, and a request a middleware opted out (`cacheDisabled`), passes with a fill
 * that only honours the service's expiries.
 */
export function lookUpResponse(
  cache: ResponseCacheService,
  req: CacheAwareRequest,
  address: CacheAddress,
  outcome: CacheOutcome,
): void {
  const { route } = address;
  if (req.method !== 'GET' && req.method !== 'HEAD') return outcome.miss(new CacheFill(cache, req, undefined, undefined, route, 'method'));
  if (req.cacheDisabled || !cache.isAvailable() || dependsOnMoreThanItsKey(req)) {
    return outcome.miss(new CacheFill(cache, req, undefined, 'BYPASS', route, 'bypass'));
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
  let reason: ForwardReason = 'uri-miss';
  if (entry && !cache.varyMatches(entry, req)) reason = 'vary-miss';
  else if (entry) {
    const now = Date.now();
    const age = now - entry.storedAt;
    if (age < entry.ttl) return outcome.hit(entry, hitMember(entry, now));
    if (age < entry.ttl + entry.staleWhileRevalidate && outcome.stale) return outcome.stale(entry, hitMember(entry, now), refreshOf(cache, req, key, route));
    if (age < entry.ttl + entry.staleIfError) outcome.keepFallback?.(entry);
    reason = 'stale';
  }
  // HEAD has no body to store: it reads the GET entry, never fills it.
  if (req.method === 'HEAD') return outcome.miss(new CacheFill(cache, req, undefined, 'MISS', route, reason));
  if (cache.isUncacheable(key)) return outcome.miss(new CacheFill(cache, req, key, 'MISS', route, reason));
  const pending = cache.pendingFill(key);
  if (!pending) {
    const fill = new CacheFill(cache, req, key, 'MISS', route, reason);
    cache.registerFill(key, fill.stored);
    return outcome.miss(fill);
  }
  void pending
    .then((filled) => {
      if (isFailure(filled)) {
        if (outcome.failed) return outcome.failed(filled);
      } else if (filled && cache.varyMatches(filled, req)) return outcome.hit(filled, COLLAPSED_MEMBER);
      outcome.miss(new CacheFill(cache, req, key, 'MISS', route, reason));
    })
    .catch((error: unknown) => outcome.fail(error));
}

/**
 * The fill that refreshes a stale entry in the background, registered as the key's fill so that
 * no other starts beside it; none while one is in flight, or for HEAD (a HEAD answer has no body
 * to store: the next GET refreshes).
 */
function refreshOf(cache: ResponseCacheService, req: CacheAwareRequest, key: string, route: string | undefined): CacheFill | undefined {
  if (req.method !== 'GET' || cache.isFilling(key)) return undefined;
  const refresh = new CacheFill(cache, req, key, 'MISS', route, 'stale');
  cache.registerFill(key, refresh.stored);
  return refresh;
}

/** The headers every hit carries on top of the stored ones. */
export function hitHeaders(entry: CacheEntry, result: 'HIT' | 'STALE', status: string): OutgoingHttpHeaders {
  return { [X_CACHE]: result, [X_CACHE_HIT]: '1', age: ageOf(entry, Date.now()), [CACHE_STATUS]: withMember(entry.headers[CACHE_STATUS], status) };
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

/**
 * Writes a hit to the client whole, in one head and one body write (or a 304 for a matching
 * ETag). `status` is the gateway's `Cache-Status` member, on its own field line after the
 * service's stored one.
 */
export function writeHit(
  res: ServerResponse,
  req: CacheAwareRequest,
  entry: CacheEntry,
  requestId: string,
  status: string,
  result: 'HIT' | 'STALE' = 'HIT',
  added: readonly string[] = NONE,
): void {
  const age = ageOf(entry, Date.now());
  if (matchesIfNoneMatch(req.headers['if-none-match'], entry.etag)) {
    res.writeHead(304, ['etag', entry.etag, X_CACHE, result, X_CACHE_HIT, '1', 'age', age, CACHE_STATUS, withMember(entry.headers[CACHE_STATUS], status), X_REQUEST_ID, requestId, ...added]);
    res.end();
    return;
  }
  // The stored head has none of `added`'s names (see `createCacheEntry`).
  const head = headList(entry).concat(X_CACHE, result, X_CACHE_HIT, '1', 'age', age, CACHE_STATUS, status, X_REQUEST_ID, requestId, ...added);
  res.writeHead(entry.status, head);
  res.end(req.method === 'HEAD' ? undefined : entry.body);
}
