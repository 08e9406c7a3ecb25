import 'reflect-metadata';
import cluster from 'node:cluster';
import { Logger, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { GatewayOptions } from './config/gateway-options.interface.js';
import { GatewayConfigError, validateGatewayConfigFile } from './config/gateway-options.schema.js';
import { loadConfigFile, overridesFromEnvironment } from './config/load-config-file.js';
import { resolveGatewayOptions } from './config/resolve-options.js';
import { GatewayModule } from './gateway.module.js';
import { createGatewayLogger, flushLog, type GatewayLogger, GatewayNestLogger } from './logging/index.js';
import { serveClusterMetrics } from './metrics/index.js';
import { relayWorkerPurges } from './cache/worker-peers.js';
import {
  createListener,
  drainOnSignals,
  readCertificatePair,
  readServerEnvironment,
  reloadOnChange,
  type ServerEnvironment,
  StartupError,
  toListenError,
  watchCertificates,
  WorkerPool,
  warmUpNextTick,
} from './server/index.js';
import {
  CLOSING_MESSAGE,
  CONFIG_FROM_PRIMARY_ENV,
  CONFIG_MESSAGE,
  CONFIG_REQUEST,
  type ConfigMessage,
  START_FAILED_MESSAGE,
  type StartFailedMessage,
  STOP_MESSAGE,
} from './server/workers.js';

/**
 * A worker leaves its pool through `disconnect()`, which waits until the primary has released
 * the worker's share of the listening socket: the primary then counts an orderly exit, not a
 * death to replace.
 */
function exitProcess(code: number): void {
  const worker = cluster.worker;
  if (!worker?.isConnected()) process.exit(code);
  worker.once('disconnect', () => process.exit(code));
  worker.disconnect();
}

// The environment overrides the file here, at the edge; the module reads no environment.

/**
 * A supervised worker runs the config its primary validated (at start or at the last accepted
 * reload), never the file on disk, which a refused reload may have left invalid.
 */
async function configFromPrimary(configFile: string): Promise<GatewayOptions> {
  const config = await new Promise<unknown>((resolve) => {
    const onMessage = (message: ConfigMessage) => {
      if (message?.type !== CONFIG_MESSAGE) return;
      process.off('message', onMessage);
      resolve(message.config);
    };
    process.on('message', onMessage);
    process.send!({ type: CONFIG_REQUEST });
  });
  return validateGatewayConfigFile(config, `${configFile} (as the primary validated it)`);
}

async function serve({ configFile, port, host }: ServerEnvironment, logger: GatewayLogger): Promise<void> {
  const options = process.env[CONFIG_FROM_PRIMARY_ENV]
    ? await configFromPrimary(configFile)
    : await loadConfigFile(configFile, overridesFromEnvironment());

  @Module({ imports: [GatewayModule.forRoot({ ...options, logger })] })
  class GatewayAppModule {}

  const { server } = resolveGatewayOptions(options);
  const headersTimeout = server.headersTimeout;
  // Node drops clients that are late with their headers only when it checks its connections:
  // checking at a quarter of the timeout keeps a slow client's hold within 1.25 × of it.
  const http = { headersTimeout, connectionsCheckingInterval: Math.min(30_000, Math.ceil(headersTimeout / 4)) };
  // Read before anything starts: a missing or mismatched file is the operator's to fix.
  const certificate = server.tls && readCertificatePair(server.tls);
  const listener = createListener(server, http, certificate);
  const adapter = new FastifyAdapter({
    trustProxy: server.trustProxy ?? false,
    requestTimeout: server.requestTimeout,
    keepAliveTimeout: server.keepAliveTimeout,
    // A request that reaches a draining gateway is served, with `connection: close`: a 503 here
    // would fail it, where a reload or a rolling restart promises that nothing fails.
    return503OnClosing: false,
    http,
    // TLS and HTTP/2 (src/server/listener.ts); plain HTTP/1.1 stays fastify's own server.
    ...(listener && { serverFactory: listener.serverFactory as never }),
  });
  // Nest's start-up lines wait until the port is taken: a port in use is then one line of ours,
  // not a stack trace after "successfully started".
  const app = await NestFactory.create<NestFastifyApplication>(GatewayAppModule, adapter, {
    bodyParser: false,
    logger: new GatewayNestLogger(logger),
    bufferLogs: true,
    autoFlushLogs: false,
  });
  drainOnSignals(app, server.shutdownGracePeriod, new Logger('Gateway'), exitProcess, {
    lastOut: !cluster.isWorker,
    drainDelayMs: server.drainDelay,
    stopMessage: cluster.isWorker ? STOP_MESSAGE : undefined,
    closingMessage: cluster.isWorker ? CLOSING_MESSAGE : undefined,
    listener,
  });
  // Each worker holds its own TLS server, and watches the files for it itself.
  if (server.tls) watchCertificates(server.tls, certificate!, (pair) => listener!.setCertificate(pair), new Logger('Gateway'));
  // SIGHUP would end the process; a reload is the supervising primary's to run.
  process.on('SIGHUP', () => {
    // With TLS, the certificate is read again (src/server/certificates.ts), in each worker too.
    const tlsNote = server.tls ? 'the TLS certificate is read again; ' : '';
    if (cluster.isPrimary) Logger.warn(`SIGHUP: ${tlsNote}reloading needs supervised workers (set GATEWAY_WORKERS); the running config stays`, 'Gateway');
  });
  await app.listen(port, host).catch((error: unknown) => {
    throw toListenError(error, host, port);
  });
  app.flushLogs();
  Logger.log(`Gateway listening on ${await app.getUrl()} with ${options.routes.length} route(s) from ${configFile}`, 'Gateway');
  // Log lines are buffered: whoever waits for this one (a supervisor, a script) reads it now.
  await flushLog(logger);
}

/**
 * Worker processes on one port, supervised here: the config is checked before any worker starts
 * and before every reload (SIGHUP, or a change of the file with `watch: true`).
 */
async function supervise(configFile: string, count: number): Promise<void> {
  const options = await loadConfigFile(configFile, overridesFromEnvironment());
  const logger = new Logger('Workers');
  serveClusterMetrics();
  relayWorkerPurges();
  const pool = new WorkerPool({ count, config: options, log: (message) => logger.warn(message) });
  reloadOnChange(pool, configFile, logger, options.watch === true);
  const stop = () => void pool.stop();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // A pool that cannot be kept up ends the primary non-zero, for its supervisor to act on.
  pool.done.then(
    () => process.exit(0),
    (error: Error) => {
      // A worker's operator error is reported here once, for every worker it stopped.
      if (error instanceof StartupError) process.stderr.write(`${error.message}\n`);
      else logger.error(`${error.message}; the primary exits`);
      process.exit(1);
    },
  );
  pool.ready.then(
    (port) => logger.log(`${count} gateway workers listening on port ${port} (pids ${pool.pids().join(', ')})`),
    () => undefined,
  );
}

async function main(): Promise<void> {
  await warmUpNextTick();
  const environment = readServerEnvironment(process.env);
  const logger = createGatewayLogger({ LOG_LEVEL: environment.logLevel });
  Logger.overrideLogger(new GatewayNestLogger(logger));
  // GATEWAY_WORKERS (even 1) asks for supervised workers, which reloads need; unset, one process.
  if (cluster.isPrimary && environment.workers !== undefined) await supervise(environment.configFile, environment.workers);
  else await serve(environment, logger);
}

main().catch((error: unknown) => {
  if (error instanceof StartupError && cluster.isWorker) {
    process.send!({ type: START_FAILED_MESSAGE, message: error.message } satisfies StartFailedMessage, () => process.exit(1));
    return;
  }
  // The operator's mistakes are theirs to fix: a config error names the file and every field at
  // fault, a startup error what is wrong and what would do, each without a stack trace.
  const message = error instanceof GatewayConfigError || error instanceof StartupError ? error.message : (error as Error).stack;
  process.stderr.write(`${message}\n`);
  process.exit(1);
});
