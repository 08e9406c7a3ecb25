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
  return pretty ? pino(options) : jsonLogger(options.level, bufferedStdout());
}

/** The destination of each logger made by `jsonLogger`: its lines are known to be pino's plain JSON. */
const jsonDestinations = new WeakMap<GatewayLogger, pino.DestinationStream>();

/** A logger of plain JSON lines (`level`, `time`, `pid`, then the fields) on `destination`. */
export function jsonLogger(level: string, destination: pino.DestinationStream): GatewayLogger {
  const logger = pino({ level, base: { pid: process.pid } }, destination);
  jsonDestinations.set(logger, destination);
  return logger;
}

/** Writes one `info` line of flat fields. */
export type InfoLineWriter = (fields: Record<string, unknown>) => void;

/**
 * `logger.info` for the lines written once per request. For a logger made by `jsonLogger`, the
 * line pino would write is made by one `JSON.stringify` of the fields: pino's field-by-field
 * serialisation made an access line cost ~5-9 % of a proxied request's throughput more. Any
 * other logger (a host app's, with its serializers, redaction or mixins; pretty lines) is
 * written through `info`.
 */
export function infoLineWriter(logger: GatewayLogger): InfoLineWriter {
  const destination = jsonDestinations.get(logger);
  if (!destination) return (fields) => logger.info(fields);
  const head = `{"level":${pino.levels.values.info},"time":`;
  const pid = `,"pid":${process.pid}`;
  return (fields) => {
    const body = JSON.stringify(fields);
    destination.write(`${head}${Date.now()}${pid}${body.length > 2 ? `,${body.slice(1)}` : '}'}\n`);
  };
}

/** Nest's logger interface over pino, so that Nest's own lines are structured too. */
export class GatewayNestLogger implements LoggerService {
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
