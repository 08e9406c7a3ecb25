import type { Logger } from '@nestjs/common';
import { RESP_TYPES } from '@redis/client';
import { connectRedis } from '../../redis-connection.js';
import { selectExpiredKeys } from '../cache-expiry.js';
import { decodeEntry, encodeEntry } from './entry-codec.js';
import type { ResponseStore } from './response-store.interface.js';

export interface RedisStoreOptions {
  url: string;
  namespace: string;
  /** Most keys the index holds: past it, the entries that would expire first are deleted. */
  maxEntries: number;
}

const KEY_SEPARATOR = '::';
const UNLINK_BATCH = 1000;
/** Index members Redis looks at per `ZSCAN` call: one call blocks Redis for a few ms at most. */
const SCAN_COUNT = 2000;

/**
 * Entries shared by every gateway process through Redis (7 or later), on node-redis's client
 * itself. Keys live under `namespace::`, each entry one string (see `encodeEntry`) that Redis
 * expires by its TTL, and a sorted set `namespace:index` (scored by expiry time) lists them. Every
 * write drops the index's expired members, keeps it within `maxEntries`, and extends its own TTL
 * to its longest entry's, so it never outlives what it lists. Expiry by pattern scans the index
 * in Redis with `MATCH` (the pattern's `*` is Redis's, every other glob character escaped), so
 * only candidates cross the network, then matches them with the same `matcher` rules as the
 * memory store; the rest of the keyspace is never read. Each tag is a sorted set
 * `namespace:tag:<tag>` of its entries' keys, kept as the index is (expired members dropped on
 * every write to it, its TTL its longest entry's), so every gateway on the Redis purges by it.
 */
export function createRedisStore(options: RedisStoreOptions, logger: Logger): ResponseStore {
  // Commands fail at once while disconnected: the cache then fails open.
  const connection = connectRedis(options.url, (error) => logger.debug?.(`Redis: ${error.message}`));
  const { client } = connection;
  // The same connection, answering strings as Buffers: a body is bytes, not UTF-8.
  const binary = client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
  const index = `${options.namespace}:index`;
  const storedKey = (key: string) => `${options.namespace}${KEY_SEPARATOR}${key}`;

  const tagKey = (tag: string) => `${options.namespace}:tag:${tag}`;

  /** Deletes entries and their index members; returns how many entries there were. */
  const unlink = async (keys: string[]) => {
    let unlinked = 0;
    for (let start = 0; start < keys.length; start += UNLINK_BATCH) {
      const batch = keys.slice(start, start + UNLINK_BATCH);
      const [count] = await client.multi().unlink(batch.map(storedKey)).zRem(index, batch).exec();
      unlinked += Number(count);
    }
    return unlinked;
  };

  /** The index members one pattern may match, found by Redis. */
  const candidates = async (pattern: string, found: Set<string>) => {
    let cursor = '0';
    do {
      const reply = await client.zScan(index, cursor, { MATCH: toRedisGlob(pattern), COUNT: SCAN_COUNT });
      cursor = reply.cursor;
      for (const member of reply.members) found.add(member.value);
    } while (cursor !== '0');
  };

  return {
    async get(key) {
      const stored = await binary.get(storedKey(key));
      return stored === null ? undefined : decodeEntry(stored);
    },
    async set(key, entry, ttlMs) {
      const now = Date.now();
      const expiresAt = now + ttlMs;
      const write = client
        .multi()
        .set(storedKey(key), encodeEntry(entry), { expiration: { type: 'PX', value: ttlMs } })
        .zRemRangeByScore(index, '-inf', now)
        .zAdd(index, { score: expiresAt, value: key })
        // NX gives a fresh index a TTL, GT lengthens it: together, the longest entry's.
        .pExpireAt(index, expiresAt, 'NX')
        .pExpireAt(index, expiresAt, 'GT')
        .zCard(index);
      // A tag lists its entries as the index does, scored by expiry and trimmed on every write.
      for (const tag of entry.tags ?? []) {
        write
          .zRemRangeByScore(tagKey(tag), '-inf', now)
          .zAdd(tagKey(tag), { score: expiresAt, value: key })
          .pExpireAt(tagKey(tag), expiresAt, 'NX')
          .pExpireAt(tagKey(tag), expiresAt, 'GT');
      }
      const [, , , , , size] = await write.exec();
      const excess = Number(size) - options.maxEntries;
      if (excess > 0) {
        const evicted = await client.zPopMinCount(index, excess);
        await client.unlink(evicted.map((member) => storedKey(member.value)));
      }
    },
    isAvailable: () => client.isReady,
    ping: () => client.ping(),
    whenReady: async (timeoutMs) => void (await connection.whenReady(timeoutMs)),
    async expire(patterns, within) {
      await client.zRemRangeByScore(index, '-inf', Date.now());
      const positive = patterns.filter((pattern) => !pattern.startsWith('!'));
      // Negations alone match everything else: every member is a candidate.
      const found = new Set<string>();
      for (const pattern of positive.length ? positive : ['*']) await candidates(pattern, found);
      const expired = selectExpiredKeys([...found], patterns, within);
      await unlink(expired);
      return expired.length;
    },
    async purgeTags(tags) {
      const keys = new Set<string>();
      for (const tag of tags) for (const key of await client.zRange(tagKey(tag), 0, -1)) keys.add(key);
      const purged = await unlink([...keys]);
      await client.unlink(tags.map(tagKey));
      return purged;
    },
    close: connection.close,
  };
}

/** A `matcher` pattern as a Redis glob: `*` alike, the characters only Redis reads escaped. */
export function toRedisGlob(pattern: string): string {
  return pattern.replace(/[?[\]\\^]/g, '\\$&');
}
