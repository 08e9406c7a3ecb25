export { DrainState } from './drain-state.js';
export { GatewayHealth } from './gateway-health.js';
