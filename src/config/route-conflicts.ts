import type { ResolvedGatewayOptions } from './resolve-options.js';

/** Fastify tells routes apart by path shape: `/:id` and `/:name` are the same route. */
const routeShape = (path: string) => path.replace(/:[^/]+/g, ':');

/**
 * Method and path pairs claimed twice: by two routes, or by a route and a health endpoint.
 * Fastify would refuse them at start-up with no hint of the field at fault; this names it.
 * A GET route also claims HEAD, which fastify answers for it.
 */
export function findRouteConflicts(options: ResolvedGatewayOptions): string[] {
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
  options.routes.forEach((route, index) => claim(`routes[${index}]`, route.methods, route.paths));
  if (options.health) {
    claim('health.liveness', ['GET'], [options.health.liveness]);
    claim('health.readiness', ['GET'], [options.health.readiness]);
  }
  if (options.metrics) claim('metrics.path', ['GET'], [options.metrics.path]);
  if (options.routeListing) claim('routeListing.path', ['GET'], [options.routeListing.path]);
  return [...new Set(issues)];
}
