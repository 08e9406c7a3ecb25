import { availableParallelism } from 'node:os';
import { pino } from 'pino';

export const DEFAULT_CONFIG_FILE = './gateway.config.yaml';
export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = '0.0.0.0';
const LOG_LEVELS = [...Object.keys(pino.levels.values), 'silent'];

/**
 * A mistake of the operator's (a setting, a port taken): its message is one line that says what
 * is wrong and what would be right, printed instead of a stack trace.
 */
export class StartupError extends Error {
  override name = 'StartupError';
}

/** What the standalone server reads from its environment, checked before anything starts. */
export interface ServerEnvironment {
  configFile: string;
  port: number;
  host: string;
  logLevel: string;
  /** Supervised worker processes; undefined for one process (`GATEWAY_WORKERS` unset). */
  workers?: number;
}

/** Reads `GATEWAY_CONFIG`, `PORT`, `HOST`, `LOG_LEVEL` and `GATEWAY_WORKERS`; throws a `StartupError` naming the first one at fault. */
export function readServerEnvironment(env: NodeJS.ProcessEnv, cores = availableParallelism()): ServerEnvironment {
  return {
    configFile: env.GATEWAY_CONFIG || DEFAULT_CONFIG_FILE,
    port: parsePort(env.PORT),
    host: env.HOST || DEFAULT_HOST,
    logLevel: parseLogLevel(env.LOG_LEVEL),
    workers: env.GATEWAY_WORKERS === undefined ? undefined : parseWorkerCount(env.GATEWAY_WORKERS, cores),
  };
}

function parsePort(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return DEFAULT_PORT;
  const port = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || port > 65535) {
    throw new StartupError(`PORT (--port): expected a port number from 0 to 65535 (0: any free port), got '${value}'`);
  }
  return port;
}

function parseLogLevel(value: string | undefined): string {
  if (value === undefined || value === '') return 'info';
  if (!LOG_LEVELS.includes(value)) throw new StartupError(`LOG_LEVEL: expected one of ${LOG_LEVELS.join(', ')}, got '${value}'`);
  return value;
}

/** Reads `GATEWAY_WORKERS`: blank is 1, `auto` is one per core. */
export function parseWorkerCount(value: string, cores = availableParallelism()): number {
  if (value.trim() === '') return 1;
  if (value.trim() === 'auto') return cores;
  const count = Number(value);
  if (!Number.isInteger(count) || count < 1) {
    throw new StartupError(`GATEWAY_WORKERS (--workers): expected a positive integer or "auto", got '${value}'`);
  }
  return count;
}

/** Why listening failed, when the operator can fix it: a port taken or refused, an address not here. */
const LISTEN_FAULTS: Record<string, string> = {
  EADDRINUSE: 'the address is in use (another process listens on it): choose another PORT (--port), or stop that process',
  EACCES: 'permission denied (ports below 1024 need privileges): choose a PORT (--port) of 1024 or above',
  EADDRNOTAVAIL: 'no interface of this machine has that address: choose another HOST (--host), e.g. 0.0.0.0',
  ENOTFOUND: 'the host name does not resolve: choose another HOST (--host), e.g. 0.0.0.0',
};

/** A listen failure the operator can fix as a `StartupError`; any other error as it is. */
export function toListenError(error: unknown, host: string, port: number): unknown {
  const fault = LISTEN_FAULTS[(error as NodeJS.ErrnoException)?.code ?? ''];
  return fault ? new StartupError(`Cannot listen on ${host}:${port}: ${fault}`) : error;
}
