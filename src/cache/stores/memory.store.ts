import { LRUCache } from 'lru-cache';
import { selectExpiredKeys } from '../cache-expiry.js';
import type { CacheEntry } from '../cache-entry.js';
import type { ResponseStore } from './response-store.interface.js';

export interface MemoryStoreOptions {
  maxEntries: number;
  maxBytes: number;
  maxEntryBytes: number;
}

// Headers and bookkeeping, counted on top of the body so tiny entries still weigh something.
const ENTRY_OVERHEAD_BYTES = 512;
// Room for an entry's key and head beyond its body: a URL may take 8 KiB, a head some more.
const ENTRY_HEAD_ALLOWANCE_BYTES = 64 * 1024;

/**
 * What an entry holds in this process: its body, its key and its stored head, plus bookkeeping.
 * Counting the body alone let 6,000 entries with 8 KiB URLs hold 48 MB under a smaller `maxBytes`.
 */
export function entrySize(entry: CacheEntry, key: string): number {
  let size = entry.body.length + key.length + ENTRY_OVERHEAD_BYTES;
  for (const [name, value] of Object.entries(entry.headers)) size += name.length + String(value).length;
  return size;
}

/**
 * In-process LRU bounded by entry count and bytes; entries are kept as objects, unserialised, and
 * expire by the LRU's own TTL (an expired entry reads as a miss and is dropped then). The process
 * is the namespace: keys are stored as they are. Each tag lists the keys of the entries carrying
 * it, and an entry leaves those lists whenever it leaves the LRU (evicted, expired, replaced,
 * deleted): the lists never hold more keys than the LRU.
 */
export function createMemoryStore(options: MemoryStoreOptions): ResponseStore {
  let evictions = 0;
  const keysByTag = new Map<string, Set<string>>();
  const lru = new LRUCache<string, CacheEntry>({
    dispose: (entry, key, reason) => {
      if (reason === 'evict') evictions += 1;
      for (const tag of entry.tags ?? []) {
        const keys = keysByTag.get(tag);
        keys?.delete(key);
        if (keys?.size === 0) keysByTag.delete(tag);
      }
    },
    max: options.maxEntries,
    maxSize: options.maxBytes,
    maxEntrySize: options.maxEntryBytes + ENTRY_OVERHEAD_BYTES + ENTRY_HEAD_ALLOWANCE_BYTES,
    sizeCalculation: entrySize,
  });

  return {
    get: (key) => lru.get(key),
    async set(key, entry, ttlMs) {
      lru.set(key, entry, { ttl: ttlMs });
      // An entry too large for the LRU is not kept: nothing to list.
      if (!entry.tags || lru.peek(key) !== entry) return;
      for (const tag of entry.tags) {
        const keys = keysByTag.get(tag);
        if (keys) keys.add(key);
        else keysByTag.set(tag, new Set([key]));
      }
    },
    async purgeTags(tags) {
      const keys = new Set<string>();
      for (const tag of tags) for (const key of keysByTag.get(tag) ?? []) keys.add(key);
      for (const key of keys) lru.delete(key);
      return keys.size;
    },
    async expire(patterns, within) {
      const expired = selectExpiredKeys([...lru.keys()], patterns, within);
      for (const key of expired) lru.delete(key);
      return expired.length;
    },
    counts: () => ({ entries: lru.size, bytes: lru.calculatedSize, evictions }),
    isAvailable: () => true,
    whenReady: async () => undefined,
    async close() {
      lru.clear();
    },
  };
}
