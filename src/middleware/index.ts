export { composeMiddlewares, type MiddlewareChain } from './connect-chain.js';
export { resolveMiddleware } from './middleware-registry.js';
export { OnResponseReceiver, runOnRequest, runOnResponseWith } from './route-hooks.js';
