import { Logger } from '@nestjs/common';
import type { ResolvedCacheOptions } from '../../config/resolve-options.js';
import { createMemoryStore } from './memory.store.js';
import type { ResponseStore } from './response-store.interface.js';

export type { ResponseStore } from './response-store.interface.js';

/**
 * The store the options ask for (validation has made sure a Redis store has its URL). The Redis
 * client is loaded only when asked for: it adds ~17 MiB to every process that never talks to Redis.
 */
export async function createResponseStore(options: ResolvedCacheOptions): Promise<ResponseStore> {
  if (options.store === 'redis') {
    const { createRedisStore } = await import('./redis.store.js');
    return createRedisStore({ url: options.redisUrl!, namespace: options.namespace, maxEntries: options.maxEntries }, new Logger('RedisStore'));
  }
  return createMemoryStore({ maxEntries: options.maxEntries, maxBytes: options.maxBytes, maxEntryBytes: options.maxEntryBytes });
}
