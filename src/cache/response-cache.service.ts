import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { ResolvedCacheOptions } from '../config/resolve-options.js';
import { LRUCache } from 'lru-cache';
import {
  CACHE_CONNECT_WAIT_MS,
  CACHE_PASS_MEMORY_CHARS,
  CACHE_PASS_MEMORY_ENTRIES,
  CACHE_PASS_MEMORY_MS,
  CACHE_PROBE_INTERVAL_MS,
  CACHE_READ_WAIT_MS,
  CACHE_SKIP_AFTER_TIMEOUTS,
  CACHE_WARNING_INTERVAL_MS,
  CACHE_WRITE_WAIT_MS,
  GATEWAY_CACHE_OPTIONS,
  RESPONSE_STORE,
  X_CACHE_TIMEOUT,
} from '../gateway.constants.js';
import type { CacheEntry, FillOutcome, StoreDecision } from './cache-entry.js';
import { keyOfRoute } from './cache-expiry.js';
import { parseCacheControl, parseCacheTtl } from './cache-ttl.js';
import { throttledWarning } from '../throttled-warning.js';
import type { StoreStats } from './store-stats.js';
import { forwardsClientHeader } from '../proxy/index.js';
import type { ResponseStore } from './stores/index.js';

// Statuses a shared cache may store (RFC 9111 §3 with the heuristically cacheable set of
// RFC 9110 §15.1), minus 206 and 304, which complete other responses.
const STORABLE_STATUSES = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]);
const MAX_REMEMBERED_BAD_TTLS = 100;

/**
 * Reads, writes and expires entries; fails open: a store error is a miss, logged at most once
 * per interval. A store that stops answering in time (a frozen Redis: connected, silent) is
 * skipped after a few timeouts in a row, so that requests stop paying its deadline, and probed
 * in the background until it answers again.
 */
@Injectable()
export class ResponseCacheService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(ResponseCacheService.name);
  private readonly fills = new Map<string, Promise<FillOutcome>>();
  private readonly badTtls = new Set<string>();
  // Bounded by the length of its keys too: 10,000 URLs of 8 KB would otherwise hold 160 MB.
  private readonly uncacheable = new LRUCache<string, true>({
    max: CACHE_PASS_MEMORY_ENTRIES,
    maxSize: CACHE_PASS_MEMORY_CHARS,
    sizeCalculation: (_value, key) => key.length,
    ttl: CACHE_PASS_MEMORY_MS,
  });
  readonly maxEntryBytes: number;
  private timeoutsInARow = 0;
  private skipping = false;
  private probe?: NodeJS.Timeout;

  constructor(
    @Inject(RESPONSE_STORE) private readonly store: ResponseStore,
    @Inject(GATEWAY_CACHE_OPTIONS) private readonly options: ResolvedCacheOptions,
  ) {
    this.maxEntryBytes = options.maxEntryBytes;
  }

  /** Gives the store a moment to connect, so a gateway started with Redis serves hits at once. */
  async onModuleInit(): Promise<void> {
    await this.store.whenReady(CACHE_CONNECT_WAIT_MS);
    if (!this.store.isAvailable()) this.warn('cache store unreachable at start: requests bypass the cache until it is back');
  }

  /** Whether requests use the store now; warns (throttled) when they cannot. */
  isAvailable(): boolean {
    if (this.usesStore()) return true;
    this.warn(this.skipping ? 'cache store not answering in time: requests bypass the cache' : 'cache store unavailable: requests bypass the cache');
    return false;
  }

  /** Whether requests use the store now: it is reachable and not skipped. For health and metrics. */
  usesStore(): boolean {
    return !this.skipping && this.store.isAvailable();
  }

  /** What health and metrics may read of the cache: its state and, for memory, what it holds. */
  stats(): StoreStats {
    const { store } = this;
    return { usesStore: () => this.usesStore(), counts: store.counts?.bind(store) };
  }

  /**
   * The entry for a key, or undefined: at once from an in-process store, else as a promise. A
   * failing store reads as a miss; a store that hangs does too, after a wait.
   */
  read(key: string): CacheEntry | undefined | Promise<CacheEntry | undefined> {
    const found = this.store.get(key);
    if (!(found instanceof Promise)) return found;
    return this.within(found, CACHE_READ_WAIT_MS, 'read').catch((error: Error) => {
      this.warn(`cache read failed: ${error.message}`);
      return undefined;
    });
  }

  /** Stores an entry; gives up waiting after {@link CACHE_WRITE_WAIT_MS} (the write goes on). */
  async write(key: string, entry: CacheEntry, ttl: number): Promise<void> {
    const written = this.store.set(key, entry, ttl).catch((error: Error) => this.warn(`cache write failed: ${error.message}`));
    await this.within(written, CACHE_WRITE_WAIT_MS, 'write');
  }

  /**
   * Expires by pattern: every route's entries, or with `expireScope: route` only those of
   * `route`, the prefix of the route that answered (a host app's own controllers expire
   * globally). Gives up waiting after {@link CACHE_WRITE_WAIT_MS}, so a hung store holds no answer.
   */
  async expire(patterns: string[], route?: string): Promise<void> {
    const within = this.options.expireScope === 'route' && route !== undefined ? keyOfRoute(route) : undefined;
    const expired = this.store.expire(patterns, within).catch((error: Error) => {
      this.warn(`cache expiry failed: ${error.message}`);
    });
    // A large index takes a while to scan: a slow expiry says nothing of a frozen store.
    await this.within(expired, CACHE_WRITE_WAIT_MS, 'expiry', false);
  }

  /**
   * The fill in flight for a key in this process, if any, as a wait bounded by `coalesceWait`:
   * past it the wait ends with no entry, and the miss goes to the service itself.
   */
  pendingFill(key: string): Promise<FillOutcome> | undefined {
    const fill = this.fills.get(key);
    if (!fill) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), this.options.coalesceWait)));
    return Promise.race([fill, deadline]).finally(() => clearTimeout(timer));
  }

  /** Lets concurrent misses for the key wait for this fill instead of reaching the target. */
  registerFill(key: string, fill: Promise<FillOutcome>): void {
    this.fills.set(key, fill);
    void fill.then((outcome) => {
      this.fills.delete(key);
      // A failed service says nothing of whether its answers are storable: the next misses
      // wait for a leader again rather than all reach it.
      if (outcome instanceof Error) return;
      if (outcome) this.uncacheable.delete(key);
      else this.uncacheable.set(key, true);
    });
  }

  /** Whether the last fill of the key stored nothing, lately: its misses then go straight through. */
  isUncacheable(key: string): boolean {
    return this.uncacheable.has(key);
  }

  /** How long to keep a response, or undefined when it must not be stored. */
  decide(status: number, headers: OutgoingHttpHeaders, req: IncomingMessage, route?: string): StoreDecision | undefined {
    if (!STORABLE_STATUSES.has(status) || headers['set-cookie'] !== undefined || isEventStream(headers)) return undefined;
    const declared = fieldValue(headers[X_CACHE_TIMEOUT]);
    let ttl = declared === undefined ? undefined : this.parseDeclaredTtl(declared, route);
    // `no-store`, `private` and `Vary` are obeyed whatever the TTL came from: a service that
    // says an answer is one user's, or one variant, is believed even when it also sent
    // `x-cache-timeout`. `respectCacheControl` adds `max-age`/`s-maxage` as a source of TTLs.
    const cacheControl = parseCacheControl(fieldValue(headers['cache-control']));
    if (cacheControl.forbidsStoring) return undefined;
    if (this.options.respectCacheControl) ttl ??= cacheControl.ttl;
    if (ttl === undefined) return undefined;
    const varyField = fieldValue(headers.vary);
    const vary = varyField === undefined ? [] : varyField.toLowerCase().split(/\s*,\s*/);
    if (vary.includes('*')) return undefined;
    return { ttl, vary: vary.length ? Object.fromEntries(vary.map((name) => [name, headerValue(req, name)])) : undefined };
  }

  /** Whether a request asks for the variant an entry holds. */
  varyMatches(entry: CacheEntry, req: IncomingMessage): boolean {
    if (!entry.vary) return true;
    return Object.entries(entry.vary).every(([name, value]) => headerValue(req, name) === value);
  }

  async onApplicationShutdown(): Promise<void> {
    clearTimeout(this.probe);
    await this.store.close();
  }

  private timedOut(): void {
    this.timeoutsInARow += 1;
    if (this.skipping || this.timeoutsInARow < CACHE_SKIP_AFTER_TIMEOUTS) return;
    this.skipping = true;
    this.logger.warn(`cache store missed ${this.timeoutsInARow} deadlines in a row: skipped until it answers again`);
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    this.probe = setTimeout(() => {
      void deadline(this.store.ping!(), CACHE_READ_WAIT_MS).then((answered) => {
        if (!answered) return this.scheduleProbe();
        this.skipping = false;
        this.timeoutsInARow = 0;
        this.logger.log('cache store answers again: requests use it');
      });
    }, CACHE_PROBE_INTERVAL_MS);
    this.probe.unref();
  }

  /** Each route and value at fault is named once: a service sends the same value on every answer. */
  private parseDeclaredTtl(value: string, route = '(host controller)'): number | undefined {
    const ttl = parseCacheTtl(value);
    const fault = `${route} ${value}`;
    if (ttl === undefined && !this.badTtls.has(fault) && this.badTtls.size < MAX_REMEMBERED_BAD_TTLS) {
      this.badTtls.add(fault);
      this.logger.warn(
        `route ${route}: not cached, ${X_CACHE_TIMEOUT} '${value}' is no lifetime the gateway takes (expected seconds or longer: "30s", "1 hour", or a bare number of seconds)`,
      );
    }
    return ttl;
  }

  /** Waits for a store operation at most `ms`; past that, goes on without its result. */
  private async within<T>(operation: Promise<T>, ms: number, name: string, countsAsTimeout = true): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined;
    let late = false;
    const missed = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => {
        late = true;
        this.warn(`cache ${name} slower than ${ms} ms: going on without it`);
        if (countsAsTimeout) this.timedOut();
        resolve(undefined);
      }, ms);
    });
    try {
      return await Promise.race([operation, missed]);
    } finally {
      clearTimeout(timer);
      if (!late && countsAsTimeout) this.timeoutsInARow = 0;
    }
  }

  private readonly warn = throttledWarning(this.logger, CACHE_WARNING_INTERVAL_MS);
}

/**
 * Server-sent events are never stored, whatever the service says: a stream of events is one
 * client's live feed, and storing it would hold each event back until the next.
 */
function isEventStream(headers: OutgoingHttpHeaders): boolean {
  return /^\s*text\/event-stream\b/i.test(fieldValue(headers['content-type']) ?? '');
}

/** Whether an operation succeeded within `ms`. */
async function deadline(operation: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = operation.then(
    () => true,
    () => false,
  );
  try {
    return await Promise.race([settled, new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A header's field lines as one value, joined as RFC 9110 §5.3 says: a service may send
 * `Cache-Control` (or `Vary`) on several lines, and each line counts.
 */
function fieldValue(value: OutgoingHttpHeaders[string]): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(', ') : String(value);
}

/** A request header's value as the service got it: absent when the gateway did not forward it. */
function headerValue(req: IncomingMessage, name: string): string | undefined {
  return forwardsClientHeader(req.headers, name) ? fieldValue(req.headers[name]) : undefined;
}
