import { Logger } from '@nestjs/common';
import type { ResolvedGatewayOptions } from '../config/resolve-options.js';
import type { AccessService } from '../access/index.js';
import type { ResponseCacheService } from '../cache/index.js';
import { UPSTREAM_WARNING_INTERVAL_MS } from '../gateway.constants.js';
import { type GatewayLogger, infoLineWriter, type InfoLineWriter, writeAccessLine, writeWebSocketLine } from '../logging/index.js';
import type { GatewayMetrics } from '../metrics/index.js';
import type { GatewayTracer } from '../tracing/index.js';
import type { WebSocketProxy } from '../proxy/index.js';
import { throttledWarning } from '../throttled-warning.js';
import type { RouteUpstream, UpstreamService } from '../upstream/index.js';
import type { CompiledRoute } from './compile-routes.js';
import type { ExchangeStages } from './exchange.js';
import type { GuardedStages, PipelineContext } from './route-pipeline.js';
import { UNROUTED } from './unrouted.js';
import { UpgradeStage } from './upgrade-pipeline.js';

const NO_ROUTE = { prefix: UNROUTED, target: UNROUTED };

// Node's default `maxHeadersCount`, when the server leaves it unset.
const NODE_MAX_HEADERS_COUNT = 2000;

/** What the route pipelines are built from: the module's providers and the HTTP server's limits. */
export interface PipelineServices {
  options: ResolvedGatewayOptions;
  logger: GatewayLogger;
  metrics: GatewayMetrics;
  upstreams: UpstreamService;
  webSockets: WebSocketProxy;
  /** Present when the cache is on. */
  cache?: ResponseCacheService;
  /** Node's `maxHeadersCount` of the server, when it sets one. */
  maxHeadersCount?: number | null;
  /** The host application's global guards and interceptors, when it has any (`hostPipeline`). */
  hostPipeline?: (stages: GuardedStages) => GuardedStages;
  access: AccessService;
  /** Present when tracing is on. */
  tracer?: GatewayTracer;
}

/** What every route's pipeline shares, decided once: a route's stage that is off costs no call per request. */
export function createPipelineContext(services: PipelineServices): PipelineContext & { unrouted: ExchangeStages } {
  const { options, logger, metrics } = services;
  const writeLine = options.accessLog && logger.isLevelEnabled('info') ? infoLineWriter(logger) : undefined;
  const warnUpstreamError = throttledWarning(new Logger('Gateway'), UPSTREAM_WARNING_INTERVAL_MS);
  return {
    upstreams: services.upstreams,
    tracer: services.tracer,
    accessFor: (route) => services.access.forRoute(route),
    cache: options.cache ? services.cache : undefined,
    countersFor: (route) => metrics.forRoute(route.prefix),
    accessLineFor: (route) => (writeLine ? accessLineOf(writeLine, route) : undefined),
    maxUrlLength: options.maxUrlLength,
    maxHeadersCount: services.maxHeadersCount || NODE_MAX_HEADERS_COUNT,
    hostPipeline: services.hostPipeline,
    upgradeStageFor: (route, upstream) => upgradeStageOf(route, upstream, services, writeLine),
    unrouted: {
      counters: metrics.forRoute(UNROUTED),
      accessLine: writeLine ? (exchange, res) => writeAccessLine(writeLine, NO_ROUTE, exchange, res, undefined) : undefined,
    },
    upstreamFailed: (route, kind, exchange) => {
      if (kind !== 'timeout') {
        warnUpstreamError(`Upstream error for ${exchange.request.raw.method} ${exchange.request.originalUrl} on ${route.prefix}: ${kind}`);
      }
    },
  };
}

/** A route's access line. */
function accessLineOf(writeLine: InfoLineWriter, route: CompiledRoute): ExchangeStages['accessLine'] {
  const label = { prefix: route.prefix, target: route.forward.target.href };
  return (exchange, res, cache) => writeAccessLine(writeLine, label, exchange, res, cache);
}

/** The last stage of a route's WebSocket upgrades, and the access line of its connections. */
function upgradeStageOf(route: CompiledRoute, upstream: RouteUpstream, services: PipelineServices, writeLine: InfoLineWriter | undefined): UpgradeStage | undefined {
  if (!route.webSocket) return undefined;
  // Each connection's line names the target it went to.
  const label = { prefix: route.prefix };
  return new UpgradeStage(route.webSocket, upstream, {
    proxy: services.webSockets,
    counters: services.metrics.webSockets,
    line: writeLine ? (exchange, traffic) => writeWebSocketLine(writeLine, label, exchange, traffic) : undefined,
    cache: route.cached && services.options.cache ? services.cache : undefined,
    prefix: route.prefix,
  });
}
