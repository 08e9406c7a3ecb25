import { HTTP_METHODS } from '../gateway.constants.js';
import type { ResolvedGatewayOptions } from './resolve-options.js';

/** Fastify tells routes apart by path shape: `/:id` and `/:name` are the same route. */
const routeShape = (path: string) => path.replace(/:[^/]+/g, ':');

/**
 * Method and path pairs claimed twice: by two routes, or by a route and a health endpoint.
 * Fastify would refuse them at start-up with no hint of the field at fault; this names it.
 * A GET route also claims HEAD, which fastify answers for it. A route within the operator page's
 * path is refused too: the gateway answers there, before any route.
 */
export function findRouteConflicts(options: ResolvedGatewayOptions): string[] {
  const owners = new Map<string, string>();
  const claims = new Map<string, number>();
  // What each field claims that another already had, by that owner: one issue per pair.
  const taken = new Map<string, { field: string; owner: string; methods: Set<string>; paths: Set<string>; count: number }>();
  const claim = (field: string, methods: readonly string[], paths: string[]) => {
    for (const path of paths) {
      for (const method of methods.includes('GET') ? [...methods, 'HEAD'] : methods) {
        const key = `${method} ${routeShape(path)}`;
        claims.set(field, (claims.get(field) ?? 0) + 1);
        const owner = owners.get(key);
        if (owner === undefined) owners.set(key, field);
        else if (owner !== field) {
          const pair = `${field} ${owner}`;
          const clash = taken.get(pair) ?? { field, owner, methods: new Set<string>(), paths: new Set<string>(), count: 0 };
          clash.count += 1;
          clash.methods.add(method);
          clash.paths.add(path);
          taken.set(pair, clash);
        }
      }
    }
  };
  const { dashboard } = options;
  // The page's whole tree is the gateway's: a route there is refused below, whatever its paths.
  const outsideDashboard = (path: string) => !dashboard || !isUnder(path, dashboard.path);
  options.routes.forEach((route, index) => {
    if (outsideDashboard(route.prefix)) claim(`routes[${index}]`, route.methods, route.paths);
  });
  if (options.health) {
    if (options.health.liveness) claim('health.liveness', ['GET'], [options.health.liveness]);
    if (options.health.readiness) claim('health.readiness', ['GET'], [options.health.readiness]);
  }
  if (options.metrics) claim('metrics.path', ['GET'], [options.metrics.path]);
  if (options.routeListing) claim('routeListing.path', ['GET'], [options.routeListing.path]);
  // Every method: only POST purges, and the others are refused there rather than forwarded.
  if (options.cache?.purge) claim('cache.purge.path', HTTP_METHODS, [options.cache.purge.path]);
  // The gateway's other endpoints may sit in the page's tree (the purge API's default does):
  // fastify matches their static paths first. The page's own paths are its alone.
  if (dashboard) claim('dashboard.path', HTTP_METHODS, dashboardPaths(dashboard.path));
  const prefixOf = (field: string) => options.routes[Number(/^routes\[(\d+)\]$/.exec(field)?.[1] ?? -1)]?.prefix;
  const issues = [...taken.values()].map(({ field, owner, methods, paths, count }) => {
    const prefix = prefixOf(field);
    const everything = count === claims.get(field);
    if (everything && prefix !== undefined && prefix === prefixOf(owner)) return `${field}: duplicate prefix ${prefix}, already served by ${owner}`;
    return `${field}: ${[...methods].join(', ')} ${[...paths].join(', ')} already served by ${owner}`;
  });
  if (!dashboard) return issues;
  options.routes.forEach((route, index) => {
    if (isUnder(route.prefix, dashboard.path)) issues.push(`routes[${index}].prefix: ${route.prefix} is within dashboard.path ${dashboard.path}, the gateway's own`);
  });
  return issues;
}

/** Whether `prefix` is `path` (with or without its last `/`) or below it. */
function isUnder(prefix: string, path: string): boolean {
  return `${prefix.replace(/\/+$/, '')}/`.startsWith(path);
}

/** The operator page's paths: the page (also without its last `/`) and its data. */
export function dashboardPaths(path: string): string[] {
  return [path.slice(0, -1), path, `${path}api/state`, `${path}api/events`];
}
