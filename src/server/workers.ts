import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { GatewayConfigError } from '../config/gateway-options.schema.js';

/** Longest wait before a worker that died is replaced again, when replacements keep failing. */
const MAX_RESTART_DELAY_MS = 30_000;

/** Reads `GATEWAY_WORKERS`: unset is 1, `auto` is one per core. */
export function parseWorkerCount(value: string | undefined, cores = availableParallelism()): number {
  if (value === undefined || value.trim() === '') return 1;
  if (value.trim() === 'auto') return cores;
  const count = Number(value);
  if (!Number.isInteger(count) || count < 1) {
    throw new GatewayConfigError('environment', [`GATEWAY_WORKERS: expected a positive integer or "auto", got '${value}'`]);
  }
  return count;
}

export interface WorkerPoolOptions {
  count: number;
  /** Script the workers run; by default the one the primary runs. */
  exec?: string;
  env?: NodeJS.ProcessEnv;
  log?: (message: string) => void;
}

export interface WorkerPool {
  /** Resolves with the shared port once every worker listens; rejects if one exits before it does. */
  ready: Promise<number>;
  /** Process ids of the workers alive now. */
  pids(): number[];
  /** Asks every worker to stop (SIGTERM) and resolves when all have exited. */
  stop(): Promise<void>;
  /**
   * Replaces the workers one by one: a new one starts (and reads the config again); once it
   * listens, an old one drains. Resolves once the old ones have exited; rejects, leaving the old
   * workers that remain, when a new one exits before it listens.
   */
  reload(): Promise<void>;
}

/**
 * Runs `count` gateway processes that share the listening port through `node:cluster`, and
 * replaces one that dies after it started. A worker that fails before it listens (a bad config,
 * a port in use) fails the whole start: replacing it would only fail again.
 */
export function startWorkerPool({ count, exec, env, log = () => undefined }: WorkerPoolOptions): WorkerPool {
  if (exec) cluster.setupPrimary({ exec });
  const live = new Set<Worker>();
  let stopping = false;
  let restartDelayMs = 0;
  let listening = 0;
  const started = () => listening === count;
  let resolveReady!: (port: number) => void;
  let rejectReady!: (error: Error) => void;
  const ready = new Promise<number>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  const allExited: (() => void)[] = [];
  // Workers a reload has asked to drain: their exit is no reason to start another.
  const retiring = new Set<Worker>();
  let reloading = false;

  /** Starts a worker; resolves once it listens, rejects if it exits first. */
  const fork = (): Promise<void> => {
    const worker = cluster.fork(env);
    live.add(worker);
    let workerListening = false;
    let settleListening!: (error?: Error) => void;
    const listened = new Promise<void>((resolve, reject) => {
      settleListening = (error) => (error ? reject(error) : resolve());
    });
    listened.catch(() => undefined);
    worker.once('listening', (address) => {
      workerListening = true;
      restartDelayMs = 0;
      settleListening();
      if (!started() && ++listening === count) resolveReady(address.port);
    });
    worker.once('exit', (code, signal) => {
      live.delete(worker);
      const retired = retiring.delete(worker);
      if (live.size === 0) allExited.splice(0).forEach((done) => done());
      const how = signal ?? `code ${code}`;
      const exitedEarly = new Error(`a gateway worker exited before listening (${how})`);
      settleListening(exitedEarly);
      // A reload's new worker that failed is the reload's to report; the old ones still serve.
      if (stopping || retired || (reloading && !workerListening)) return;
      if (!started()) {
        stopping = true;
        for (const other of live) other.process.kill('SIGTERM');
        rejectReady(exitedEarly);
        return;
      }
      restartDelayMs = workerListening ? 0 : Math.min(Math.max(restartDelayMs * 2, 500), MAX_RESTART_DELAY_MS);
      log(`worker ${worker.process.pid} exited (${how}); starting another in ${restartDelayMs} ms`);
      setTimeout(() => stopping || void fork(), restartDelayMs).unref();
    });
    return listened;
  };
  for (let i = 0; i < count; i++) void fork();

  return {
    ready,
    pids: () => [...live].map((worker) => worker.process.pid!),
    stop() {
      stopping = true;
      if (live.size === 0) return Promise.resolve();
      const exited = new Promise<void>((resolve) => allExited.push(resolve));
      for (const worker of live) worker.process.kill('SIGTERM');
      return exited;
    },
    async reload() {
      if (reloading) throw new Error('a reload is already running');
      reloading = true;
      const drained: Promise<unknown>[] = [];
      try {
        for (const old of [...live]) {
          await fork();
          retiring.add(old);
          drained.push(once(old, 'exit'));
          old.process.kill('SIGTERM');
        }
        await Promise.all(drained);
      } finally {
        reloading = false;
      }
    },
  };
}
