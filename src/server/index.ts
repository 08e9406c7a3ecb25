export { readServerEnvironment, StartupError, toListenError, type ServerEnvironment } from './environment.js';
export { WorkerPool, type WorkerPoolOptions } from './workers.js';
export { reloadOnChange } from './reload.js';
export { drainOnSignals } from './shutdown.js';
