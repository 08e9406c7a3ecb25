export { HooksInterceptor } from './hooks.interceptor.js';
export { resolveMiddleware, BUILTIN_MIDDLEWARES } from './middleware-registry.js';
