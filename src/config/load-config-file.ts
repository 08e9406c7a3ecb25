import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { GatewayOptions } from './gateway-options.interface.js';
import { GatewayConfigError, validateGatewayConfigFile } from './gateway-options.schema.js';

/** What the environment of the standalone gateway overrides in its file. */
export interface ConfigOverrides {
  /** Replaces `cache.redisUrl` and the `redisUrl` of every rate limit counted in Redis (env `REDIS_URL`). */
  redisUrl?: string;
  /** Replaces `cache.purge.token`, turning the purge API on where the file has a cache (env `GATEWAY_CACHE_PURGE_TOKEN`). */
  purgeToken?: string;
  /** Replaces `dashboard.token` where the file has a dashboard (env `GATEWAY_DASHBOARD_TOKEN`). */
  dashboardToken?: string;
}

/** The overrides the standalone gateway's environment gives. */
export function overridesFromEnvironment(env: NodeJS.ProcessEnv = process.env): ConfigOverrides {
  return { redisUrl: env.REDIS_URL, purgeToken: env.GATEWAY_CACHE_PURGE_TOKEN, dashboardToken: env.GATEWAY_DASHBOARD_TOKEN };
}

/** Reads a YAML (`.yaml`, `.yml`) or JSON (`.json`) config file, applies the overrides and validates it. */
export async function loadConfigFile(path: string, overrides: ConfigOverrides = {}): Promise<GatewayOptions> {
  const file = resolve(path);
  const extension = extname(file).toLowerCase();
  if (!['.yaml', '.yml', '.json'].includes(extension)) {
    throw new GatewayConfigError(file, [`(file): expected a .yaml, .yml or .json file, got '${extension}'`]);
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new GatewayConfigError(file, [`(file): cannot be read: ${(error as Error).message}`]);
  }
  let data: unknown;
  try {
    data = extension === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new GatewayConfigError(file, [`(file): not valid ${extension === '.json' ? 'JSON' : 'YAML'}: ${(error as Error).message}`]);
  }
  const cache = (data as { cache?: unknown } | null)?.cache;
  if (typeof cache === 'object' && cache !== null) {
    const fields = cache as { redisUrl?: string; purge?: unknown };
    if (overrides.redisUrl) fields.redisUrl = overrides.redisUrl;
    if (overrides.purgeToken) fields.purge = { ...(typeof fields.purge === 'object' ? fields.purge : {}), token: overrides.purgeToken };
  }
  if (overrides.redisUrl) for (const limit of redisRateLimits(data)) limit.redisUrl = overrides.redisUrl;
  const dashboard = (data as { dashboard?: unknown } | null)?.dashboard;
  // Only where the file asks for the page: a token alone does not put it on.
  if (overrides.dashboardToken && typeof dashboard === 'object' && dashboard !== null) (dashboard as { token?: string }).token = overrides.dashboardToken;
  return validateGatewayConfigFile(data, file);
}

/** The rate limits of a file's routes that name the `redis` store, as the file gives them (not yet validated). */
function redisRateLimits(data: unknown): { redisUrl?: string }[] {
  const routes = (data as { routes?: unknown } | null)?.routes;
  if (!Array.isArray(routes)) return [];
  return routes
    .flatMap((route: { rateLimit?: unknown } | null) => {
      const limits = route?.rateLimit;
      return Array.isArray(limits) ? limits : [limits];
    })
    .filter((limit): limit is { store: 'redis'; redisUrl?: string } => typeof limit === 'object' && limit !== null && (limit as { store?: unknown }).store === 'redis');
}
