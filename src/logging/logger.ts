import { createRequire } from 'node:module';
import type { LoggerService } from '@nestjs/common';
import { pino, type Logger } from 'pino';
import { bufferedStdout } from './buffered-stdout.js';

export type GatewayLogger = Logger;

const { resolve } = createRequire(import.meta.url);

/**
 * Pretty lines for a person at a terminal. pino-pretty is a development dependency: where it is
 * not installed (the production image) the lines stay JSON.
 */
export function prettyOutput(tty: boolean, resolvePackage: (id: string) => string = resolve): boolean {
  if (!tty) return false;
  try {
    resolvePackage('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

/**
 * The gateway's structured logger: JSON lines on stdout at `LOG_LEVEL` (default `info`), pretty
 * lines through pino-pretty when stdout is a terminal. JSON lines are buffered (see `bufferedStdout`).
 */
export function createGatewayLogger(env: NodeJS.ProcessEnv = process.env, tty = process.stdout.isTTY === true): GatewayLogger {
  const pretty = prettyOutput(tty);
  const options = {
    level: env.LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } } : {}),
  };
  return pretty ? pino(options) : pino(options, bufferedStdout());
}

/** Nest's logger interface over pino, so that Nest's own lines are structured too. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: GatewayLogger) {}

  log(message: unknown, context?: string): void {
    this.write('info', message, context);
  }
  error(message: unknown, traceOrContext?: string, context?: string): void {
    // Nest passes (message, stack, context) for errors, (message, context) otherwise.
    const [stack, ctx] = context === undefined ? [undefined, traceOrContext] : [traceOrContext, context];
    this.write('error', message, ctx, stack);
  }
  warn(message: unknown, context?: string): void {
    this.write('warn', message, context);
  }
  debug(message: unknown, context?: string): void {
    this.write('debug', message, context);
  }
  verbose(message: unknown, context?: string): void {
    this.write('trace', message, context);
  }
  fatal(message: unknown, context?: string): void {
    this.write('fatal', message, context);
  }

  private write(level: pino.Level, message: unknown, context?: string, stack?: string): void {
    if (!this.logger.isLevelEnabled(level)) return;
    const fields = { context, ...(stack ? { stack } : {}) };
    if (typeof message === 'string') this.logger[level](fields, message);
    else this.logger[level]({ ...fields, detail: message });
  }
}
