export { AccessService, type AccessRules } from './access.service.js';
export { type GatedExchange, type RefusalReason, RouteAccess } from './route-access.js';
export type { RateLimiter } from './rate-limiter.js';
