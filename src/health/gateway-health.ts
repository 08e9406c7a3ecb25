import { type HttpException, Inject, Injectable, type OnModuleInit, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { HealthCheckService, type HealthIndicatorFunction, HealthIndicatorService } from '@nestjs/terminus';
import type { FastifyInstance, RouteHandlerMethod } from 'fastify';
import type { StoreStats } from '../cache/store-stats.js';
import type { ResolvedGatewayOptions } from '../config/resolve-options.js';
import { GATEWAY_VALIDATED_OPTIONS, STORE_STATS } from '../gateway.constants.js';
import { UpstreamService } from '../upstream/index.js';

/**
 * Liveness and readiness endpoints, mounted on fastify as the module starts so that they exist
 * in both `forRoot` and `forRootAsync`. Static paths win over every gateway route's wildcard
 * in fastify's router: they are never proxied. Readiness turns 503 once shutdown begins. The
 * cache fails open, so a bypassed store (Redis down) leaves readiness up unless `requireCache`
 * says otherwise: behind a readiness probe, every replica would otherwise leave at once.
 */
@Injectable()
export class GatewayHealth implements OnModuleInit {
  constructor(
    @Inject(GATEWAY_VALIDATED_OPTIONS) private readonly options: ResolvedGatewayOptions,
    private readonly adapterHost: HttpAdapterHost,
    private readonly health: HealthCheckService,
    private readonly indicator: HealthIndicatorService,
    private readonly upstreams: UpstreamService,
    @Optional() @Inject(STORE_STATS) private readonly cache?: StoreStats,
  ) {}

  onModuleInit(): void {
    const paths = this.options.health;
    if (!paths) return;
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    fastify.get(paths.liveness, this.answer([]));
    fastify.get(paths.readiness, this.answer(this.readinessChecks(paths.requireCache, paths.requireTargets)));
  }

  private readinessChecks(requireCache: boolean, requireTargets: boolean): HealthIndicatorFunction[] {
    const routes = this.options.routes.length;
    const checks: HealthIndicatorFunction[] = [() => this.indicator.check('config').up({ routes })];
    const { cache } = this;
    const store = this.options.cache?.store;
    if (cache && store) {
      checks.push(() => {
        const bypassed = !cache.usesStore();
        const check = this.indicator.check('cache');
        return bypassed && requireCache ? check.down({ store, bypassed }) : check.up({ store, bypassed });
      });
    }
    if (this.options.routes.some((route) => route.targets.length > 1 || route.healthCheck || route.circuitBreaker)) {
      checks.push(() => {
        const states = this.upstreams.states();
        const details = Object.fromEntries(states.map(({ route, up, targets }) => [route, { up, targets }]));
        const check = this.indicator.check('upstreams');
        return requireTargets && states.some((state) => state.up === 0) ? check.down({ routes: details }) : check.up({ routes: details });
      });
    }
    return checks;
  }

  private answer(checks: HealthIndicatorFunction[]): RouteHandlerMethod {
    return async (_request, reply) => {
      try {
        return await this.health.check(checks);
      } catch (error) {
        // terminus reports a failed or shutting-down check as a ServiceUnavailableException.
        const failure = error as HttpException;
        return reply.code(failure.getStatus()).send(failure.getResponse());
      }
    };
  }
}
