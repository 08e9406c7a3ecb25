import { createCache } from 'cache-manager';
import { createCacheEntry } from '../cache-entry.js';
import { createMemoryStore, entrySize } from './memory.store.js';

const entry = (bytes: number) => createCacheEntry(200, { 'content-type': 'application/octet-stream' }, Buffer.alloc(bytes, 1), undefined);

describe('memory store', () => {
  it('evicts the least recently used entries and never holds more than maxBytes', async () => {
    const store = createMemoryStore({ namespace: 'ns', maxEntries: 1000, maxBytes: 10 * 1024, maxEntryBytes: 4096 });
    const cache = createCache({ stores: [store.keyv] });
    for (let i = 0; i < 20; i++) await cache.set(`GET/item/${i}`, entry(1024), 60_000);
    await cache.get('GET/item/12');
    const kept = [];
    for (let i = 0; i < 20; i++) if (await cache.get(`GET/item/${i}`)) kept.push(i);
    // 1 KiB bodies plus 512 bytes of bookkeeping each: six fit in 10 KiB.
    expect(kept.length).toBeLessThanOrEqual(6);
    expect(kept).toContain(19);
    expect(kept).not.toContain(0);
  });

  it("empties on cache-manager's clear(), as a host app holding the cache may call it", async () => {
    const store = createMemoryStore({ namespace: 'ns', maxEntries: 100, maxBytes: 1024 * 1024, maxEntryBytes: 4096 });
    const cache = createCache({ stores: [store.keyv] });
    for (const key of ['GET/a', 'GET/b']) await cache.set(key, entry(8), 60_000);
    expect(store.stats!().entries).toBe(2);
    await cache.clear();
    expect(store.stats!()).toEqual({ entries: 0, bytes: 0, evictions: 0 });
    expect(store.readNow!('GET/a')).toBeUndefined();
    expect(await cache.get('GET/b')).toBeUndefined();
  });

  it("drops an entry on cache-manager's del(), and an expired one once it is read", async () => {
    const store = createMemoryStore({ namespace: 'ns', maxEntries: 100, maxBytes: 1024 * 1024, maxEntryBytes: 4096 });
    const cache = createCache({ stores: [store.keyv] });
    await cache.set('GET/kept', entry(8), 60_000);
    await cache.set('GET/deleted', entry(8), 60_000);
    await cache.set('GET/brief', entry(8), 20);
    await cache.del('GET/deleted');
    expect(store.stats!().entries).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(await cache.get('GET/brief')).toBeUndefined();
    expect(store.stats!().entries).toBe(1);
    expect(store.readNow!('GET/kept')).toBeDefined();
  });

  it('bounds the number of entries', async () => {
    const store = createMemoryStore({ namespace: 'ns', maxEntries: 3, maxBytes: 1024 * 1024, maxEntryBytes: 4096 });
    const cache = createCache({ stores: [store.keyv] });
    for (let i = 0; i < 5; i++) await cache.set(`GET/${i}`, entry(10), 60_000);
    expect(await cache.get('GET/0')).toBeUndefined();
    expect(await cache.get('GET/4')).toBeDefined();
    // Two pushed out for room; what is kept is counted with its key, head and bookkeeping.
    const sizes = [2, 3, 4].map((i) => entrySize({ value: entry(10) }, `ns:GET/${i}`));
    expect(store.stats!()).toEqual({ entries: 3, bytes: sizes.reduce((sum, size) => sum + size, 0), evictions: 2 });
  });

  it('counts keys and heads against maxBytes: 6,000 entries with 8 KiB URLs stay within it', async () => {
    const maxBytes = 4 * 1024 * 1024;
    const store = createMemoryStore({ namespace: 'ns', maxEntries: 100_000, maxBytes, maxEntryBytes: 4096 });
    const cache = createCache({ stores: [store.keyv] });
    const longUrl = (i: number) => `GET gw.test/${String(i).padStart(6, '0')}?${'q'.repeat(8 * 1024)}`;
    for (let i = 0; i < 6000; i++) await cache.set(longUrl(i), entry(16), 60_000);
    const { entries, bytes } = store.stats!();
    expect(bytes).toBeLessThanOrEqual(maxBytes);
    // Each holds more than its 8 KiB key, so fewer than maxBytes / 8 KiB are kept.
    expect(entries).toBeLessThan(maxBytes / (8 * 1024));
    expect(await cache.get(longUrl(5999))).toBeDefined();
  });

  it('expires by pattern with matcher rules', async () => {
    const store = createMemoryStore({ namespace: 'ns', maxEntries: 100, maxBytes: 1024 * 1024, maxEntryBytes: 4096 });
    const cache = createCache({ stores: [store.keyv] });
    for (const key of ['GET/numbers', 'GET/numbers?x=1', 'GET/api/numbers', 'GET/users']) await cache.set(key, entry(1), 60_000);
    expect(await store.expire(['*/numbers'])).toBe(2);
    expect(await cache.get('GET/numbers')).toBeUndefined();
    expect(await cache.get('GET/api/numbers')).toBeUndefined();
    expect(await cache.get('GET/numbers?x=1')).toBeDefined();
    expect(await cache.get('GET/users')).toBeDefined();
    await cache.clear();
    expect(await cache.get('GET/users')).toBeUndefined();
    await store.close();
  });
});
