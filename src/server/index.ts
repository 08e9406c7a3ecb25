export { readServerEnvironment, StartupError, toListenError, type ServerEnvironment } from './environment.js';
export { WorkerPool, type WorkerPoolOptions } from './workers.js';
export { reloadOnChange } from './reload.js';
export { drainOnSignals } from './shutdown.js';
export { readCertificatePair, watchCertificates, type CertificatePair } from './certificates.js';
export { createListener, GatewayListener, type ConnectionDrain } from './listener.js';
export { warmUpNextTick } from './tick-warm-up.js';
