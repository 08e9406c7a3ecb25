import { Logger } from '@nestjs/common';
import type { CacheOptions } from '../../config/gateway-options.interface.js';
import { GatewayConfigError } from '../../config/gateway-options.schema.js';
import {
  DEFAULT_CACHE_MAX_BYTES,
  DEFAULT_CACHE_MAX_ENTRIES,
  DEFAULT_CACHE_MAX_ENTRY_BYTES,
  DEFAULT_CACHE_NAMESPACE,
} from '../../gateway.constants.js';
import { createMemoryStore } from './memory.store.js';
import type { ResponseStore } from './response-store.interface.js';

export type { ResponseStore } from './response-store.interface.js';

/**
 * The store the options ask for; env `REDIS_URL` overrides `redisUrl`. The Redis client is loaded
 * only when asked for: it adds ~17 MiB to every process that never talks to Redis.
 */
export async function createResponseStore(
  options: CacheOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ResponseStore> {
  const namespace = options.namespace ?? DEFAULT_CACHE_NAMESPACE;
  if (options.store === 'redis') {
    const url = env.REDIS_URL || options.redisUrl;
    if (!url) {
      throw new GatewayConfigError('cache options', ['cache.redisUrl: required by the redis store (or set REDIS_URL)']);
    }
    const { createRedisStore } = await import('./redis.store.js');
    return createRedisStore({ url, namespace }, new Logger('RedisStore'));
  }
  return createMemoryStore({
    namespace,
    maxEntries: options.maxEntries ?? DEFAULT_CACHE_MAX_ENTRIES,
    maxBytes: options.maxBytes ?? DEFAULT_CACHE_MAX_BYTES,
    maxEntryBytes: options.maxEntryBytes ?? DEFAULT_CACHE_MAX_ENTRY_BYTES,
  });
}
