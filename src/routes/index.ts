export { compileRoutes, type CompiledRoute } from './compile-routes.js';
export { continueOnFirstRead } from './continue-on-read.js';
export { Exchange, type ExchangeStages } from './exchange.js';
export { hostPipeline } from './host-pipeline.js';
export { mountedMethods, mountRoutes } from './mount-routes.js';
export { createPipelineContext, type PipelineServices } from './pipeline-context.js';
export { type GuardedStages, type PipelineContext, RouteExchange, RoutePipeline } from './route-pipeline.js';
export { type ListedRoute, listRoutes } from './route-listing.js';
export { listenForUpgrades, type UpgradeContext, UpgradeStage } from './upgrade-pipeline.js';
