import 'reflect-metadata';
import cluster from 'node:cluster';
import { Logger, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { GatewayConfigError } from './config/gateway-options.schema.js';
import { loadConfigFile } from './config/load-config-file.js';
import { GatewayModule } from './gateway.module.js';
import { parseWorkerCount, startWorkerPool } from './server/index.js';

const DEFAULT_CONFIG_FILE = './gateway.config.yaml';
const DEFAULT_PORT = 8080;
const DEFAULT_HOST = '0.0.0.0';

async function serve(configFile: string): Promise<void> {
  const options = await loadConfigFile(configFile);

  @Module({ imports: [GatewayModule.forRoot(options)] })
  class GatewayAppModule {}

  const app = await NestFactory.create<NestFastifyApplication>(GatewayAppModule, new FastifyAdapter(), {
    bodyParser: false,
  });
  app.enableShutdownHooks();
  const port = Number(process.env.PORT ?? DEFAULT_PORT);
  await app.listen(port, process.env.HOST ?? DEFAULT_HOST);
  Logger.log(`Gateway listening on ${await app.getUrl()} with ${options.routes.length} route(s) from ${configFile}`, 'Gateway');
}

/** Several processes on one port: the config is checked once here, before any worker starts. */
async function supervise(configFile: string, count: number): Promise<void> {
  await loadConfigFile(configFile);
  const logger = new Logger('Workers');
  const pool = startWorkerPool({ count, log: (message) => logger.warn(message) });
  const stop = () => void pool.stop().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const port = await pool.ready;
  logger.log(`${count} gateway workers listening on port ${port} (pids ${pool.pids().join(', ')})`);
}

async function main(): Promise<void> {
  const configFile = process.env.GATEWAY_CONFIG ?? DEFAULT_CONFIG_FILE;
  const workers = cluster.isPrimary ? parseWorkerCount(process.env.GATEWAY_WORKERS) : 1;
  if (workers > 1) await supervise(configFile, workers);
  else await serve(configFile);
}

main().catch((error: unknown) => {
  // A config error is the operator's to fix: its message names the file and every field at fault.
  const message = error instanceof GatewayConfigError ? error.message : (error as Error).stack;
  process.stderr.write(`${message}\n`);
  process.exit(1);
});
