import { type HttpException, Inject, Injectable, type OnModuleInit, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { HealthCheckService, type HealthIndicatorFunction, HealthIndicatorService } from '@nestjs/terminus';
import type { FastifyInstance, RouteHandlerMethod } from 'fastify';
import type { ResponseStore } from '../cache/index.js';
import type { ResolvedGatewayOptions } from '../config/resolve-options.js';
import { GATEWAY_VALIDATED_OPTIONS, RESPONSE_STORE } from '../gateway.constants.js';

/**
 * Liveness and readiness endpoints, mounted on fastify as the module starts so that they exist
 * in both `forRoot` and `forRootAsync`. Static paths win over every gateway route's wildcard
 * in fastify's router: they are never proxied. Readiness turns 503 once shutdown begins.
 */
@Injectable()
export class GatewayHealth implements OnModuleInit {
  constructor(
    @Inject(GATEWAY_VALIDATED_OPTIONS) private readonly options: ResolvedGatewayOptions,
    private readonly adapterHost: HttpAdapterHost,
    private readonly health: HealthCheckService,
    private readonly indicator: HealthIndicatorService,
    @Optional() @Inject(RESPONSE_STORE) private readonly store?: ResponseStore,
  ) {}

  onModuleInit(): void {
    const paths = this.options.health;
    if (!paths) return;
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    fastify.get(paths.liveness, this.answer([]));
    fastify.get(paths.readiness, this.answer(this.readinessChecks()));
  }

  private readinessChecks(): HealthIndicatorFunction[] {
    const routes = this.options.routes.length;
    const checks: HealthIndicatorFunction[] = [() => this.indicator.check('config').up({ routes })];
    const store = this.store;
    if (store) {
      const name = this.options.cache?.store ?? 'memory';
      checks.push(() => {
        const cache = this.indicator.check('cache');
        return store.isAvailable() ? cache.up({ store: name }) : cache.down({ store: name });
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
