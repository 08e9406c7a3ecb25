import type Keyv from 'keyv';
import type { CacheEntry } from '../cache-entry.js';

export interface StoreStats {
  entries: number;
  bytes: number;
  /** Entries pushed out to make room, since start. */
  evictions: number;
}

/** Where entries live. Reads and writes go through cache-manager; this adds what it lacks. */
export interface ResponseStore {
  /** The Keyv instance handed to cache-manager. */
  readonly keyv: Keyv;
  /**
   * An in-process store answers a read at once, sparing a hit cache-manager's promise chain;
   * `undefined` is a miss. Stores across the network leave it out.
   */
  readNow?(key: string): CacheEntry | undefined;
  /** What an in-process store holds, for metrics; stores across the network leave it out. */
  stats?(): StoreStats;
  /** False while the store cannot answer (Redis down): the cache is then bypassed. */
  isAvailable(): boolean;
  /**
   * Asks the store for an answer that costs it nothing: how a store skipped for missing its
   * deadlines is probed. In-process stores, which answer at once, leave it out.
   */
  ping?(): Promise<unknown>;
  /** Resolves when the store can answer, or after `timeoutMs` whatever its state. */
  whenReady(timeoutMs: number): Promise<void>;
  /** Records a stored key so that expiry by pattern can find it. */
  track(key: string, ttlMs: number): Promise<void>;
  /** Deletes every entry whose key matches one of the patterns; returns how many. */
  expire(patterns: string[]): Promise<number>;
  close(): Promise<void>;
}
