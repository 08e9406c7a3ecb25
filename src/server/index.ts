export { parseWorkerCount, WorkerPool, type WorkerPoolOptions } from './workers.js';
export { reloadOnChange } from './reload.js';
export { drainOnSignals } from './shutdown.js';
