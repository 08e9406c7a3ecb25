import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { StartupError } from './environment.js';

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
/**
 * A worker that cannot start for a reason of the operator's (a port taken) tells the primary,
 * which reports it once for the pool, and exits without a word of its own.
 */
export const START_FAILED_MESSAGE = 'gateway:start-failed';
export interface StartFailedMessage {
  type: typeof START_FAILED_MESSAGE;
  message: string;
}
export interface ConfigMessage {
  type: typeof CONFIG_MESSAGE;
  config: unknown;
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

/**
 * Runs `count` gateway processes that share the listening port through `node:cluster`, and
 * replaces one that dies after it started. A worker that fails before it listens (a bad config,
 * a port in use) fails the whole start: replacing it would only fail again.
 */
export class WorkerPool {
  /** Resolves with the shared port once every worker listens; rejects if one exits before it does. */
  readonly ready: Promise<number>;
  /**
   * Resolves once `stop()` has stopped every worker; rejects when the pool gives up (a worker
   * exited before the pool started, or `maxFailedStarts` replacements in a row did), after the
   * other workers have stopped.
   */
  readonly done: Promise<void>;
  private readonly count: number;
  private readonly env?: NodeJS.ProcessEnv;
  private readonly maxFailedStarts: number;
  private readonly log: (message: string) => void;
  private readonly live = new Set<Worker>();
  /** Listening workers that asked for their config: ours, which also understand STOP_MESSAGE. */
  private readonly speaking = new Set<Worker>();
  /** Workers a reload has asked to drain: their exit is no reason to start another. */
  private readonly retiring = new Set<Worker>();
  /**
   * Referenced on purpose: with a single worker, a pending replacement is all that keeps the
   * primary's event loop alive, and a primary that exits 0 there defeats `restart: on-failure`.
   */
  private readonly restarts = new Set<NodeJS.Timeout>();
  private readonly allExited: (() => void)[] = [];
  /** The config new workers get. */
  private running: unknown;
  private stopping = false;
  private reloading = false;
  private restartDelayMs = 0;
  private failedStarts = 0;
  private listening = 0;
  private resolveReady!: (port: number) => void;
  private rejectReady!: (error: Error) => void;
  private settleDone!: (error?: Error) => void;

  constructor({ count, exec, env, config, maxFailedStarts = DEFAULT_MAX_FAILED_STARTS, log = () => undefined }: WorkerPoolOptions) {
    this.count = count;
    this.env = env;
    this.running = config;
    this.maxFailedStarts = maxFailedStarts;
    this.log = log;
    this.ready = new Promise<number>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => undefined);
    this.done = new Promise<void>((resolve, reject) => {
      this.settleDone = (error) => (error ? reject(error) : resolve());
    });
    this.done.catch(() => undefined);
    // Round-robin (Node's default off Windows) has the primary accept each connection and hand it
    // to a worker; one in that hand-off when the worker is killed stays open in the primary,
    // unanswered, for good. With SCHED_NONE the workers accept from the shared socket themselves:
    // a killed worker takes only the connections it had accepted, and the others keep the
    // listening socket and its backlog.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    if (exec) cluster.setupPrimary({ exec });
    for (let i = 0; i < count; i++) void this.fork(this.running);
  }

  /** Process ids of the workers alive now. */
  pids(): number[] {
    return [...this.live].map((worker) => worker.process.pid!);
  }

  /** Asks every worker to stop (SIGTERM) and resolves when all have exited. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const timer of this.restarts) clearTimeout(timer);
    // A worker that stops with the pool is among the last to accept on the port: readiness
    // fails, it serves on for its drain delay, and it narrows its queue before it closes
    // (src/server/shutdown.ts), where a worker retired by a reload just closes, the others
    // accepting on. Disconnecting it as it begins to close makes the primary drop its own copy
    // of the listening socket then: the last copy to close is a worker's, closed right after
    // an accept, not the primary's, closed a message later, when a connection may have come
    // into the queue meanwhile and be reset with it.
    for (const worker of this.live) {
      if (!this.speaking.has(worker)) {
        worker.process.kill('SIGTERM');
        continue;
      }
      worker.on('message', (message: { type?: string }) => {
        if (message?.type === CLOSING_MESSAGE && worker.isConnected()) worker.disconnect();
      });
      worker.send({ type: STOP_MESSAGE });
    }
    await this.whenAllExited();
    this.settleDone();
  }

  /**
   * Replaces the workers one by one: a new one starts (with `config`, or the running one); once
   * it listens, an old one drains, and `config` is what later replacements get. Resolves once the
   * old ones have exited; rejects, leaving the old workers that remain, when a new one exits
   * before it listens.
   */
  async reload(next: unknown = this.running): Promise<void> {
    if (this.reloading) throw new Error('a reload is already running');
    this.reloading = true;
    const drained: Promise<unknown>[] = [];
    try {
      for (const old of [...this.live]) {
        await this.fork(next);
        this.running = next;
        this.retiring.add(old);
        drained.push(once(old, 'exit'));
        old.process.kill('SIGTERM');
      }
      await Promise.all(drained);
    } finally {
      this.reloading = false;
    }
  }

  private get started(): boolean {
    return this.listening === this.count;
  }

  private whenAllExited(): Promise<void> {
    return this.live.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => this.allExited.push(resolve));
  }

  private giveUp(error: Error): void {
    this.stopping = true;
    for (const timer of this.restarts) clearTimeout(timer);
    for (const other of this.live) other.process.kill('SIGTERM');
    void this.whenAllExited().then(() => this.settleDone(error));
  }

  /** Starts a worker with `workerConfig`; resolves once it listens, rejects if it exits first. */
  private fork(workerConfig: unknown): Promise<void> {
    const worker = cluster.fork(workerConfig === undefined ? this.env : { ...this.env, [CONFIG_FROM_PRIMARY_ENV]: '1' });
    this.live.add(worker);
    // A message to a worker that just died fails here; its exit is handled below.
    worker.on('error', (error: Error) => this.log(`worker ${worker.process.pid}: ${error.message}`));
    let workerListening = false;
    let settleListening!: (error?: Error) => void;
    const listened = new Promise<void>((resolve, reject) => {
      settleListening = (error) => (error ? reject(error) : resolve());
    });
    listened.catch(() => undefined);
    // The worker asks once its message handler is in place: a config sent at fork could reach
    // it before that, and be dropped.
    let asked = false;
    let startFailure: string | undefined;
    worker.on('message', (message: { type?: string }) => {
      if (message?.type === START_FAILED_MESSAGE) startFailure = (message as StartFailedMessage).message;
      if (message?.type !== CONFIG_REQUEST) return;
      asked = true;
      worker.send({ type: CONFIG_MESSAGE, config: workerConfig } satisfies ConfigMessage);
    });
    worker.once('listening', (address) => {
      workerListening = true;
      if (asked) this.speaking.add(worker);
      this.restartDelayMs = 0;
      this.failedStarts = 0;
      settleListening();
      if (!this.started && ++this.listening === this.count) this.resolveReady(address.port);
    });
    worker.once('exit', (code, signal) => {
      const how = signal ?? `code ${code}`;
      const exitedEarly = startFailure === undefined ? new Error(`a gateway worker exited before listening (${how})`) : new StartupError(startFailure);
      settleListening(exitedEarly);
      this.exited(worker, workerListening, how, exitedEarly);
    });
    return listened;
  }

  /** A worker exited: replaced when it had started, unless the pool stops, retired it, or gives up. */
  private exited(worker: Worker, workerListening: boolean, how: string, exitedEarly: Error): void {
    this.live.delete(worker);
    this.speaking.delete(worker);
    const retired = this.retiring.delete(worker);
    if (this.live.size === 0) this.allExited.splice(0).forEach((exited) => exited());
    // A reload's new worker that failed is the reload's to report; the old ones still serve.
    if (this.stopping || retired || (this.reloading && !workerListening)) return;
    if (!this.started) {
      this.rejectReady(exitedEarly);
      this.giveUp(exitedEarly);
      return;
    }
    if (!workerListening && ++this.failedStarts >= this.maxFailedStarts) {
      this.giveUp(new Error(`giving up: ${this.failedStarts} workers in a row exited before listening (${how})`));
      return;
    }
    this.restartDelayMs = workerListening ? 0 : Math.min(Math.max(this.restartDelayMs * 2, 500), MAX_RESTART_DELAY_MS);
    this.log(`worker ${worker.process.pid} exited (${how}); starting another in ${this.restartDelayMs} ms`);
    const timer = setTimeout(() => {
      this.restarts.delete(timer);
      void this.fork(this.running);
    }, this.restartDelayMs);
    this.restarts.add(timer);
  }
}
