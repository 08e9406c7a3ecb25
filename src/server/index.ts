export { parseWorkerCount, startWorkerPool, type WorkerPool, type WorkerPoolOptions } from './workers.js';
export { drainOnSignals } from './shutdown.js';
