import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { GatewayConfigError } from '../config/gateway-options.schema.js';

/** Longest wait before a worker that died is replaced again, when replacements keep failing. */
const MAX_RESTART_DELAY_MS = 30_000;
/** Replacements in a row that exit before they listen, after which the pool gives up. */
const DEFAULT_MAX_FAILED_STARTS = 5;

/** Set in the environment of workers that must ask the primary for their config. */
export const CONFIG_FROM_PRIMARY_ENV = 'GATEWAY_CONFIG_FROM_PRIMARY';
/** What a worker sends to ask for its config, and the type of the primary's answer. */
export const CONFIG_REQUEST = 'gateway:config-request';
export const CONFIG_MESSAGE = 'gateway:config';
/** Sent by `stop()` to workers that asked for their config: the pool stops, not just this worker. */
export const STOP_MESSAGE = 'gateway:stop';
/** A stopping worker's answer once its drain delay is over and it closes its listener. */
export const CLOSING_MESSAGE = 'gateway:closing';
export interface ConfigMessage {
  type: typeof CONFIG_MESSAGE;
  config: unknown;
}

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
  /**
   * The config the primary validated, sent to each new worker that asks for it (workers get
   * `GATEWAY_CONFIG_FROM_PRIMARY=1`); without it, workers read their config themselves.
   */
  config?: unknown;
  /** Replacements in a row that exit before they listen, after which the pool gives up. @default 5 */
  maxFailedStarts?: number;
  log?: (message: string) => void;
}

export interface WorkerPool {
  /** Resolves with the shared port once every worker listens; rejects if one exits before it does. */
  ready: Promise<number>;
  /**
   * Resolves once `stop()` has stopped every worker; rejects when the pool gives up (a worker
   * exited before the pool started, or `maxFailedStarts` replacements in a row did), after the
   * other workers have stopped.
   */
  done: Promise<void>;
  /** Process ids of the workers alive now. */
  pids(): number[];
  /** Asks every worker to stop (SIGTERM) and resolves when all have exited. */
  stop(): Promise<void>;
  /**
   * Replaces the workers one by one: a new one starts (with `config`, or the running one); once
   * it listens, an old one drains, and `config` is what later replacements get. Resolves once the
   * old ones have exited; rejects, leaving the old workers that remain, when a new one exits
   * before it listens.
   */
  reload(config?: unknown): Promise<void>;
}

/**
 * Runs `count` gateway processes that share the listening port through `node:cluster`, and
 * replaces one that dies after it started. A worker that fails before it listens (a bad config,
 * a port in use) fails the whole start: replacing it would only fail again.
 */
export function startWorkerPool({
  count,
  exec,
  env,
  config,
  maxFailedStarts = DEFAULT_MAX_FAILED_STARTS,
  log = () => undefined,
}: WorkerPoolOptions): WorkerPool {
  // Round-robin (Node's default off Windows) has the primary accept each connection and hand it
  // to a worker; one in that hand-off when the worker is killed stays open in the primary,
  // unanswered, for good. With SCHED_NONE the workers accept from the shared socket themselves:
  // a killed worker takes only the connections it had accepted, and the others keep the
  // listening socket and its backlog.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  if (exec) cluster.setupPrimary({ exec });
  const live = new Set<Worker>();
  // Listening workers that asked for their config: ours, which also understand STOP_MESSAGE.
  const speaking = new Set<Worker>();
  let running = config;
  let stopping = false;
  let restartDelayMs = 0;
  let failedStarts = 0;
  let listening = 0;
  const started = () => listening === count;
  let resolveReady!: (port: number) => void;
  let rejectReady!: (error: Error) => void;
  const ready = new Promise<number>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  ready.catch(() => undefined);
  let settleDone!: (error?: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    settleDone = (error) => (error ? reject(error) : resolve());
  });
  done.catch(() => undefined);
  const allExited: (() => void)[] = [];
  const whenAllExited = () =>
    live.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => allExited.push(resolve));
  // Workers a reload has asked to drain: their exit is no reason to start another.
  const retiring = new Set<Worker>();
  // Referenced on purpose: with a single worker, a pending replacement is all that keeps the
  // primary's event loop alive, and a primary that exits 0 there defeats `restart: on-failure`.
  const restarts = new Set<NodeJS.Timeout>();
  let reloading = false;

  const giveUp = (error: Error) => {
    stopping = true;
    for (const timer of restarts) clearTimeout(timer);
    for (const other of live) other.process.kill('SIGTERM');
    void whenAllExited().then(() => settleDone(error));
  };

  /** Starts a worker with `workerConfig`; resolves once it listens, rejects if it exits first. */
  const fork = (workerConfig: unknown): Promise<void> => {
    const worker = cluster.fork(workerConfig === undefined ? env : { ...env, [CONFIG_FROM_PRIMARY_ENV]: '1' });
    live.add(worker);
    // A message to a worker that just died fails here; its exit is handled below.
    worker.on('error', (error: Error) => log(`worker ${worker.process.pid}: ${error.message}`));
    let workerListening = false;
    let settleListening!: (error?: Error) => void;
    const listened = new Promise<void>((resolve, reject) => {
      settleListening = (error) => (error ? reject(error) : resolve());
    });
    listened.catch(() => undefined);
    // The worker asks once its message handler is in place: a config sent at fork could reach
    // it before that, and be dropped.
    let asked = false;
    worker.on('message', (message: { type?: string }) => {
      if (message?.type !== CONFIG_REQUEST) return;
      asked = true;
      worker.send({ type: CONFIG_MESSAGE, config: workerConfig } satisfies ConfigMessage);
    });
    worker.once('listening', (address) => {
      workerListening = true;
      if (asked) speaking.add(worker);
      restartDelayMs = 0;
      failedStarts = 0;
      settleListening();
      if (!started() && ++listening === count) resolveReady(address.port);
    });
    worker.once('exit', (code, signal) => {
      live.delete(worker);
      speaking.delete(worker);
      const retired = retiring.delete(worker);
      if (live.size === 0) allExited.splice(0).forEach((exited) => exited());
      const how = signal ?? `code ${code}`;
      const exitedEarly = new Error(`a gateway worker exited before listening (${how})`);
      settleListening(exitedEarly);
      // A reload's new worker that failed is the reload's to report; the old ones still serve.
      if (stopping || retired || (reloading && !workerListening)) return;
      if (!started()) {
        rejectReady(exitedEarly);
        giveUp(exitedEarly);
        return;
      }
      if (!workerListening && ++failedStarts >= maxFailedStarts) {
        giveUp(new Error(`giving up: ${failedStarts} workers in a row exited before listening (${how})`));
        return;
      }
      restartDelayMs = workerListening ? 0 : Math.min(Math.max(restartDelayMs * 2, 500), MAX_RESTART_DELAY_MS);
      log(`worker ${worker.process.pid} exited (${how}); starting another in ${restartDelayMs} ms`);
      const timer = setTimeout(() => {
        restarts.delete(timer);
        void fork(running);
      }, restartDelayMs);
      restarts.add(timer);
    });
    return listened;
  };
  for (let i = 0; i < count; i++) void fork(running);

  return {
    ready,
    done,
    pids: () => [...live].map((worker) => worker.process.pid!),
    async stop() {
      stopping = true;
      for (const timer of restarts) clearTimeout(timer);
      // A worker that stops with the pool is among the last to accept on the port: readiness
      // fails, it serves on for its drain delay, and it narrows its queue before it closes
      // (src/server/shutdown.ts), where a worker retired by a reload just closes, the others
      // accepting on. Disconnecting it as it begins to close makes the primary drop its own copy
      // of the listening socket then: the last copy to close is a worker's, closed right after
      // an accept, not the primary's, closed a message later, when a connection may have come
      // into the queue meanwhile and be reset with it.
      for (const worker of live) {
        if (!speaking.has(worker)) {
          worker.process.kill('SIGTERM');
          continue;
        }
        worker.on('message', (message: { type?: string }) => {
          if (message?.type === CLOSING_MESSAGE && worker.isConnected()) worker.disconnect();
        });
        worker.send({ type: STOP_MESSAGE });
      }
      await whenAllExited();
      settleDone();
    },
    async reload(next = running) {
      if (reloading) throw new Error('a reload is already running');
      reloading = true;
      const drained: Promise<unknown>[] = [];
      try {
        for (const old of [...live]) {
          await fork(next);
          running = next;
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
