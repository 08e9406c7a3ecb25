export { ProxyService, type ForwardTarget, type Forwarder } from './proxy.service.js';
export { hideContentType, installPassthroughParser, restoreContentType } from './body-passthrough.js';
export { toProxyErrorResponse, UpstreamTimeoutError, BodyTooLargeError } from './proxy-errors.js';
