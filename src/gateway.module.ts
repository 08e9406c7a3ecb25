import { type DynamicModule, Inject, Module, type OnApplicationShutdown, type OnModuleInit, Optional, type Provider } from '@nestjs/common';
import { AccessService } from './access/index.js';
import { createResponseStore, ResponseCacheInterceptor, ResponseCacheService, type StoreStats } from './cache/index.js';
import { ApplicationConfig, ExternalContextCreator, HttpAdapterHost } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import type { Server } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { GatewayOptions } from './config/gateway-options.interface.js';
import { resolveValidGatewayOptions } from './config/gateway-options.schema.js';
import { type ResolvedCacheOptions, type ResolvedGatewayOptions, resolveCacheOptions } from './config/resolve-options.js';
import {
  GATEWAY_CACHE_OPTIONS,
  GATEWAY_LOGGER,
  GATEWAY_METRICS,
  GATEWAY_OPTIONS,
  GATEWAY_ROUTES,
  GATEWAY_TRACER,
  GATEWAY_VALIDATED_OPTIONS,
  RESPONSE_STORE,
  STORE_STATS,
} from './gateway.constants.js';
import {
  GATEWAY_ASYNC_OPTIONS_TYPE,
  GATEWAY_OPTIONS_TYPE,
  GatewayConfigurableModule,
} from './gateway.module-definition.js';
import { DashboardEndpoint, PurgeEndpoint } from './admin/index.js';
import { DrainState, GatewayHealth } from './health/index.js';
import { createGatewayLogger, flushLog, type GatewayLogger, GatewayNestLogger } from './logging/index.js';
import { GatewayMetrics, MetricsEndpoint } from './metrics/index.js';
import { ProxyService, WebSocketProxy } from './proxy/index.js';
import { type GatewayTracer, startTracer } from './tracing/index.js';
import { UpstreamService } from './upstream/index.js';
import {
  type CompiledRoute,
  compileRoutes,
  continueOnFirstRead,
  createPipelineContext,
  hostPipeline,
  listenForUpgrades,
  listRoutes,
  mountRoutes,
  RoutePipeline,
  UnroutedRequests,
} from './routes/index.js';

/** The options' pino logger, or a new one on stdout. */
const loggerProvider: Provider = {
  provide: GATEWAY_LOGGER,
  inject: [GATEWAY_VALIDATED_OPTIONS],
  useFactory: (options: ResolvedGatewayOptions) => options.logger ?? createGatewayLogger(),
};

/**
 * The gateway's logger as Nest's: a host app that uses it (`app.useLogger(app.get(GatewayNestLogger))`)
 * writes its own lines and Nest's in the gateway's one JSON line format.
 */
const nestLoggerProvider: Provider = {
  provide: GatewayNestLogger,
  inject: [GATEWAY_LOGGER],
  useFactory: (logger: GatewayLogger) => new GatewayNestLogger(logger),
};

/** The tracer when `tracing` is set, else undefined: a request then makes no tracing call at all. */
const tracerProvider: Provider = {
  provide: GATEWAY_TRACER,
  inject: [GATEWAY_VALIDATED_OPTIONS],
  useFactory: (options: ResolvedGatewayOptions) => (options.tracing ? startTracer(options.tracing) : undefined),
};

/**
 * The metrics, with the cache store's state and the memory store's figures when the cache is on,
 * and the tracer's counts when tracing is; counted for /metrics or the operator page.
 */
const metricsProvider: Provider = {
  provide: GATEWAY_METRICS,
  inject: [GATEWAY_VALIDATED_OPTIONS, GATEWAY_TRACER, { token: STORE_STATS, optional: true }],
  // The operator page reads its figures from the metrics: they count for it too.
  useFactory: (options: ResolvedGatewayOptions, tracer: GatewayTracer | undefined, stats?: StoreStats) =>
    new GatewayMetrics(options.cache ? stats : undefined, options.metrics !== false || options.dashboard !== false, tracer?.counts),
};

/** The process's WebSocket connections: capped, and given the shutdown grace period. */
const webSocketProvider: Provider = {
  provide: WebSocketProxy,
  inject: [GATEWAY_VALIDATED_OPTIONS],
  useFactory: (options: ResolvedGatewayOptions) => new WebSocketProxy(options.websocketMaxConnections, options.server.shutdownGracePeriod),
};

/** What both ways of registering the module provide. */
const commonProviders: Provider[] = [tracerProvider, AccessService, ProxyService, UpstreamService, webSocketProvider, GatewayHealth, DrainState, loggerProvider, nestLoggerProvider, metricsProvider, MetricsEndpoint, DashboardEndpoint];

/** terminus for the health endpoints; a failed check is logged on one line. */
const HEALTH_CHECKS = TerminusModule.forRoot({ errorLogStyle: 'json' });

/** The response cache: a store from the options, the service over it, the interceptor, and what observers read of it. */
const cacheProviders: Provider[] = [
  {
    provide: GATEWAY_CACHE_OPTIONS,
    inject: [GATEWAY_VALIDATED_OPTIONS],
    // `forRootAsync` provides the cache whether it is on or not: a store that is never read costs nothing.
    useFactory: (options: ResolvedGatewayOptions) => options.cache ?? resolveCacheOptions({}),
  },
  {
    provide: RESPONSE_STORE,
    inject: [GATEWAY_CACHE_OPTIONS],
    useFactory: (options: ResolvedCacheOptions) => createResponseStore(options),
  },
  ResponseCacheService,
  ResponseCacheInterceptor,
  PurgeEndpoint,
  { provide: STORE_STATS, inject: [ResponseCacheService], useFactory: (cache: ResponseCacheService) => cache.stats() },
];

/** What a host application's controllers may use: `@UseInterceptors(ResponseCacheInterceptor)`. */
const cacheExports = [ResponseCacheService, ResponseCacheInterceptor];

/**
 * The gateway as a Nest module. `forRoot` validates the options at once; `forRootAsync` resolves
 * them through Nest's DI. Both mount the same route pipelines on fastify as the module
 * initialises (Nest reads `controllers` before any async factory has run, so routes known only
 * then could not be controllers; @nestjs/serve-static mounts its routes the same way).
 */
@Module({})
export class GatewayModule extends GatewayConfigurableModule implements OnModuleInit, OnApplicationShutdown {
  constructor(
    @Inject(GATEWAY_ROUTES) private readonly routes: CompiledRoute[],
    @Inject(GATEWAY_VALIDATED_OPTIONS) private readonly options: ResolvedGatewayOptions,
    @Inject(GATEWAY_LOGGER) private readonly gatewayLogger: GatewayLogger,
    @Inject(GATEWAY_METRICS) private readonly metrics: GatewayMetrics,
    private readonly adapterHost: HttpAdapterHost,
    private readonly contextCreator: ExternalContextCreator,
    private readonly upstreams: UpstreamService,
    private readonly applicationConfig: ApplicationConfig,
    private readonly webSockets: WebSocketProxy,
    private readonly access: AccessService,
    @Inject(GATEWAY_TRACER) private readonly tracer: GatewayTracer | undefined,
    @Optional() private readonly cache?: ResponseCacheService,
  ) {
    super();
    this.fastify();
  }

  /** Registers the gateway with options known now. Invalid options throw here. */
  static override forRoot(options: typeof GATEWAY_OPTIONS_TYPE): DynamicModule {
    const validated = resolveValidGatewayOptions(options);
    const routes = compileRoutes(validated);
    const definition = super.forRoot(options);
    return {
      ...definition,
      imports: [HEALTH_CHECKS],
      providers: [
        ...(definition.providers ?? []),
        ...commonProviders,
        { provide: GATEWAY_VALIDATED_OPTIONS, useValue: validated },
        { provide: GATEWAY_ROUTES, useValue: routes },
        ...(validated.cache ? cacheProviders : []),
      ],
      exports: validated.cache ? [...cacheExports, GatewayNestLogger] : [GatewayNestLogger],
    };
  }

  /** Registers the gateway with options from a factory (e.g. `ConfigService`). */
  static override forRootAsync(options: typeof GATEWAY_ASYNC_OPTIONS_TYPE): DynamicModule {
    const definition = super.forRootAsync(options);
    return {
      ...definition,
      imports: [...(definition.imports ?? []), HEALTH_CHECKS],
      providers: [
        ...(definition.providers ?? []),
        ...commonProviders,
        {
          provide: GATEWAY_VALIDATED_OPTIONS,
          inject: [GATEWAY_OPTIONS],
          useFactory: (given: GatewayOptions) => resolveValidGatewayOptions(given),
        },
        { provide: GATEWAY_ROUTES, inject: [GATEWAY_VALIDATED_OPTIONS], useFactory: compileRoutes },
        // Whether the cache is on is known only once the factory has run.
        ...cacheProviders,
      ],
      exports: [...cacheExports, GatewayNestLogger],
    };
  }

  onModuleInit(): void {
    const fastify = this.fastify();
    const server = this.adapterHost.httpAdapter.getHttpServer() as Server | undefined;
    const context = createPipelineContext({
      options: this.options,
      logger: this.gatewayLogger,
      metrics: this.metrics,
      upstreams: this.upstreams,
      webSockets: this.webSockets,
      access: this.access,
      tracer: this.tracer,
      cache: this.cache,
      maxHeadersCount: server?.maxHeadersCount,
      hostPipeline: hostPipeline(this.applicationConfig, this.contextCreator),
    });
    mountRoutes(fastify, this.routes.map((route) => new RoutePipeline(route, context)), new UnroutedRequests(context.unrouted), this.options.answerUnmatched);
    if (server) continueOnFirstRead(server);
    const webSocketRoutes = this.routes.filter((route) => route.webSocket);
    if (server && webSocketRoutes.length) listenForUpgrades(server, webSocketRoutes.map((route) => route.prefix), this.metrics.webSockets);
    if (this.options.routeListing) {
      const listing = listRoutes(this.routes);
      fastify.get(this.options.routeListing.path, () => listing);
    }
  }

  /** The server has closed: the last access lines, still buffered, go out before the process ends. */
  async onApplicationShutdown(): Promise<void> {
    await this.tracer?.shutdown();
    await flushLog(this.gatewayLogger);
  }

  private fastify(): FastifyInstance {
    const adapter = this.adapterHost.httpAdapter;
    if (adapter?.getType() !== 'fastify') {
      throw new Error('GatewayModule needs the fastify adapter: NestFactory.create(AppModule, new FastifyAdapter())');
    }
    return adapter.getInstance<FastifyInstance>();
  }
}
