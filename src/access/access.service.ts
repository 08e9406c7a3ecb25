import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { ResolvedGatewayOptions } from '../config/resolve-options.js';
import { CACHE_CONNECT_WAIT_MS, DEFAULT_CACHE_NAMESPACE, GATEWAY_VALIDATED_OPTIONS } from '../gateway.constants.js';
import { throttledWarning } from '../throttled-warning.js';
import { AddressRules } from './address-rules.js';
import { ApiKeyAuthenticator } from './api-key-authenticator.js';
import { JwtAuthenticator } from './jwt-authenticator.js';
import { RateLimiter } from './rate-limiter.js';
import { createRedisRateStore, type RedisRateStore } from './redis-rate-store.js';
import { RouteAccess } from './route-access.js';

/** Longest a request waits for Redis to count it: past it, the limit decides without Redis. */
export const RATE_LIMIT_REDIS_TIMEOUT_MS = 200;
const STORE_WARNING_INTERVAL_MS = 10_000;

/** What a route's access checks are built from (see `CompiledRoute`). */
export interface AccessRules {
  prefix: string;
  allow: string[];
  deny: string[];
  rateLimits: ResolvedGatewayOptions['routes'][number]['rateLimits'];
  auth?: ResolvedGatewayOptions['routes'][number]['auth'];
}

/**
 * Builds each route's access checks, and owns what they share: one Redis connection per server
 * the limits name, and each route's issuer keys, fetched at start so the first request does
 * not wait for them.
 */
@Injectable()
export class AccessService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly redisStores = new Map<string, RedisRateStore>();
  private readonly authenticators: JwtAuthenticator[] = [];
  private readonly logger = new Logger('Gateway');
  private readonly warnStore = throttledWarning(this.logger, STORE_WARNING_INTERVAL_MS);

  constructor(@Inject(GATEWAY_VALIDATED_OPTIONS) private readonly options: ResolvedGatewayOptions) {}

  /** A route's checks; none when it has no rules, nor do the top-level ones. */
  forRoute(route: AccessRules): { access: RouteAccess; limits: RateLimiter[] } | undefined {
    const addresses = AddressRules.of(this.options, route);
    if (!addresses && route.rateLimits.length === 0 && !route.auth) return undefined;
    const namespace = this.options.cache?.namespace ?? DEFAULT_CACHE_NAMESPACE;
    const limits = route.rateLimits.map(
      (limit) => new RateLimiter(limit, route.prefix, namespace, limit.store === 'redis' ? this.redisStore(limit.redisUrl!) : undefined, limit.onRedisDown),
    );
    const jwt = route.auth?.jwt ? new JwtAuthenticator(route.auth.jwt) : undefined;
    if (route.auth?.jwt && route.auth.jwt.audience === undefined) {
      this.logger.warn(`Route ${route.prefix}: auth.jwt has no audience: a token its issuer made for any of its applications passes`);
    }
    if (jwt) this.authenticators.push(jwt);
    const apiKey = route.auth?.apiKey ? new ApiKeyAuthenticator(route.auth.apiKey.header, route.auth.apiKey.keys) : undefined;
    const warn = (message: string) => this.warnStore(`${message} (route ${route.prefix})`);
    return { access: new RouteAccess(addresses, limits, jwt, route.auth?.jwt?.forwardClaims ?? [], apiKey, warn), limits };
  }

  /** Gives the Redis stores a moment to connect, so limits count in Redis from the first request. */
  async onApplicationBootstrap(): Promise<void> {
    // Not awaited: an issuer down at start delays nothing; the first request that needs its
    // keys meets it (503).
    for (const authenticator of this.authenticators) void authenticator.warmUp();
    await Promise.all(
      [...this.redisStores.values()].map(async (store) => {
        if (!(await store.whenReady(CACHE_CONNECT_WAIT_MS))) this.warnStore(`Rate limit store ${store.url} unreachable at start: limits count as their onRedisDown says until it is back`);
      }),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([...this.redisStores.values()].map((store) => store.close()));
  }

  private redisStore(url: string): RedisRateStore {
    let store = this.redisStores.get(url);
    if (!store) this.redisStores.set(url, (store = createRedisRateStore(url, RATE_LIMIT_REDIS_TIMEOUT_MS)));
    return store;
  }
}
