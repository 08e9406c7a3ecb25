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
import { createRedisStore } from './redis.store.js';
import type { ResponseStore } from './response-store.interface.js';

export type { ResponseStore } from './response-store.interface.js';

/** The store the options ask for; env `REDIS_URL` overrides `redisUrl`. */
export function createResponseStore(options: CacheOptions, env: NodeJS.ProcessEnv = process.env): ResponseStore {
  const namespace = options.namespace ?? DEFAULT_CACHE_NAMESPACE;
  if (options.store === 'redis') {
    const url = env.REDIS_URL || options.redisUrl;
    if (!url) {
      throw new GatewayConfigError('cache options', ['cache.redisUrl: required by the redis store (or set REDIS_URL)']);
    }
    return createRedisStore({ url, namespace }, new Logger('RedisStore'));
  }
  return createMemoryStore({
    namespace,
    maxEntries: options.maxEntries ?? DEFAULT_CACHE_MAX_ENTRIES,
    maxBytes: options.maxBytes ?? DEFAULT_CACHE_MAX_BYTES,
    maxEntryBytes: options.maxEntryBytes ?? DEFAULT_CACHE_MAX_ENTRY_BYTES,
  });
}
