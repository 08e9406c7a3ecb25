export { serveClusterMetrics } from './cluster-metrics.js';
export { GatewayMetrics } from './gateway-metrics.js';
export { type CacheResultLabel, RouteCounters, type UpstreamErrorKind } from './route-counters.js';
export { MetricsEndpoint } from './metrics-endpoint.js';
export { type UpgradeResult, WebSocketCounters } from './websocket-counters.js';
