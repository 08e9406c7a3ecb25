import { createCacheEntry } from '../cache-entry.js';
import { createMemoryStore, entrySize } from './memory.store.js';

const lifetime = { ttl: 60_000, staleWhileRevalidate: 0, staleIfError: 0 };
const entry = (bytes: number, tags?: string[]) => createCacheEntry(200, { 'content-type': 'application/octet-stream' }, Buffer.alloc(bytes, 1), { ...lifetime, tags });
const storeOf = (bounds: { maxEntries?: number; maxBytes?: number } = {}) =>
  createMemoryStore({ maxEntries: bounds.maxEntries ?? 100, maxBytes: bounds.maxBytes ?? 1024 * 1024, maxEntryBytes: 4096 });

describe('memory store', () => {
  it('answers a read at once, with the stored entry itself', async () => {
    const store = storeOf();
    const stored = entry(8);
    await store.set('GET/a', stored, 60_000);
    expect(store.get('GET/a')).toBe(stored);
    expect(store.get('GET/b')).toBeUndefined();
  });

  it('evicts the least recently used entries and never holds more than maxBytes', async () => {
    const store = storeOf({ maxEntries: 1000, maxBytes: 10 * 1024 });
    for (let i = 0; i < 6; i++) await store.set(`GET/item/${i}`, entry(1024), 60_000);
    // 1 KiB bodies plus 512 bytes of bookkeeping each: six fit in 10 KiB.
    expect(store.counts!()).toMatchObject({ entries: 6, evictions: 0 });
    // Read, the oldest becomes the most recently used: the next one in line goes instead.
    store.get('GET/item/0');
    await store.set('GET/item/6', entry(1024), 60_000);
    const kept = [];
    for (let i = 0; i <= 6; i++) if (store.get(`GET/item/${i}`)) kept.push(i);
    expect(kept).toEqual([0, 2, 3, 4, 5, 6]);
    expect(store.counts!()).toMatchObject({ entries: 6, evictions: 1 });
    expect(store.counts!().bytes).toBeLessThanOrEqual(10 * 1024);
  });

  it('drops an expired entry once it is read, and counts it as no eviction', async () => {
    const store = storeOf();
    await store.set('GET/kept', entry(8), 60_000);
    await store.set('GET/brief', entry(8), 20);
    expect(store.counts!().entries).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(store.get('GET/brief')).toBeUndefined();
    expect(store.counts!()).toMatchObject({ entries: 1, evictions: 0 });
    expect(store.get('GET/kept')).toBeDefined();
  });

  it('bounds the number of entries', async () => {
    const store = storeOf({ maxEntries: 3 });
    for (let i = 0; i < 5; i++) await store.set(`GET/${i}`, entry(10), 60_000);
    expect(store.get('GET/0')).toBeUndefined();
    expect(store.get('GET/4')).toBeDefined();
    // Two pushed out for room; what is kept is counted with its key, head and bookkeeping.
    const sizes = [2, 3, 4].map((i) => entrySize(entry(10), `GET/${i}`));
    expect(store.counts!()).toEqual({ entries: 3, bytes: sizes.reduce((sum, size) => sum + size, 0), evictions: 2 });
  });

  it('counts keys and heads against maxBytes: 6,000 entries with 8 KiB URLs stay within it', async () => {
    const maxBytes = 4 * 1024 * 1024;
    const store = storeOf({ maxEntries: 100_000, maxBytes });
    const longUrl = (i: number) => `GET gw.test/${String(i).padStart(6, '0')}?${'q'.repeat(8 * 1024)}`;
    for (let i = 0; i < 6000; i++) await store.set(longUrl(i), entry(16), 60_000);
    const { entries, bytes } = store.counts!();
    expect(bytes).toBeLessThanOrEqual(maxBytes);
    // Each holds more than its 8 KiB key, so fewer than maxBytes / 8 KiB are kept.
    expect(entries).toBeLessThan(maxBytes / (8 * 1024));
    expect(store.get(longUrl(5999))).toBeDefined();
  });

  it('refuses an entry larger than it may hold, keeping the rest', async () => {
    const store = storeOf();
    await store.set('GET/small', entry(8), 60_000);
    await store.set('GET/huge', entry(200 * 1024), 60_000);
    expect(store.get('GET/huge')).toBeUndefined();
    expect(store.counts!().entries).toBe(1);
  });

  it('expires by pattern with matcher rules', async () => {
    const store = storeOf();
    for (const key of ['GET/numbers', 'GET/numbers?x=1', 'GET/api/numbers', 'GET/users']) await store.set(key, entry(1), 60_000);
    expect(await store.expire(['*/numbers'])).toBe(2);
    expect(store.get('GET/numbers')).toBeUndefined();
    expect(store.get('GET/api/numbers')).toBeUndefined();
    expect(store.get('GET/numbers?x=1')).toBeDefined();
    expect(store.get('GET/users')).toBeDefined();
  });

  it('is always available, and empty once closed', async () => {
    const store = storeOf();
    await store.whenReady(1000);
    expect(store.isAvailable()).toBe(true);
    await store.set('GET/users', entry(1), 60_000);
    await store.close();
    expect(store.get('GET/users')).toBeUndefined();
    expect(store.counts!()).toEqual({ entries: 0, bytes: 0, evictions: 0 });
  });

  it('purges the entries carrying any of the tags, and forgets an entry that left the LRU', async () => {
    const store = storeOf({ maxEntries: 3 });
    await store.set('GET/users/42', entry(1, ['user:42', 'users']), 60_000);
    await store.set('GET/users/7', entry(1, ['user:7', 'users']), 60_000);
    await store.set('GET/teams', entry(1, ['teams']), 60_000);
    expect(await store.purgeTags(['user:42'])).toBe(1);
    expect(store.get('GET/users/42')).toBeUndefined();
    expect(store.get('GET/users/7')).toBeDefined();
    // Replaced without its tag: the tag no longer reaches it.
    await store.set('GET/users/7', entry(1, ['user:7']), 60_000);
    expect(await store.purgeTags(['users'])).toBe(0);
    // Pushed out by newer entries: purging its tag finds nothing to count.
    for (let i = 0; i < 3; i++) await store.set(`GET/other/${i}`, entry(1), 60_000);
    expect(await store.purgeTags(['user:7', 'teams'])).toBe(0);
  });

  it('stays within its bounds under a flood of distinct tagged keys with long stale windows', async () => {
    const maxBytes = 256 * 1024;
    const store = storeOf({ maxEntries: 100, maxBytes });
    for (let i = 0; i < 5000; i++) {
      const flooded = createCacheEntry(200, {}, Buffer.alloc(512, 1), { ttl: 1000, staleWhileRevalidate: 3_600_000, staleIfError: 86_400_000, tags: ['flood', `item:${i}`] });
      await store.set(`GET/flood/${i}`, flooded, 86_401_000);
    }
    const { entries, bytes } = store.counts!();
    expect(entries).toBeLessThanOrEqual(100);
    expect(bytes).toBeLessThanOrEqual(maxBytes);
    // The tag lists hold no more keys than the LRU does.
    expect(await store.purgeTags(['flood'])).toBe(entries);
    expect(store.counts!().entries).toBe(0);
  });
});
