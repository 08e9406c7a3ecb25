export { serveClusterMetrics } from './cluster-metrics.js';
export { GatewayMetrics, type UpstreamErrorKind } from './gateway-metrics.js';
export { MetricsEndpoint } from './metrics-endpoint.js';
