import cluster from 'node:cluster';

const PURGE = 'nest-gateway:cache-purge';

/** An expiry one worker asks of the others: by patterns (within a route, or everywhere) or by tags. */
interface PurgeMessage {
  type: typeof PURGE;
  patterns?: string[];
  route?: string;
  tags?: string[];
}

/** What a worker's cache does when another worker expires entries of the memory store. */
export interface LocalPurge {
  expireLocal(patterns: string[], route?: string): Promise<unknown>;
  purgeLocalTags(tags: string[]): Promise<unknown>;
}

/** The other workers of a pool, as a worker's memory-store cache tells them of its expiries. */
export interface WorkerPeers {
  expire(patterns: string[], route?: string): void;
  purgeTags(tags: string[]): void;
}

const isPurge = (message: unknown): message is PurgeMessage => (message as PurgeMessage | null)?.type === PURGE;

/**
 * In a worker whose cache is in its own memory: applies the expiries the others send, and tells
 * them its own, through the primary (workers have no channel to one another). Each store holds
 * its own entries, so a purge answered by one worker counts that worker's.
 */
export function joinWorkerPeers(cache: LocalPurge): WorkerPeers {
  process.on('message', (message: unknown) => {
    if (!isPurge(message)) return;
    if (message.tags) void cache.purgeLocalTags(message.tags);
    if (message.patterns) void cache.expireLocal(message.patterns, message.route);
  });
  const send = (message: PurgeMessage) => process.send?.(message);
  return {
    expire: (patterns, route) => send({ type: PURGE, patterns, route }),
    purgeTags: (tags) => send({ type: PURGE, tags }),
  };
}

/** In the primary of a worker pool: passes each worker's expiry on to every other worker. */
export function relayWorkerPurges(): void {
  cluster.on('message', (sender, message: unknown) => {
    if (!isPurge(message)) return;
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (worker && worker !== sender && worker.isConnected()) worker.send(message);
    }
  });
}
