import type { CacheEntry } from '../cache-entry.js';
import type { StoreCounts } from '../store-stats.js';

/**
 * Where entries live: the only layer between the cache service and the storage (an LRU in the
 * process, or Redis), so that a read, a write and an expiry each take one call.
 */
export interface ResponseStore {
  /**
   * The entry under a key, or `undefined`. An in-process store answers at once, sparing a hit a
   * promise; a store across the network answers with one, which rejects when the store fails.
   */
  get(key: string): CacheEntry | undefined | Promise<CacheEntry | undefined>;
  /** Stores an entry for `ttlMs` where expiry by pattern, and by its tags, can find it. */
  set(key: string, entry: CacheEntry, ttlMs: number): Promise<void>;
  /** Deletes every entry whose key matches one of the patterns (and that `within` accepts); returns how many. */
  expire(patterns: string[], within?: (key: string) => boolean): Promise<number>;
  /** Deletes every entry carrying one of the tags, stale ones too; returns how many. */
  purgeTags(tags: string[]): Promise<number>;
  /** What an in-process store holds, for metrics; stores across the network leave it out. */
  counts?(): StoreCounts;
  /** False while the store cannot answer (Redis down): the cache is then bypassed. */
  isAvailable(): boolean;
  /**
   * Asks the store for an answer that costs it nothing: how a store skipped for missing its
   * deadlines is probed. In-process stores, which answer at once, leave it out.
   */
  ping?(): Promise<unknown>;
  /** Resolves when the store can answer, or after `timeoutMs` whatever its state. */
  whenReady(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}
