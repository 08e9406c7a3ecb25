import 'reflect-metadata';
import cluster from 'node:cluster';
import { Logger, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { GatewayConfigError } from './config/gateway-options.schema.js';
import { loadConfigFile } from './config/load-config-file.js';
import { resolveGatewayOptions } from './config/resolve-options.js';
import { GatewayModule } from './gateway.module.js';
import { createGatewayLogger, type GatewayLogger, PinoNestLogger } from './logging/index.js';
import { serveClusterMetrics } from './metrics/index.js';
import { drainOnSignals, parseWorkerCount, reloadOnChange, startWorkerPool } from './server/index.js';

const DEFAULT_CONFIG_FILE = './gateway.config.yaml';
const DEFAULT_PORT = 8080;
const DEFAULT_HOST = '0.0.0.0';

/**
 * A worker leaves its pool through `disconnect()`: the primary may have handed it a connection
 * just before it learnt that the worker's server closed, and a worker that exited at once would
 * take that connection with it, leaving its client hanging. Disconnecting waits for the
 * primary's answer, which comes after any such hand-off, and the worker hands those back.
 */
function exitProcess(code: number): void {
  const worker = cluster.worker;
  if (!worker?.isConnected()) process.exit(code);
  worker.once('disconnect', () => process.exit(code));
  worker.disconnect();
}

// The environment overrides the file here, at the edge; the module reads no environment.
const configOverrides = () => ({ redisUrl: process.env.REDIS_URL });

async function serve(configFile: string, logger: GatewayLogger): Promise<void> {
  const options = await loadConfigFile(configFile, configOverrides());

  @Module({ imports: [GatewayModule.forRoot({ ...options, logger })] })
  class GatewayAppModule {}

  const { server } = resolveGatewayOptions(options);
  const headersTimeout = server.headersTimeout;
  const adapter = new FastifyAdapter({
    trustProxy: server.trustProxy ?? false,
    requestTimeout: server.requestTimeout,
    keepAliveTimeout: server.keepAliveTimeout,
    // A request that reaches a draining gateway is served, with `connection: close`: a 503 here
    // would fail it, where a reload or a rolling restart promises that nothing fails.
    return503OnClosing: false,
    // Node drops clients that are late with their headers only when it checks its connections:
    // checking at a quarter of the timeout keeps a slow client's hold within 1.25 × of it.
    http: { headersTimeout, connectionsCheckingInterval: Math.min(30_000, Math.ceil(headersTimeout / 4)) },
  });
  const app = await NestFactory.create<NestFastifyApplication>(GatewayAppModule, adapter, {
    bodyParser: false,
    logger: new PinoNestLogger(logger),
  });
  drainOnSignals(app, server.shutdownGracePeriod, new Logger('Gateway'), exitProcess);
  // SIGHUP would end the process; a reload is the supervising primary's to run.
  process.on('SIGHUP', () => {
    if (cluster.isPrimary) Logger.warn('SIGHUP: reloading needs supervised workers (set GATEWAY_WORKERS); the running config stays', 'Gateway');
  });
  const port = Number(process.env.PORT ?? DEFAULT_PORT);
  await app.listen(port, process.env.HOST ?? DEFAULT_HOST);
  Logger.log(`Gateway listening on ${await app.getUrl()} with ${options.routes.length} route(s) from ${configFile}`, 'Gateway');
}

/**
 * Worker processes on one port, supervised here: the config is checked before any worker starts
 * and before every reload (SIGHUP, or a change of the file with `watch: true`).
 */
async function supervise(configFile: string, count: number): Promise<void> {
  const options = await loadConfigFile(configFile, configOverrides());
  const logger = new Logger('Workers');
  serveClusterMetrics();
  const pool = startWorkerPool({ count, log: (message) => logger.warn(message) });
  reloadOnChange(pool, configFile, logger, options.watch === true);
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
  // GATEWAY_WORKERS (even 1) asks for supervised workers, which reloads need; unset, one process.
  const supervised = cluster.isPrimary && process.env.GATEWAY_WORKERS !== undefined;
  if (supervised) await supervise(configFile, parseWorkerCount(process.env.GATEWAY_WORKERS));
  else await serve(configFile, logger);
}

main().catch((error: unknown) => {
  // A config error is the operator's to fix: its message names the file and every field at fault.
  const message = error instanceof GatewayConfigError ? error.message : (error as Error).stack;
  process.stderr.write(`${message}\n`);
  process.exit(1);
});
