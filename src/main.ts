import 'reflect-metadata';
import { Logger, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { GatewayConfigError } from './config/gateway-options.schema.js';
import { loadConfigFile } from './config/load-config-file.js';
import { GatewayModule } from './gateway.module.js';

const DEFAULT_CONFIG_FILE = './gateway.config.yaml';
const DEFAULT_PORT = 8080;
const DEFAULT_HOST = '0.0.0.0';

async function bootstrap(): Promise<void> {
  const configFile = process.env.GATEWAY_CONFIG ?? DEFAULT_CONFIG_FILE;
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

bootstrap().catch((error: unknown) => {
  // A config error is the operator's to fix: its message names the file and every field at fault.
  const message = error instanceof GatewayConfigError ? error.message : (error as Error).stack;
  process.stderr.write(`${message}\n`);
  process.exit(1);
});
