import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { CACHE_DIRECTIVE_HEADERS, X_CACHE, X_CACHE_EXPIRE, X_CACHE_EXPIRE_TAGS } from '../gateway.constants.js';
import { createCacheEntry, type FillOutcome, type StoreDecision } from './cache-entry.js';
import { parseExpirePatterns } from './cache-expiry.js';
import { CACHE_STATUS, withMember, type ForwardReason, forwardMember } from './cache-status.js';
import { parseTags } from './cache-tags.js';
import type { ResponseCacheService } from './response-cache.service.js';

/** The result of a cached route's lookup, as the exchange reports it. */
export type CacheResult = 'HIT' | 'STALE' | 'MISS' | 'BYPASS';

/**
 * Watches one response of a cached route as it streams to the client (the forwarder's tap):
 * a response carrying `x-cache-expire` or `x-cache-expire-tags` is held until the entries it
 * names are gone, so no client can read an expired entry after seeing the answer that expired
 * it; a storable GET response is copied chunk by chunk (up to `maxEntryBytes`) and stored before
 * its end reaches the client, since a client that has the whole answer may send the request that
 * expires it. Every response it sees gets the gateway's `Cache-Status` member, and loses the
 * service's instructions to the cache.
 */
export class CacheFill {
  private decision?: StoreDecision;
  private status = 0;
  private headers?: OutgoingHttpHeaders;
  /** The service's own `Cache-Status`, which the entry keeps (the gateway's member is per answer). */
  private serviceCacheStatus: OutgoingHttpHeaders[string];
  private chunks: Buffer[] = [];
  private size = 0;
  private settle!: (outcome: FillOutcome) => void;
  /** How the fill ended: concurrent misses wait for it. */
  readonly stored = new Promise<FillOutcome>((resolve) => (this.settle = resolve));

  /**
   * @param key where a storable response goes; undefined when it is only watched for expiry.
   * @param result what the response says in `x-cache`; undefined for methods the cache never serves.
   * @param route the prefix of the route answering, which `expireScope: route` confines expiry to.
   * @param reason why the request went to the service, for `Cache-Status`.
   */
  constructor(
    private readonly cache: ResponseCacheService,
    private readonly req: IncomingMessage,
    private readonly key: string | undefined,
    readonly result: CacheResult | undefined,
    private readonly route: string | undefined,
    private readonly reason: ForwardReason,
  ) {}

  head(status: number, headers: OutgoingHttpHeaders): void | Promise<void> {
    const expire = headers[X_CACHE_EXPIRE] as string | string[] | undefined;
    const expireTags = headers[X_CACHE_EXPIRE_TAGS] as string | string[] | undefined;
    if (this.result) headers[X_CACHE] = this.result;
    if (expire !== undefined || expireTags !== undefined) {
      this.settle(undefined);
      this.strip(headers, false);
      return this.expire(expire, expireTags);
    }
    if (this.key !== undefined) this.decision = this.cache.decide(status, headers, this.req, this.route);
    const length = Number(headers['content-length']);
    // Known to be too large: said at once, not stored.
    if (this.decision && length > this.cache.maxEntryBytes) this.decision = undefined;
    this.strip(headers, this.decision !== undefined);
    if (!this.decision) return this.settle(undefined);
    this.status = status;
    this.headers = headers;
  }

  /** What the service tells the gateway is the gateway's: clients see none of it. */
  private strip(headers: OutgoingHttpHeaders, stored: boolean): void {
    for (const name of CACHE_DIRECTIVE_HEADERS) delete headers[name];
    this.serviceCacheStatus = headers[CACHE_STATUS];
    headers[CACHE_STATUS] = withMember(this.serviceCacheStatus, forwardMember(this.reason, stored));
  }

  private async expire(patterns: string | string[] | undefined, tags: string | string[] | undefined): Promise<void> {
    const expiries: Promise<unknown>[] = [];
    if (patterns !== undefined) expiries.push(this.cache.expire(parseExpirePatterns(patterns), this.route));
    const parsed = tags === undefined ? undefined : parseTags(tags);
    if (parsed) expiries.push(this.cache.purgeTags(parsed));
    else if (tags !== undefined) this.cache.refuseExpireTags(this.route);
    await Promise.all(expiries);
  }

  /**
   * Copies a chunk of a storable response. While it does, the response is read as fast as the
   * service sends it, whatever the client's pace: the fill, and every miss of the URL waiting
   * for it, never wait for a slow (or stalled) client's socket.
   */
  chunk(chunk: Buffer): boolean {
    if (!this.decision) return false;
    this.size += chunk.length;
    if (this.size <= this.cache.maxEntryBytes) {
      this.chunks.push(chunk);
      return true;
    }
    this.abort();
    return false;
  }

  wantsRest(): boolean {
    return this.decision !== undefined;
  }

  end(): void | Promise<void> {
    if (!this.decision) return;
    const headers = { ...this.headers!, [CACHE_STATUS]: this.serviceCacheStatus };
    if (this.serviceCacheStatus === undefined) delete headers[CACHE_STATUS];
    const entry = createCacheEntry(this.status, headers, Buffer.concat(this.chunks, this.size), this.decision);
    this.chunks = [];
    return this.cache.write(this.key!, entry).then(() => this.settle(entry));
  }

  /** The gateway's own answer to a failed exchange says what the cache did: it forwarded. */
  failureHeaders(): readonly string[] {
    return [CACHE_STATUS, forwardMember(this.reason)];
  }

  abort(failure?: Error): void {
    this.decision = undefined;
    this.chunks = [];
    this.settle(failure);
  }
}
