import { type HttpException, Inject, Injectable, type OnModuleInit, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { HealthCheckService, type HealthIndicatorFunction, HealthIndicatorService } from '@nestjs/terminus';
import type { FastifyInstance, RouteHandlerMethod } from 'fastify';
import type { StoreStats } from '../cache/store-stats.js';
import type { ResolvedGatewayOptions } from '../config/resolve-options.js';
import { GATEWAY_VALIDATED_OPTIONS, STORE_STATS } from '../gateway.constants.js';
import { UpstreamService } from '../upstream/index.js';
import { DrainState } from './drain-state.js';

/** Liveness says only that the process answers, through a drain too: a failed liveness probe restarts a container, it does not drain it. */
const ALIVE = { status: 'ok', info: {}, error: {}, details: {} } as const;
/** terminus's answer while the application shuts down, given from the stop signal on. */
const STOPPING = { status: 'shutting_down', info: {}, error: {}, details: {} } as const;

/**
 * Liveness and readiness endpoints, mounted on fastify as the module starts so that they exist
 * in both `forRoot` and `forRootAsync`. Static paths win over every gateway route's wildcard
 * in fastify's router: they are never proxied. Readiness turns 503 once the gateway is told to
 * stop (`DrainState`), or once the application shuts down; liveness stays 200 until the end. The
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
    private readonly drain: DrainState,
    @Optional() @Inject(STORE_STATS) private readonly cache?: StoreStats,
  ) {}

  onModuleInit(): void {
    const paths = this.options.health;
    if (!paths) return;
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    if (paths.liveness) fastify.get(paths.liveness, async () => ALIVE);
    if (paths.readiness) fastify.get(paths.readiness, this.answerReadiness(this.readinessChecks(paths.requireCache, paths.requireTargets)));
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

  private answerReadiness(checks: HealthIndicatorFunction[]): RouteHandlerMethod {
    return async (_request, reply) => {
      if (this.drain.draining) return reply.code(503).send(STOPPING);
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
