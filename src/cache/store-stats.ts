/** What an in-process store holds. */
export interface StoreCounts {
  entries: number;
  /** Bodies, keys, stored heads and bookkeeping, as `maxBytes` counts them. */
  bytes: number;
  /** Entries pushed out to make room, since start. */
  evictions: number;
}

/**
 * What health and metrics read of the response cache, under the `STORE_STATS` token: whether
 * requests use its store, and what an in-process store holds. Observers import this file only,
 * never the cache itself.
 */
export interface StoreStats {
  /** False while requests bypass the store (unreachable, or skipped for missing its deadlines). */
  usesStore(): boolean;
  /** Present for an in-process store only: a store across the network is measured by its own server. */
  counts?(): StoreCounts;
}
