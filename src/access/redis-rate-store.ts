import { createHash } from 'node:crypto';
import { createClient } from '@redis/client';
import { decisionOf, type GcraRate, type RateDecision } from './gcra.js';

// `gcraStep` (gcra.ts) in Redis: one round trip reads and moves a key's TAT atomically, with the
// time taken from Redis, so every gateway process counts on one clock whatever its own says.
const GCRA_SCRIPT = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
local start = now
if tat and tat > now then start = tat end
local ahead = start + interval - now
if ahead > tolerance then return {0, start - now, ahead - tolerance} end
redis.call('SET', KEYS[1], string.format('%.0f', start + interval), 'PX', math.ceil(ahead / 1000))
return {1, ahead, 0}
`;
const GCRA_SHA = createHash('sha1').update(GCRA_SCRIPT).digest('hex');

/** The key counts of every limit on one Redis server, shared by every route that names it. */
export interface RedisRateStore {
  /** Rejects when Redis does not answer within the store's timeout, or refuses. */
  take(key: string, rate: GcraRate): Promise<RateDecision>;
  readonly url: string;
  /** Whether the connection is up now. */
  isReady(): boolean;
  /** Resolves once connected, or after `timeoutMs`, whichever comes first. */
  whenReady(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

export function createRedisRateStore(url: string, timeoutMs: number): RedisRateStore {
  const client = createClient({
    url,
    // A command fails at once while disconnected, instead of queueing: the limit falls back.
    disableOfflineQueue: true,
    socket: { connectTimeout: 2000, reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 2000) },
  });
  // Failures are told by the commands that meet them (the limit's warning); the client's own
  // reports would repeat them on every reconnection attempt.
  client.on('error', () => undefined);
  client.connect().catch(() => undefined);
  const ready = new Promise<void>((resolve) => client.once('ready', () => resolve()));
  const toDecision = (rate: GcraRate, [allowed, ahead, retryIn]: number[]) => decisionOf(rate, allowed === 1, ahead, retryIn);
  const run = async (key: string, rate: GcraRate) => {
    const args = { keys: [key], arguments: [String(rate.interval), String(rate.tolerance)] };
    try {
      return toDecision(rate, (await client.evalSha(GCRA_SHA, args)) as number[]);
    } catch (error) {
      // A Redis that has not seen the script yet (a restart, a new server) is sent it once.
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return toDecision(rate, (await client.eval(GCRA_SCRIPT, args)) as number[]);
    }
  };
  return {
    url,
    take(key, rate) {
      // node-redis bounds a command only until it is written: one sent to a Redis that hangs
      // would wait for ever.
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      });
      return Promise.race([run(key, rate), late]).finally(() => clearTimeout(timer));
    },
    isReady: () => client.isReady,
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
