import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { RouteCounters } from '../metrics/index.js';
import { type Forwarder, type ForwardRequest, type Forwarding, type ForwardTarget, ProxyService, type UpgradeTargets } from '../proxy/index.js';
import { throttledWarning } from '../throttled-warning.js';
import type { PoolTarget } from './dns-discovery.js';
import { UpstreamPool, type UpstreamSettings } from './upstream-pool.js';

/** One warning a minute at most while a name cannot be resolved. */
const DISCOVERY_WARNING_INTERVAL_MS = 60_000;

/** What upstreams need of a route: its name for logs, its targets and their rules, how to forward. */
export interface UpstreamRoute {
  readonly prefix: string;
  readonly upstream: UpstreamSettings;
  /** How requests are forwarded; each target's forwarder takes its own URL in place of `target`. */
  readonly forward: ForwardTarget;
}

/** How a route's pipeline hands a request over: to its one target, or to its pool of targets. */
export interface RouteUpstream extends UpgradeTargets {
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
  private readonly warnDiscovery = throttledWarning(this.logger, DISCOVERY_WARNING_INTERVAL_MS);
  private readonly pools: { prefix: string; pool: UpstreamPool }[] = [];

  constructor(private readonly proxy: ProxyService) {}

  for(route: UpstreamRoute, counters: RouteCounters): RouteUpstream {
    const { upstream, forward } = route;
    // One target, no pool: a call is a stream, never sent again (the schema allows nothing else).
    if (forward.protocol === 'grpc') return this.proxy.grpcForwarder(forward);
    const plain = upstream.targets.length === 1 && !upstream.healthCheck && !upstream.circuitBreaker && !upstream.discovery && upstream.retries.attempts === 0;
    if (plain) return this.proxy.forwarder(forward);
    const forwarders = {
      create: (target: PoolTarget) => this.proxy.forwarder({ ...forward, target: target.url, host: target.host }),
      release: (forwarder: Forwarder) => this.proxy.release(forwarder),
    };
    const pool = new UpstreamPool(upstream, forwarders, {
      retried: () => (counters.retries += 1),
      ejected: (member) => {
        counters.ejections += 1;
        this.logger.warn(`${route.prefix}: target ${member.href} ejected after repeated failures (ejection ${member.ejections})`);
      },
      discovered: (targets) => this.logger.log(`${route.prefix}: DNS discovery found ${targets.length} target(s): ${targets.join(', ')}`),
      discoveryFailed: (name, error) => this.warnDiscovery(`${route.prefix}: DNS discovery could not resolve ${name} (${error.message}): keeping the targets it had`),
      breakerOpened: (member) => this.logger.warn(`${route.prefix}: target ${member.href} failing too often: its circuit breaker opened`),
      checked: (_member, passed) => (counters.healthChecks[passed ? 'pass' : 'fail'] += 1),
      healthChanged: (member, healthy) => {
        if (healthy) this.logger.log(`${route.prefix}: target ${member.href} passes its health checks again`);
        else this.logger.warn(`${route.prefix}: target ${member.href} fails its health checks: taken out`);
      },
    });
    counters.targets = () =>
      pool.members.map((member) => {
        const state = member.state();
        return { target: member.href, up: state === 'healthy', ejected: state === 'ejected' };
      });
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
