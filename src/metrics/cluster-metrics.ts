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
}

/**
 * In the primary of a worker pool: answers a worker's request for the metrics of every worker,
 * summed by prom-client's AggregatorRegistry (which asks each worker over IPC).
 */
export function serveClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: MetricsMessage) => {
    if (message?.type !== REQUEST) return;
    aggregator.clusterMetrics().then(
      (text) => worker.send({ type: RESPONSE, id: message.id, text }),
      (error: Error) => worker.send({ type: RESPONSE, id: message.id, error: error.message }),
    );
  });
}

/** In a worker: lets the primary read `registry`, and returns a function that asks it for all of them. */
export function workerClusterMetrics(registry: Registry): () => Promise<string> {
  AggregatorRegistry.setRegistries([registry]);
  // prom-client installs a worker's answering listener only when an aggregator is built.
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
        else resolve(message.text!);
      };
      process.on('message', settle);
      process.send!({ type: REQUEST, id });
    });
}
