export { type LoggedExchange, type RouteLabel, writeAccessLine } from './access-log.js';
export { createGatewayLogger, type GatewayLogger, PinoNestLogger } from './logger.js';
export { assignRequestId } from './request-id.js';
