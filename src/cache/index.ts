export { cacheResultOf } from './cache-result.js';
export { ResponseCacheInterceptor } from './response-cache.interceptor.js';
export { ResponseCacheService } from './response-cache.service.js';
export { createResponseStore, type ResponseStore } from './stores/index.js';
export type { CacheDirectives } from './cache-key.js';
