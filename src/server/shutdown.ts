import type { Server } from 'node:http';
import type { INestApplication, LoggerService } from '@nestjs/common';

const IDLE_SWEEP_MS = 100;

/**
 * On SIGTERM or SIGINT: stop accepting connections, let requests in flight finish for up to
 * `graceMs`, then cut the connections still open; Nest's shutdown hooks then close Redis and the
 * upstream agents, and `exit(0)` runs. A second signal ends the process at once. Returns a
 * function that removes the signal listeners.
 */
export function drainOnSignals(
  app: INestApplication,
  graceMs: number,
  logger: LoggerService,
  exit: (code: number) => void,
): () => void {
  const stopListening = () => {
    process.off('SIGTERM', drain);
    process.off('SIGINT', drain);
  };
  const drain = (signal: NodeJS.Signals) => {
    stopListening();
    logger.log(`${signal}: closing; requests in flight have ${graceMs} ms to finish`);
    const server = app.getHttpServer() as Server;
    // Node closes the connections idle at close() only: a keep-alive connection whose response
    // ends later would hold the shutdown until its client leaves.
    const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
    const cut = setTimeout(() => {
      logger.warn('Grace period over: cutting the connections still open');
      server.closeAllConnections();
    }, graceMs).unref();
    // A failure to close is an unhandled rejection: the process then exits 1 with its stack.
    void app.close().then(() => {
      clearInterval(sweep);
      clearTimeout(cut);
      exit(0);
    });
  };
  process.on('SIGTERM', drain);
  process.on('SIGINT', drain);
  return stopListening;
}
