import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { RouteCounters } from '../metrics/index.js';
import { type ForwardRequest, type Forwarding, ProxyService } from '../proxy/index.js';
import type { CompiledRoute } from '../routes/compile-routes.js';
import { UpstreamPool } from './upstream-pool.js';

/** How a route's pipeline hands a request over: to its one target, or to its pool of targets. */
export interface RouteUpstream {
  forward(request: ForwardRequest): Forwarding | undefined;
}

/**
 * Builds what each route forwards through. A route with one target, no checks and no retries
 * gets its forwarder as it is (the fast path); any other gets a pool. Starts the active health
 * checks once the application is up and stops them on shutdown.
 */
@Injectable()
export class UpstreamService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Upstream');
  private readonly pools: { prefix: string; pool: UpstreamPool }[] = [];

  constructor(private readonly proxy: ProxyService) {}

  for(route: CompiledRoute, counters: RouteCounters): RouteUpstream {
    const { upstream, forward } = route;
    if (upstream.targets.length === 1 && !upstream.healthCheck && !upstream.circuitBreaker && upstream.retries.attempts === 0) return this.proxy.forwarder(forward);
    const pool = new UpstreamPool(upstream, (url) => this.proxy.forwarder({ ...forward, target: url }), {
      retried: () => (counters.retries += 1),
      ejected: (member) => {
        counters.ejections += 1;
        this.logger.warn(`${route.prefix}: target ${member.href} ejected after repeated failures (ejection ${member.ejections})`);
      },
      breakerOpened: (member) => this.logger.warn(`${route.prefix}: target ${member.href} failing too often: its circuit breaker opened`),
      healthChanged: (member, healthy) => {
        if (healthy) this.logger.log(`${route.prefix}: target ${member.href} passes its health checks again`);
        else this.logger.warn(`${route.prefix}: target ${member.href} fails its health checks: taken out`);
      },
    });
    counters.targets = () => pool.members.map((member) => ({ target: member.href, up: member.state() === 'healthy' }));
    this.pools.push({ prefix: route.prefix, pool });
    return pool;
  }

  /** Per route with a pool: how many of its targets take requests now. */
  states(): { route: string; up: number; targets: number }[] {
    const now = Date.now();
    return this.pools.map(({ prefix, pool }) => ({ route: prefix, up: pool.members.filter((member) => member.takesRequests(now)).length, targets: pool.members.length }));
  }

  onApplicationBootstrap(): void {
    for (const { pool } of this.pools) pool.start();
  }

  onApplicationShutdown(): void {
    for (const { pool } of this.pools) pool.stop();
  }
}
