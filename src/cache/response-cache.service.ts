import cluster from 'node:cluster';
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
  X_CACHE_EXPIRE_TAGS,
  X_CACHE_STALE,
  X_CACHE_TAGS,
  X_CACHE_TIMEOUT,
} from '../gateway.constants.js';
import { type CacheEntry, type FillOutcome, isFailure, keptFor, type StoreDecision } from './cache-entry.js';
import { keyOfRoute } from './cache-expiry.js';
import { type CacheControl, parseCacheControl, parseCacheTtl } from './cache-ttl.js';
import { MAX_TAG_LENGTH, MAX_TAGS, parseTags } from './cache-tags.js';
import { throttledWarning } from '../throttled-warning.js';
import type { StoreStats } from './store-stats.js';
import { forwardsClientHeader } from '../proxy/index.js';
import type { ResponseStore } from './stores/index.js';
import { joinWorkerPeers, type WorkerPeers } from './worker-peers.js';

// Statuses a shared cache may store (RFC 9111 §3 with the heuristically cacheable set of
// RFC 9110 §15.1), minus 206 and 304, which complete other responses.
const STORABLE_STATUSES = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]);
const MAX_REMEMBERED_FAULTS = 100;
const NO_CACHE_CONTROL: CacheControl = { forbidsStoring: false };

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
  private readonly faultsWarned = new Set<string>();
  // Bounded by the length of its keys too: 10,000 URLs of 8 KB would otherwise hold 160 MB.
  private readonly uncacheable = new LRUCache<string, true>({
    max: CACHE_PASS_MEMORY_ENTRIES,
    maxSize: CACHE_PASS_MEMORY_CHARS,
    sizeCalculation: (_value, key) => key.length,
    ttl: CACHE_PASS_MEMORY_MS,
  });
  readonly maxEntryBytes: number;
  /** The other workers, told of this one's expiries when each keeps its entries in its own memory. */
  private readonly peers?: WorkerPeers;
  private timeoutsInARow = 0;
  private skipping = false;
  private probe?: NodeJS.Timeout;

  constructor(
    @Inject(RESPONSE_STORE) private readonly store: ResponseStore,
    @Inject(GATEWAY_CACHE_OPTIONS) private readonly options: ResolvedCacheOptions,
  ) {
    this.maxEntryBytes = options.maxEntryBytes;
    if (options.store === 'memory' && cluster.isWorker) this.peers = joinWorkerPeers(this);
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

  /**
   * Stores an entry for as long as it may be answered, fresh or stale; gives up waiting after
   * {@link CACHE_WRITE_WAIT_MS} (the write goes on).
   */
  async write(key: string, entry: CacheEntry): Promise<void> {
    const written = this.store.set(key, entry, keptFor(entry)).catch((error: Error) => this.warn(`cache write failed: ${error.message}`));
    await this.within(written, CACHE_WRITE_WAIT_MS, 'write');
  }

  /**
   * Expires by pattern: every route's entries, or with `expireScope: route` only those of
   * `route`, the prefix of the route that answered (a host app's own controllers expire
   * globally). Gives up waiting after {@link CACHE_WRITE_WAIT_MS}, so a hung store holds no answer.
   */
  async expire(patterns: string[], route?: string): Promise<number | undefined> {
    this.peers?.expire(patterns, route);
    return this.expireLocal(patterns, route);
  }

  /**
   * Expires by pattern in this process's store only: what a peer's expiry asks of it. Returns how
   * many, or undefined when the store failed or did not answer in time.
   */
  async expireLocal(patterns: string[], route?: string): Promise<number | undefined> {
    const within = this.options.expireScope === 'route' && route !== undefined ? keyOfRoute(route) : undefined;
    const expired = this.store.expire(patterns, within).catch((error: Error) => {
      this.warn(`cache expiry failed: ${error.message}`);
      return undefined;
    });
    // A large index takes a while to scan: a slow expiry says nothing of a frozen store.
    return this.within(expired, CACHE_WRITE_WAIT_MS, 'expiry', false);
  }

  /**
   * Deletes every entry carrying one of the tags, in every process that shares the store: the
   * Redis store is one for all; with the memory store in a worker pool, the other workers are
   * told too. Returns how many entries this process's store held, or undefined when the store
   * failed or did not answer in time. Bounded as `expire` is.
   */
  async purgeTags(tags: string[]): Promise<number | undefined> {
    if (tags.length === 0) return 0;
    this.peers?.purgeTags(tags);
    return this.purgeLocalTags(tags);
  }

  /** Deletes the tagged entries of this process's store only: what a peer's purge asks of it. */
  async purgeLocalTags(tags: string[]): Promise<number | undefined> {
    const purged = this.store.purgeTags(tags).catch((error: Error) => {
      this.warn(`cache purge failed: ${error.message}`);
      return undefined;
    });
    return this.within(purged, CACHE_WRITE_WAIT_MS, 'purge', false);
  }

  /** Whether a fill (a miss's, or a stale entry's refresh) is in flight for the key in this process. */
  isFilling(key: string): boolean {
    return this.fills.has(key);
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
      if (isFailure(outcome)) return;
      if (outcome) this.uncacheable.delete(key);
      else this.uncacheable.set(key, true);
    });
  }

  /** Whether the last fill of the key stored nothing, lately: its misses then go straight through. */
  isUncacheable(key: string): boolean {
    return this.uncacheable.has(key);
  }

  /**
   * How long to keep a response, with what tags, or undefined when it must not be stored.
   * `x-cache-timeout` and `x-cache-stale` win over `Cache-Control` (read with
   * `respectCacheControl`); `no-store`, `private` and `Vary` are obeyed whatever the TTL came from:
   * a service that says an answer is one user's, or one variant, is believed even when it also
   * sent `x-cache-timeout`.
   */
  decide(status: number, headers: OutgoingHttpHeaders, req: IncomingMessage, route?: string): StoreDecision | undefined {
    if (!STORABLE_STATUSES.has(status) || headers['set-cookie'] !== undefined || isEventStream(headers)) return undefined;
    const declared = fieldValue(headers[X_CACHE_TIMEOUT]);
    let ttl = declared === undefined ? undefined : this.parseDeclared(X_CACHE_TIMEOUT, declared, route);
    const cacheControl = parseCacheControl(fieldValue(headers['cache-control']));
    if (cacheControl.forbidsStoring) return undefined;
    const respected = this.options.respectCacheControl ? cacheControl : NO_CACHE_CONTROL;
    ttl ??= respected.ttl;
    if (ttl === undefined) return undefined;
    const varyField = fieldValue(headers.vary);
    const vary = varyField === undefined ? [] : varyField.toLowerCase().split(/\s*,\s*/);
    if (vary.includes('*')) return undefined;
    const staleField = fieldValue(headers[X_CACHE_STALE]);
    const stale = staleField === undefined ? undefined : this.parseDeclared(X_CACHE_STALE, staleField, route);
    const tagsField = headers[X_CACHE_TAGS] as string | string[] | undefined;
    const tags = tagsField === undefined ? undefined : parseTags(tagsField);
    if (tagsField !== undefined && tags === undefined) return this.refuseTags(route);
    return {
      ttl,
      staleWhileRevalidate: stale ?? respected.staleWhileRevalidate ?? 0,
      staleIfError: stale ?? respected.staleIfError ?? 0,
      tags: tags?.length ? tags : undefined,
      vary: vary.length ? Object.fromEntries(vary.map((name) => [name, headerValue(req, name)])) : undefined,
    };
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

  /** A duration the service declared; each route, header and value at fault is named once: a service sends the same value on every answer. */
  private parseDeclared(header: string, value: string, route = '(host controller)'): number | undefined {
    const duration = parseCacheTtl(value);
    if (duration === undefined) {
      const consequence = header === X_CACHE_TIMEOUT ? 'not cached' : 'not served stale';
      this.warnOnce(`${route} ${header} ${value}`, `route ${route}: ${consequence}, ${header} '${value}' is no duration the gateway takes (expected seconds or longer: "30s", "1 hour", or a bare number of seconds)`);
    }
    return duration;
  }

  /** An `x-cache-expire-tags` that breaks the rules of tags purges nothing: said once per route. */
  refuseExpireTags(route = '(host controller)'): void {
    this.warnOnce(`${route} expire-tags`, `route ${route}: nothing purged, ${X_CACHE_EXPIRE_TAGS} holds a tag the gateway does not take (at most ${MAX_TAGS} tags of at most ${MAX_TAG_LENGTH} printable characters, separated by spaces or commas)`);
  }

  private refuseTags(route = '(host controller)'): undefined {
    this.warnOnce(`${route} tags`, `route ${route}: not cached, ${X_CACHE_TAGS} holds a tag the gateway does not take (at most ${MAX_TAGS} tags of at most ${MAX_TAG_LENGTH} printable characters, separated by spaces or commas)`);
    return undefined;
  }

  private warnOnce(fault: string, message: string): void {
    if (this.faultsWarned.has(fault) || this.faultsWarned.size >= MAX_REMEMBERED_FAULTS) return;
    this.faultsWarned.add(fault);
    this.logger.warn(message);
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
