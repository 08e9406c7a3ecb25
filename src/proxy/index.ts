export { ProxyService } from './proxy.service.js';
export { type ForwardRequest, type ForwardTarget, Forwarder, type Forwarding, writeProxyError } from './forwarder.js';
export type { ResponseReceiver, ResponseTap } from './response-tap.js';
export type { ResponseHeaders } from './upstream-headers.js';
export type { UpstreamErrorKind } from './proxy-errors.js';
