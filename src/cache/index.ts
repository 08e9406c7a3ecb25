export { CacheFill, type CacheResult } from './cache-fill.js';
export type { CacheEntry } from './cache-entry.js';
export type { CacheDirectives } from './cache-key.js';
export { appendCacheKey, disableCache, type GatewayRequest } from './cache-directives.js';
export { type CacheAddress, hitHeaders, lookUpResponse, writeHit } from './cache-lookup.js';
export { ResponseCacheInterceptor } from './response-cache.interceptor.js';
export { ResponseCacheService } from './response-cache.service.js';
export type { StoreCounts, StoreStats } from './store-stats.js';
export { createResponseStore, type ResponseStore } from './stores/index.js';
