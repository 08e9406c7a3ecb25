import Keyv from 'keyv';
import { LRUCache } from 'lru-cache';
import { selectExpiredKeys } from '../cache-expiry.js';
import type { CacheEntry } from '../cache-entry.js';
import type { ResponseStore } from './response-store.interface.js';

export interface MemoryStoreOptions {
  namespace: string;
  maxEntries: number;
  maxBytes: number;
  maxEntryBytes: number;
}

export interface KeyvRecord {
  value: CacheEntry;
  expires?: number;
}

// Headers and bookkeeping, counted on top of the body so tiny entries still weigh something.
const ENTRY_OVERHEAD_BYTES = 512;
// Room for an entry's key and head beyond its body: a URL may take 8 KiB, a head some more.
const ENTRY_HEAD_ALLOWANCE_BYTES = 64 * 1024;

/**
 * What an entry holds in this process: its body, its key and its stored head, plus bookkeeping.
 * Counting the body alone let 6,000 entries with 8 KiB URLs hold 48 MB under a smaller `maxBytes`.
 */
export function entrySize(record: KeyvRecord, key: string): number {
  let size = record.value.body.length + key.length + ENTRY_OVERHEAD_BYTES;
  for (const [name, value] of Object.entries(record.value.headers)) size += name.length + String(value).length;
  return size;
}

/** In-process LRU bounded by entry count and bytes; entries are kept as objects, unserialised. */
export function createMemoryStore(options: MemoryStoreOptions): ResponseStore {
  let evictions = 0;
  const lru = new LRUCache<string, KeyvRecord>({
    dispose: (_record, _key, reason) => {
      if (reason === 'evict') evictions += 1;
    },
    max: options.maxEntries,
    maxSize: options.maxBytes,
    maxEntrySize: options.maxEntryBytes + ENTRY_OVERHEAD_BYTES + ENTRY_HEAD_ALLOWANCE_BYTES,
    sizeCalculation: entrySize,
  });
  // Keyv hands stores its TTL as a third argument, which LRUCache reads as an options object;
  // Keyv checks expiry itself, so the LRU only needs the map operations.
  const store = {
    get: (key: string) => lru.get(key),
    set: (key: string, record: KeyvRecord) => lru.set(key, record),
    delete: (key: string) => lru.delete(key),
    clear: () => lru.clear(),
  };
  const keyv = new Keyv({ store, namespace: options.namespace });
  keyv.serialize = undefined;
  keyv.deserialize = undefined;
  const prefix = `${options.namespace}:`;

  return {
    keyv,
    readNow(key) {
      const record = lru.get(prefix + key);
      if (record?.expires !== undefined && record.expires <= Date.now()) {
        lru.delete(prefix + key);
        return undefined;
      }
      return record?.value;
    },
    stats: () => ({ entries: lru.size, bytes: lru.calculatedSize, evictions }),
    isAvailable: () => true,
    whenReady: async () => undefined,
    track: async () => undefined,
    async expire(patterns) {
      const keys = [...lru.keys()].map((key) => key.slice(prefix.length));
      const expired = selectExpiredKeys(keys, patterns);
      for (const key of expired) lru.delete(prefix + key);
      return expired.length;
    },
    async close() {
      lru.clear();
    },
  };
}
