import cluster from 'node:cluster';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import type { ResolvedGatewayOptions } from '../config/resolve-options.js';
import { GATEWAY_METRICS, GATEWAY_VALIDATED_OPTIONS } from '../gateway.constants.js';
import { workerClusterMetrics } from './cluster-metrics.js';
import { isAllowed, toBlockList } from './peer-allow-list.js';
import type { GatewayMetrics } from './gateway-metrics.js';

/**
 * `GET /metrics` in Prometheus' text format, answered by the gateway itself (never proxied). In a
 * worker pool, any worker answers with the sum over all workers, gathered by the primary.
 */
@Injectable()
export class MetricsEndpoint implements OnModuleInit {
  constructor(
    @Inject(GATEWAY_VALIDATED_OPTIONS) private readonly options: ResolvedGatewayOptions,
    @Inject(GATEWAY_METRICS) private readonly metrics: GatewayMetrics,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  onModuleInit(): void {
    const { metrics } = this.options;
    if (!metrics) return;
    const registry = this.metrics.registry;
    const read = cluster.isWorker ? workerClusterMetrics(registry) : () => registry.metrics();
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    const allowed = toBlockList(metrics.allow);
    fastify.get(metrics.path, async (request, reply) => {
      // Refused as if absent: the endpoint tells who runs what, where.
      if (!isAllowed(allowed, request.raw.socket.remoteAddress)) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'Not Found' });
      const text = await read();
      return reply.type(registry.contentType).send(text);
    });
  }
}
