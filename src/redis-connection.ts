import { createClient } from '@redis/client';

/** A client that fails fast while disconnected and keeps reconnecting, as the gateway's Redis users need. */
const newClient = (url: string) =>
  createClient({
    url,
    disableOfflineQueue: true,
    socket: { connectTimeout: 2000, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2000) },
  });

export interface RedisConnection {
  client: ReturnType<typeof newClient>;
  /** Resolves once connected, or after `timeoutMs`, whichever comes first: whether it is connected. */
  whenReady(timeoutMs: number): Promise<boolean>;
  /** Closes a connected client, or stops the attempts of one still connecting. */
  close(): Promise<void>;
}

/**
 * Connects to `url` in the background. Commands fail at once while disconnected instead of
 * queueing, so whoever uses the connection (the cache, a rate limit) decides without Redis.
 */
export function connectRedis(url: string, onError: (error: Error) => void): RedisConnection {
  const client = newClient(url);
  client.on('error', onError);
  client.connect().catch(() => undefined);
  const ready = new Promise<void>((resolve) => client.once('ready', () => resolve()));
  return {
    client,
    async whenReady(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([ready, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
      return client.isReady;
    },
    async close() {
      if (client.isReady) {
        await client.close();
        return;
      }
      try {
        client.destroy();
      } catch {
        // Already closed.
      }
    },
  };
}
