export { type LoggedExchange, type LoggedWebSocket, type RouteLabel, writeAccessLine, writeWebSocketLine } from './access-log.js';
export { flushLog } from './buffered-stdout.js';
export { createGatewayLogger, type GatewayLogger, infoLineWriter, type InfoLineWriter, GatewayNestLogger } from './logger.js';
export { assignRequestId } from './request-id.js';
