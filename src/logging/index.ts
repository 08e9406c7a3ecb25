export { type RouteLabel, startAccessLine } from './access-log.js';
export { createGatewayLogger, type GatewayLogger, PinoNestLogger } from './logger.js';
export { assignRequestId, requestIdHeader, X_REQUEST_ID } from './request-id.js';
