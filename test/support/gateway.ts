import type { DynamicModule } from '@nestjs/common';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { pino } from 'pino';
import type { GatewayOptions } from '../../src/index.js';
import { GatewayModule } from '../../src/index.js';

export type MountMode = 'forRoot' | 'forRootAsync';

export interface RunningGateway {
  url: string;
  app: NestFastifyApplication;
  close(): Promise<void>;
}

/** Starts an app importing `module` on an ephemeral port of 127.0.0.1. */
export async function startApp(
  module: DynamicModule | (new () => unknown),
  adapterOptions?: ConstructorParameters<typeof FastifyAdapter>[0],
): Promise<RunningGateway> {
  @Module({ imports: [module] })
  class TestAppModule {}
  const app = await NestFactory.create<NestFastifyApplication>(TestAppModule, new FastifyAdapter(adapterOptions), {
    logger: false,
    abortOnError: false,
  });
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  return { url, app, close: () => app.close() };
}

// Access lines would bury the test output; the logging tests pass a logger of their own.
const silent = pino({ level: 'silent' });

/**
 * The module for the given options, through `forRoot` or a `forRootAsync` factory, with the
 * health and metrics endpoints asked for, as the standalone server has them.
 */
export function gatewayModule(options: GatewayOptions, mode: MountMode = 'forRoot'): DynamicModule {
  const withLogger = { logger: silent, health: {}, metrics: {}, ...options };
  if (mode === 'forRoot') return GatewayModule.forRoot(withLogger);
  return GatewayModule.forRootAsync({ useFactory: async () => withLogger });
}

/** Starts a gateway with the given options. */
export function startGateway(options: GatewayOptions, mode: MountMode = 'forRoot'): Promise<RunningGateway> {
  return startApp(gatewayModule(options, mode));
}

export const MOUNT_MODES: MountMode[] = ['forRoot', 'forRootAsync'];
