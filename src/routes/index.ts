export { compileRoutes, type CompiledRoute } from './compile-routes.js';
export { createRouteController } from './route-controller.factory.js';
export { mountRoutes } from './mount-routes.js';
export { installRouteHooks } from './route-hooks.js';
export { type ListedRoute, listRoutes } from './route-listing.js';
