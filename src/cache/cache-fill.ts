import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { X_CACHE, X_CACHE_EXPIRE, X_CACHE_TIMEOUT } from '../gateway.constants.js';
import { createCacheEntry, type FillOutcome, type StoreDecision } from './cache-entry.js';
import { parseExpirePatterns } from './cache-expiry.js';
import type { ResponseCacheService } from './response-cache.service.js';

/** The result of a cached route's lookup, as the exchange reports it. */
export type CacheResult = 'HIT' | 'MISS' | 'BYPASS';

/**
 * Watches one response of a cached route as it streams to the client (the forwarder's tap):
 * a response carrying `x-cache-expire` is held until the entries it names are gone, so no client
 * can read an expired entry after seeing the answer that expired it; a storable GET response
 * is copied chunk by chunk (up to `maxEntryBytes`) and stored before its end reaches the client,
 * since a client that has the whole answer may send the request that expires it.
 */
export class CacheFill {
  private decision?: StoreDecision;
  private status = 0;
  private headers?: OutgoingHttpHeaders;
  private chunks: Buffer[] = [];
  private size = 0;
  private settle!: (outcome: FillOutcome) => void;
  /** How the fill ended: concurrent misses wait for it. */
  readonly stored = new Promise<FillOutcome>((resolve) => (this.settle = resolve));

  /**
   * @param key where a storable response goes; undefined when it is only watched for expiry.
   * @param result what the response says in `x-cache`; undefined for methods the cache never serves.
   * @param route the prefix of the route answering, which `expireScope: route` confines expiry to.
   */
  constructor(
    private readonly cache: ResponseCacheService,
    private readonly req: IncomingMessage,
    private readonly key: string | undefined,
    readonly result: CacheResult | undefined,
    private readonly route?: string,
  ) {}

  head(status: number, headers: OutgoingHttpHeaders): void | Promise<void> {
    const expire = headers[X_CACHE_EXPIRE];
    // What the service tells the gateway is the gateway's: clients see neither header.
    delete headers[X_CACHE_EXPIRE];
    if (this.result) headers[X_CACHE] = this.result;
    if (expire !== undefined) {
      delete headers[X_CACHE_TIMEOUT];
      this.settle(undefined);
      return this.cache.expire(parseExpirePatterns(expire as string | string[]), this.route);
    }
    if (this.key !== undefined) this.decision = this.cache.decide(status, headers, this.req, this.route);
    delete headers[X_CACHE_TIMEOUT];
    if (!this.decision) return this.settle(undefined);
    this.status = status;
    this.headers = headers;
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
    const entry = createCacheEntry(this.status, this.headers!, Buffer.concat(this.chunks, this.size), this.decision.vary);
    this.chunks = [];
    return this.cache.write(this.key!, entry, this.decision.ttl).then(() => this.settle(entry));
  }

  abort(failure?: Error): void {
    this.decision = undefined;
    this.chunks = [];
    this.settle(failure);
  }
}
