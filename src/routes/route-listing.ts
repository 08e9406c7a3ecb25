import { HTTP_METHODS } from '../gateway.constants.js';
import type { CompiledRoute } from './compile-routes.js';
import { mountedMethods } from './mount-routes.js';

/** One route as the listing shows it. */
export interface ListedRoute {
  prefix: string;
  methods: string[];
  target: string;
  /** Every target, when the route has several. */
  targets?: string[];
}

/** The routes as `GET /services.json` shows them (a target never holds credentials: the config refuses them). */
export function listRoutes(routes: CompiledRoute[]): ListedRoute[] {
  return routes.map((route) => {
    const targets = route.upstream.targets.map(({ url }) => url.href);
    const mounted = mountedMethods(route.methods);
    const methods = HTTP_METHODS.filter((method) => mounted.includes(method));
    return { prefix: route.prefix, methods, target: targets[0], ...(targets.length > 1 ? { targets } : {}) };
  });
}
