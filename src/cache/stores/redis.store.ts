import { createClient, createKeyv } from '@keyv/redis';
import type { Logger } from '@nestjs/common';
import { selectExpiredKeys } from '../cache-expiry.js';
import type { ResponseStore } from './response-store.interface.js';

export interface RedisStoreOptions {
  url: string;
  namespace: string;
}

const KEY_SEPARATOR = '::';
const UNLINK_BATCH = 1000;

/**
 * Entries shared by every gateway process through Redis. Keys live under `namespace::`, and a
 * sorted set `namespace:index` (scored by expiry time) lists them, so that expiry by pattern
 * reads the gateway's own keys only, never the whole keyspace, and matches them with the same
 * `matcher` rules as the memory store.
 */
export function createRedisStore(options: RedisStoreOptions, logger: Logger): ResponseStore {
  const client = createClient({
    url: options.url,
    // Commands fail at once while disconnected instead of queueing: the cache then fails open.
    disableOfflineQueue: true,
    socket: { connectTimeout: 2000, reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 2000) },
  });
  client.on('error', (error: Error) => logger.debug?.(`Redis: ${error.message}`));
  client.connect().catch(() => undefined);
  const ready = new Promise<void>((resolve) => client.once('ready', () => resolve()));

  const keyv = createKeyv(client, { namespace: options.namespace, throwOnConnectError: false });
  keyv.on('error', () => undefined);
  const index = `${options.namespace}:index`;
  const storedKey = (key: string) => `${options.namespace}${KEY_SEPARATOR}${key}`;

  return {
    keyv,
    isAvailable: () => client.isReady,
    async whenReady(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([ready, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
    },
    async track(key, ttlMs) {
      await client.zAdd(index, { score: Date.now() + ttlMs, value: key });
    },
    async expire(patterns) {
      await client.zRemRangeByScore(index, '-inf', Date.now());
      const expired = selectExpiredKeys(await client.zRange(index, 0, -1), patterns);
      for (let start = 0; start < expired.length; start += UNLINK_BATCH) {
        const batch = expired.slice(start, start + UNLINK_BATCH);
        await client.multi().unlink(batch.map(storedKey)).zRem(index, batch).exec();
      }
      return expired.length;
    },
    async close() {
      if (client.isReady) {
        await client.close();
        return;
      }
      // Still connecting or waiting to reconnect: stop the attempts.
      try {
        client.destroy();
      } catch {
        // Already closed.
      }
    },
  };
}
