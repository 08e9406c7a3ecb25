import {
  type DynamicModule,
  Inject,
  type MiddlewareConsumer,
  Module,
  type NestModule,
  type OnModuleInit,
  Optional,
  type Provider,
  RequestMethod,
} from '@nestjs/common';
import { CACHE_MANAGER } from '@nestjs/cache-manager';
import { createCache } from 'cache-manager';
import { createResponseStore, ResponseCacheInterceptor, ResponseCacheService, type ResponseStore } from './cache/index.js';
import { ApplicationConfig, ExternalContextCreator, HttpAdapterHost } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import type { FastifyInstance } from 'fastify';
import type { CacheOptions, GatewayOptions } from './config/gateway-options.interface.js';
import { validateGatewayOptions } from './config/gateway-options.schema.js';
import {
  DEFAULT_MAX_URL_LENGTH,
  DEFAULT_ROUTE_LISTING_PATH,
  GATEWAY_CACHE_OPTIONS,
  GATEWAY_LOGGER,
  GATEWAY_METRICS,
  GATEWAY_OPTIONS,
  GATEWAY_ROUTES,
  GATEWAY_VALIDATED_OPTIONS,
  RESPONSE_STORE,
} from './gateway.constants.js';
import {
  GATEWAY_ASYNC_OPTIONS_TYPE,
  GATEWAY_OPTIONS_TYPE,
  GatewayConfigurableModule,
} from './gateway.module-definition.js';
import { GatewayHealth } from './health/index.js';
import { createGatewayLogger, type GatewayLogger } from './logging/index.js';
import { GatewayMetrics, MetricsEndpoint } from './metrics/index.js';
import { ProxyService } from './proxy/index.js';
import {
  type CompiledRoute,
  compileRoutes,
  createRouteController,
  installRouteHooks,
  listRoutes,
  mountRoutes,
} from './routes/index.js';

/** Whether routes are Nest controllers (`forRoot`) or mounted on fastify at init (`forRootAsync`). */
const ROUTES_AS_CONTROLLERS = 'GATEWAY:ROUTES_AS_CONTROLLERS';

/** The options' pino logger, or a new one on stdout. */
const loggerProvider: Provider = {
  provide: GATEWAY_LOGGER,
  inject: [GATEWAY_VALIDATED_OPTIONS],
  useFactory: (options: GatewayOptions) => options.logger ?? createGatewayLogger(),
};

/** The metrics, with the memory store's figures when there is one. */
const metricsProvider: Provider = {
  provide: GATEWAY_METRICS,
  inject: [GATEWAY_VALIDATED_OPTIONS, { token: RESPONSE_STORE, optional: true }],
  useFactory: (options: GatewayOptions, store?: ResponseStore) => new GatewayMetrics(store?.stats?.bind(store), options.metrics !== false),
};

/** terminus for the health endpoints; a failed check is logged on one line. */
const HEALTH_CHECKS = TerminusModule.forRoot({ errorLogStyle: 'json' });

/** The response cache: a store from the options, cache-manager over it, the service and interceptor. */
const cacheProviders: Provider[] = [
  {
    provide: GATEWAY_CACHE_OPTIONS,
    inject: [GATEWAY_VALIDATED_OPTIONS],
    useFactory: (options: GatewayOptions) => options.cache ?? {},
  },
  {
    provide: RESPONSE_STORE,
    inject: [GATEWAY_CACHE_OPTIONS],
    useFactory: (options: CacheOptions) => createResponseStore(options),
  },
  {
    provide: CACHE_MANAGER,
    inject: [RESPONSE_STORE],
    useFactory: (store: ResponseStore) => createCache({ stores: [store.keyv] }),
  },
  ResponseCacheService,
  ResponseCacheInterceptor,
];

/**
 * The gateway as a Nest module. `forRoot` validates the options at once and registers one
 * controller per route; `forRootAsync` resolves the options through Nest's DI and mounts the
 * same routes on fastify when the module initialises.
 */
@Module({})
export class GatewayModule extends GatewayConfigurableModule implements NestModule, OnModuleInit {
  constructor(
    @Inject(GATEWAY_ROUTES) private readonly routes: CompiledRoute[],
    @Inject(ROUTES_AS_CONTROLLERS) private readonly routesAsControllers: boolean,
    @Inject(GATEWAY_VALIDATED_OPTIONS) private readonly options: GatewayOptions,
    @Inject(GATEWAY_LOGGER) logger: GatewayLogger,
    @Inject(GATEWAY_METRICS) metrics: GatewayMetrics,
    private readonly adapterHost: HttpAdapterHost,
    private readonly contextCreator: ExternalContextCreator,
    private readonly proxy: ProxyService,
    applicationConfig: ApplicationConfig,
    @Optional() private readonly cacheInterceptor?: ResponseCacheInterceptor,
  ) {
    super();
    // Before Nest registers the routes (`forRoot`) or this module mounts them (`forRootAsync`).
    const hasGlobalGuards = () =>
      applicationConfig.getGlobalGuards().length + applicationConfig.getGlobalRequestGuards().length > 0;
    installRouteHooks(this.fastify(), {
      hasGlobalGuards,
      maxUrlLength: options.maxUrlLength ?? DEFAULT_MAX_URL_LENGTH,
      cacheInterceptor,
      // Decided once: a level that filters access lines out costs no call per request.
      accessLog: options.accessLog !== false && logger.isLevelEnabled('info') ? logger : undefined,
      metrics,
    });
  }

  /** Registers the gateway with options known now. Invalid options throw here. */
  static override forRoot(options: typeof GATEWAY_OPTIONS_TYPE): DynamicModule {
    const validated = validateGatewayOptions(options);
    const routes = compileRoutes(validated);
    const definition = super.forRoot(validated);
    return {
      ...definition,
      imports: [HEALTH_CHECKS],
      controllers: routes.map((route) => createRouteController(route)),
      providers: [
        ...(definition.providers ?? []),
        ProxyService,
        GatewayHealth,
        loggerProvider,
        metricsProvider,
        MetricsEndpoint,
        { provide: GATEWAY_VALIDATED_OPTIONS, useValue: validated },
        { provide: GATEWAY_ROUTES, useValue: routes },
        { provide: ROUTES_AS_CONTROLLERS, useValue: true },
        ...(validated.cache ? cacheProviders : []),
      ],
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
        ProxyService,
        GatewayHealth,
        loggerProvider,
        metricsProvider,
        MetricsEndpoint,
        {
          provide: GATEWAY_VALIDATED_OPTIONS,
          inject: [GATEWAY_OPTIONS],
          useFactory: (resolved: GatewayOptions) => validateGatewayOptions(resolved),
        },
        { provide: GATEWAY_ROUTES, inject: [GATEWAY_VALIDATED_OPTIONS], useFactory: compileRoutes },
        { provide: ROUTES_AS_CONTROLLERS, useValue: false },
        // Whether the cache is on is known only once the factory has run.
        ...cacheProviders,
      ],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    for (const route of this.routes) {
      if (route.middlewares.length === 0) continue;
      consumer
        .apply(...route.middlewares)
        .forRoutes(...route.middlewarePaths.map((path) => ({ path, method: RequestMethod.ALL })));
    }
  }

  onModuleInit(): void {
    if (!this.routesAsControllers) {
      mountRoutes(this.fastify(), this.routes, this.proxy, this.contextCreator, this.cacheInterceptor!);
    }
    if (this.options.routeListing) {
      const listing = listRoutes(this.routes);
      this.fastify().get(this.options.routeListing.path ?? DEFAULT_ROUTE_LISTING_PATH, () => listing);
    }
  }

  private fastify(): FastifyInstance {
    const adapter = this.adapterHost.httpAdapter;
    if (adapter?.getType() !== 'fastify') {
      throw new Error('GatewayModule needs the fastify adapter: NestFactory.create(AppModule, new FastifyAdapter())');
    }
    return adapter.getInstance<FastifyInstance>();
  }
}
