import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import type { UpstreamTls } from '../proxy/forward-contracts.js';
import type { RouteOptions, UpstreamTlsOptions } from './gateway-options.interface.js';

type RouteTargets = Pick<RouteOptions, 'target' | 'targets'>;

/** Every target URL of a route as given, whichever of `target` and `targets` it used. */
export function routeTargetUrls(route: RouteTargets): string[] {
  if (route.targets) return route.targets.map((target) => (typeof target === 'string' ? target : target.url));
  return route.target === undefined ? [] : [route.target];
}

// What a pool does between several targets rests on replaying a request or counting its
// answers by status; a gRPC call is a stream that cannot be replayed, its status a trailer.
const POOL_ONLY = ['healthCheck', 'circuitBreaker', 'discovery', 'outlierDetection', 'balance', 'hashOn'] as const;

/** What a `protocol: grpc` route may not have, at the field it is at. */
export function grpcRouteIssues(route: RouteTargets & Pick<RouteOptions, 'protocol' | 'retries' | (typeof POOL_ONLY)[number]>): { path: PropertyKey[]; message: string }[] {
  if (route.protocol !== 'grpc') return [];
  const issues: { path: PropertyKey[]; message: string }[] = [];
  if (routeTargetUrls(route).length > 1) issues.push({ path: ['targets'], message: 'protocol: grpc takes one target' });
  const retries = typeof route.retries === 'object' ? route.retries.attempts : route.retries;
  if (retries) issues.push({ path: ['retries'], message: 'gRPC calls are never retried (a stream cannot be sent again)' });
  for (const key of POOL_ONLY) if (route[key] !== undefined) issues.push({ path: [key], message: 'not with protocol: grpc (one target, no pool)' });
  return issues;
}

/** A config file's gRPC routes need the standalone listener to speak HTTP/2. */
export function requireHttp2ForGrpc(value: { routes: { protocol?: string }[]; server?: object }, context: z.core.$RefinementCtx): void {
  if ((value.server as { http2?: boolean } | undefined)?.http2 === true) return;
  value.routes.forEach((route, index) => {
    if (route.protocol === 'grpc') context.addIssue({ code: 'custom', path: ['routes', index, 'protocol'], message: 'grpc needs server.http2: true (gRPC is HTTP/2 end to end)' });
  });
}

/**
 * Reads a route's TLS files, once; `field` is the option's path for the issues (`routes[0].tls`),
 * one per file that cannot be read.
 */
export function readUpstreamTls(tls: UpstreamTlsOptions, field: string): { material: UpstreamTls; issues: string[] } {
  const issues: string[] = [];
  const read = (key: 'ca' | 'cert' | 'key'): Buffer | undefined => {
    const file = tls[key];
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (error) {
      issues.push(`${field}.${key}: cannot read ${file} (${(error as NodeJS.ErrnoException).code})`);
      return undefined;
    }
  };
  return { material: { ca: read('ca'), cert: read('cert'), key: read('key'), servername: tls.servername }, issues };
}
