export { GatewayHealth } from './gateway-health.js';
