import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { connectRedis } from '../redis-connection.js';
import { decisionOf, type GcraRate, type RateDecision } from './gcra.js';

// `gcraStep` (gcra.ts) over every limit of a step at once, in Redis: one round trip reads each
// key's TAT and moves them all, or none when any limit refuses (a refused request costs nothing
// anywhere). The time is Redis's own, so every gateway process counts on one clock whatever its
// own says. ARGV: interval, tolerance per key. Reply: allowed (1/0), ahead, wait per key, `ahead`
// being how far the key's TAT is ahead of now after the step.
const GCRA_SCRIPT = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local reply, starts, passes = {}, {}, true
for i = 1, #KEYS do
  local interval, tolerance = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]))
  local start = now
  if tat and tat > now then start = tat end
  starts[i] = start
  local ahead = start + interval - now
  if ahead > tolerance then
    passes = false
    reply[3 * i - 2], reply[3 * i - 1], reply[3 * i] = 0, start - now, ahead - tolerance
  else
    reply[3 * i - 2], reply[3 * i - 1], reply[3 * i] = 1, ahead, 0
  end
end
for i = 1, #KEYS do
  if passes then
    local ahead = reply[3 * i - 1]
    redis.call('SET', KEYS[i], string.format('%.0f', starts[i] + tonumber(ARGV[2 * i - 1])), 'PX', math.ceil(ahead / 1000))
  elseif reply[3 * i - 2] == 1 then
    reply[3 * i - 1] = starts[i] - now
  end
end
return reply
`;
const GCRA_SHA = createHash('sha1').update(GCRA_SCRIPT).digest('hex');

/** After Redis failed, how long limits count without it before one request tries it again. */
const RETRY_MS = 1000;

/**
 * The key counts of every limit on one Redis server, shared by every route that names it. A Redis
 * that fails or does not answer in time is left alone for a second (the limits decide without it
 * meanwhile, as their `onRedisDown` says), then one request tries it again while the others still
 * decide without it.
 */
export interface RedisRateStore {
  readonly url: string;
  /** Whether to ask Redis for this request: not within a second of a failure, and one request at a time after. */
  shouldAsk(): boolean;
  /**
   * Counts a request under every key at once (all or none); rejects when Redis does not answer
   * within the store's timeout, or refuses. A step counted as allowed reports how far each TAT
   * is ahead after it; a refused one, how far it was.
   */
  take(keys: string[], rates: GcraRate[]): Promise<RateDecision[]>;
  /** Whether Redis is connected and answered the last request that asked it. */
  isUp(): boolean;
  /** Resolves once connected, or after `timeoutMs`, whichever comes first. */
  whenReady(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

export function createRedisRateStore(url: string, timeoutMs: number): RedisRateStore {
  // Failures are told by the requests that meet them (the route's warning); the client's own
  // reports would repeat them on every reconnection attempt.
  const connection = connectRedis(url, () => undefined);
  const { client } = connection;
  let downUntil = 0;
  let probing = false;

  const run = async (keys: string[], rates: GcraRate[]) => {
    const args = { keys, arguments: rates.flatMap((rate) => [String(rate.interval), String(rate.tolerance)]) };
    let reply: number[];
    try {
      reply = (await client.evalSha(GCRA_SHA, args)) as number[];
    } catch (error) {
      // A Redis that has not seen the script yet (a restart, a new server) is sent it once.
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      reply = (await client.eval(GCRA_SCRIPT, args)) as number[];
    }
    return rates.map((rate, i) => decisionOf(rate, reply[3 * i] === 1, reply[3 * i + 1], reply[3 * i + 2]));
  };

  return {
    url,
    shouldAsk() {
      if (downUntil === 0) return true;
      if (probing || performance.now() < downUntil) return false;
      probing = true;
      return true;
    },
    take(keys, rates) {
      // node-redis bounds a command only until it is written: one sent to a Redis that hangs
      // would wait for ever.
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      });
      return Promise.race([run(keys, rates), late]).then(
        (decisions) => {
          clearTimeout(timer);
          downUntil = 0;
          probing = false;
          return decisions;
        },
        (error: unknown) => {
          clearTimeout(timer);
          downUntil = performance.now() + RETRY_MS;
          probing = false;
          throw error;
        },
      );
    },
    isUp: () => downUntil === 0 && client.isReady,
    whenReady: connection.whenReady,
    close: connection.close,
  };
}
