import cluster from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { AggregatorRegistry, type Registry } from 'prom-client';

const REQUEST = 'nest-gateway:metrics-request';
const RESPONSE = 'nest-gateway:metrics-response';
const ANSWER_TIMEOUT_MS = 5000;

interface MetricsMessage {
  type: string;
  id: string;
  text?: string;
  error?: string;
  workers?: number;
  uptimeSeconds?: number;
}

/** The metrics of every process that serves, summed, and what they were summed over. */
export interface ClusterMetrics {
  /** Prometheus' text format. */
  text: string;
  /** Processes summed: the workers asked, or 1 without a worker pool. */
  workers: number;
  /** Seconds since the gateway started: the primary's, which outlives reloads and replaced workers. */
  uptimeSeconds: number;
}

/**
 * In the primary of a worker pool: answers a worker's request for the metrics of every worker,
 * summed by prom-client's AggregatorRegistry (which asks each worker over IPC).
 */
export function serveClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: MetricsMessage) => {
    if (message?.type !== REQUEST) return;
    // The workers the aggregator asks: every one the primary has now.
    const workers = Object.keys(cluster.workers ?? {}).length;
    aggregator.clusterMetrics().then(
      (text) => worker.send({ type: RESPONSE, id: message.id, text, workers, uptimeSeconds: process.uptime() }),
      (error: Error) => worker.send({ type: RESPONSE, id: message.id, error: error.message }),
    );
  });
}

/** In a worker: lets the primary read `registry`, and returns a function that asks it for all of them. */
export function workerClusterMetrics(registry: Registry): () => Promise<string> {
  const read = workerClusterState(registry);
  return () => read().then(({ text }) => text);
}

/** As {@link workerClusterMetrics}, with the count of workers summed and the gateway's uptime. */
export function workerClusterState(registry: Registry): () => Promise<ClusterMetrics> {
  AggregatorRegistry.setRegistries([registry]);
  // prom-client installs a worker's answering listener only when an aggregator is built (once).
  new AggregatorRegistry();
  return () =>
    new Promise((resolve, reject) => {
      const id = randomUUID();
      const timer = setTimeout(() => settle({ type: RESPONSE, id, error: 'the primary did not answer' }), ANSWER_TIMEOUT_MS);
      const settle = (message: MetricsMessage) => {
        if (message?.type !== RESPONSE || message.id !== id) return;
        clearTimeout(timer);
        process.off('message', settle);
        if (message.error !== undefined) reject(new Error(`cluster metrics: ${message.error}`));
        else resolve({ text: message.text!, workers: message.workers ?? 1, uptimeSeconds: message.uptimeSeconds ?? process.uptime() });
      };
      process.on('message', settle);
      process.send!({ type: REQUEST, id });
    });
}

/** The metrics of this process alone, in the same shape. */
export function processMetrics(registry: Registry): () => Promise<ClusterMetrics> {
  return async () => ({ text: await registry.metrics(), workers: 1, uptimeSeconds: process.uptime() });
}
