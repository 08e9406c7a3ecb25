import type { GatewayOptions } from '../config/gateway-options.interface.js';
import {
  DEFAULT_HEALTH_PATHS,
  DEFAULT_METRICS_PATH,
  DEFAULT_PATH_REGEX,
  DEFAULT_ROUTE_LISTING_PATH,
  HTTP_METHODS,
} from '../gateway.constants.js';
import { toRoutePaths } from './path-pattern.js';

/** Fastify tells routes apart by path shape: `/:id` and `/:name` are the same route. */
const routeShape = (path: string) => path.replace(/:[^/]+/g, ':');

/**
 * Method and path pairs claimed twice: by two routes, or by a route and a health endpoint.
 * Fastify would refuse them at start-up with no hint of the field at fault; this names it.
 * A GET route also claims HEAD, which fastify answers for it.
 */
export function findRouteConflicts(options: GatewayOptions): string[] {
  const owners = new Map<string, string>();
  const issues: string[] = [];
  const claim = (field: string, methods: readonly string[], paths: string[]) => {
    for (const path of paths) {
      for (const method of methods.includes('GET') ? [...methods, 'HEAD'] : methods) {
        const key = `${method} ${routeShape(path)}`;
        const owner = owners.get(key);
        if (owner === undefined) owners.set(key, field);
        else if (owner !== field) issues.push(`${field}: ${method} ${path} is already served by ${owner}`);
      }
    }
  };
  options.routes.forEach((route, index) => {
    const paths = toRoutePaths(route.prefix, route.pathRegex ?? options.pathRegex ?? DEFAULT_PATH_REGEX);
    claim(`routes[${index}]`, route.methods ?? HTTP_METHODS, paths);
  });
  if (options.health !== false) {
    const health = { ...DEFAULT_HEALTH_PATHS, ...options.health };
    claim('health.liveness', ['GET'], [health.liveness]);
    claim('health.readiness', ['GET'], [health.readiness]);
  }
  if (options.metrics !== false) claim('metrics.path', ['GET'], [options.metrics?.path ?? DEFAULT_METRICS_PATH]);
  if (options.routeListing) claim('routeListing.path', ['GET'], [options.routeListing.path ?? DEFAULT_ROUTE_LISTING_PATH]);
  return [...new Set(issues)];
}
