export { GatewayModule } from './gateway.module.js';
export type {
  CacheOptions,
  ConnectMiddleware,
  GatewayOptions,
  HttpMethod,
  MiddlewareOption,
  MiddlewareSpec,
  OnRequestHook,
  OnResponseHook,
  RouteHooks,
  MetricsOptions,
  RouteOptions,
  WeightedTarget,
  BalanceMode,
  Duration,
  Size,
  HealthCheckOptions,
  RetryCondition,
  RetryOptions,
  RouteProtocol,
  UpstreamTlsOptions,
} from './config/gateway-options.interface.js';
export { GatewayConfigError, validateGatewayOptions } from './config/gateway-options.schema.js';
export { loadConfigFile } from './config/load-config-file.js';
export { GATEWAY_OPTIONS } from './gateway.constants.js';
export { appendCacheKey, type CacheDirectives, disableCache, type GatewayRequest, ResponseCacheInterceptor } from './cache/index.js';
export { GatewayNestLogger } from './logging/index.js';
