export { parseWorkerCount, startWorkerPool, type WorkerPool, type WorkerPoolOptions } from './workers.js';
