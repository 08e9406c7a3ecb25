import 'reflect-metadata';
import cluster from 'node:cluster';
import { Logger, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { GatewayConfigError } from './config/gateway-options.schema.js';
import { loadConfigFile } from './config/load-config-file.js';
import { GatewayModule } from './gateway.module.js';
import { createGatewayLogger, type GatewayLogger, PinoNestLogger } from './logging/index.js';
import { serveClusterMetrics } from './metrics/index.js';
import {
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_SHUTDOWN_GRACE_MS,
} from './gateway.constants.js';
import { drainOnSignals, parseWorkerCount, startWorkerPool } from './server/index.js';

const DEFAULT_CONFIG_FILE = './gateway.config.yaml';
const DEFAULT_PORT = 8080;
const DEFAULT_HOST = '0.0.0.0';

async function serve(configFile: string, logger: GatewayLogger): Promise<void> {
  const options = await loadConfigFile(configFile);

  @Module({ imports: [GatewayModule.forRoot({ ...options, logger })] })
  class GatewayAppModule {}

  const server = options.server ?? {};
  const headersTimeout = server.headersTimeout ?? DEFAULT_HEADERS_TIMEOUT_MS;
  const adapter = new FastifyAdapter({
    trustProxy: server.trustProxy ?? false,
    requestTimeout: server.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT_MS,
    keepAliveTimeout: server.keepAliveTimeout ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
    // Node drops clients that are late with their headers only when it checks its connections:
    // checking at a quarter of the timeout keeps a slow client's hold within 1.25 × of it.
    http: { headersTimeout, connectionsCheckingInterval: Math.min(30_000, Math.ceil(headersTimeout / 4)) },
  });
  const app = await NestFactory.create<NestFastifyApplication>(GatewayAppModule, adapter, {
    bodyParser: false,
    logger: new PinoNestLogger(logger),
  });
  drainOnSignals(app, server.shutdownGracePeriod ?? DEFAULT_SHUTDOWN_GRACE_MS, new Logger('Gateway'), (code) => process.exit(code));
  const port = Number(process.env.PORT ?? DEFAULT_PORT);
  await app.listen(port, process.env.HOST ?? DEFAULT_HOST);
  Logger.log(`Gateway listening on ${await app.getUrl()} with ${options.routes.length} route(s) from ${configFile}`, 'Gateway');
}

/** Several processes on one port: the config is checked once here, before any worker starts. */
async function supervise(configFile: string, count: number): Promise<void> {
  await loadConfigFile(configFile);
  const logger = new Logger('Workers');
  serveClusterMetrics();
  const pool = startWorkerPool({ count, log: (message) => logger.warn(message) });
  const stop = () => void pool.stop().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const port = await pool.ready;
  logger.log(`${count} gateway workers listening on port ${port} (pids ${pool.pids().join(', ')})`);
}

async function main(): Promise<void> {
  const configFile = process.env.GATEWAY_CONFIG ?? DEFAULT_CONFIG_FILE;
  const logger = createGatewayLogger();
  Logger.overrideLogger(new PinoNestLogger(logger));
  const workers = cluster.isPrimary ? parseWorkerCount(process.env.GATEWAY_WORKERS) : 1;
  if (workers > 1) await supervise(configFile, workers);
  else await serve(configFile, logger);
}

main().catch((error: unknown) => {
  // A config error is the operator's to fix: its message names the file and every field at fault.
  const message = error instanceof GatewayConfigError ? error.message : (error as Error).stack;
  process.stderr.write(`${message}\n`);
  process.exit(1);
});
