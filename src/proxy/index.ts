export { ProxyService } from './proxy.service.js';
export { type ForwardTarget, Forwarder } from './forwarder.js';
export type { ProxyReport, ResponseReceiver, ResponseTap } from './response-tap.js';
export type { ClientView, ResponseHeaders } from './upstream-headers.js';
export type { UpstreamErrorKind } from './proxy-errors.js';
