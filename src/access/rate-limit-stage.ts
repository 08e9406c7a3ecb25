import type { IncomingMessage } from 'node:http';
import type { RateDecision } from './gcra.js';
import { microsecondsNow, type RateLimiter } from './rate-limiter.js';
import type { RedisRateStore } from './redis-rate-store.js';

/**
 * What the limits of a step said: each limit's decision (a limit left out decided nothing: Redis
 * down, `open`), whether the request passes, or `unavailable` (Redis down, `closed`).
 */
export type StageOutcome = { passes: boolean; decisions: [RateLimiter, RateDecision][] } | 'unavailable';

/**
 * The rate limits of one step of a route's checks (those that need no identity, or those by a
 * claim), counted together: a request passes when every limit lets it, and only then counts
 * against any of them, so a request one limit refuses costs nothing under the others. The limits
 * counted in memory are looked at first; those in Redis then go in one round trip (one script
 * over every key), and never when memory already refused. While Redis cannot be asked, each of
 * its limits does as its `onRedisDown` says.
 */
export class RateLimitStage {
  private readonly redis?: RedisRateStore;
  /** The step's one limit, when it has one, counted in memory: the common case, counted without the general bookkeeping. */
  private readonly only?: RateLimiter;

  constructor(
    private readonly limits: RateLimiter[],
    private readonly warn: (message: string) => void,
  ) {
    // The config allows one Redis server per route.
    this.redis = limits.find((limit) => limit.redis)?.redis;
    if (limits.length === 1 && !this.redis) this.only = limits[0];
  }

  take(req: IncomingMessage, clientIp: string, claims: Record<string, unknown> | undefined): StageOutcome | Promise<StageOutcome> {
    const only = this.only;
    if (only) {
      const key = only.keyOf(req, clientIp, claims);
      const decision = only.peekLocally(key, microsecondsNow());
      if (decision.allowed) only.commitLocally(key, decision.tat);
      return { passes: decision.allowed, decisions: [[only, decision]] };
    }
    return this.count(req, clientIp, claims, this.redis !== undefined && this.redis.shouldAsk());
  }

  /** The step, asking Redis or not; without Redis, the outcome is there at once. */
  private count(req: IncomingMessage, clientIp: string, claims: Record<string, unknown> | undefined, askRedis: boolean): StageOutcome | Promise<StageOutcome> {
    const { limits } = this;
    const keys = limits.map((limit) => limit.keyOf(req, clientIp, claims));
    const now = microsecondsNow();
    const decisions: [RateLimiter, RateDecision][] = [];
    const tats: (number | undefined)[] = [];
    let passes = true;
    let inRedis = false;
    for (let i = 0; i < limits.length; i += 1) {
      const limit = limits[i];
      if (limit.redis && askRedis) {
        inRedis = true;
        continue;
      }
      if (limit.redis && limit.onRedisDown !== 'local') {
        if (limit.onRedisDown === 'closed') return 'unavailable';
        continue;
      }
      const decision = limit.peekLocally(keys[i], now);
      decisions.push([limit, decision]);
      tats[i] = decision.tat;
      passes &&= decision.allowed;
    }
    if (!passes || !inRedis) return this.settle(keys, tats, decisions, passes);
    const counted = limits.filter((limit) => limit.redis);
    return this.redis!.take(
      counted.map((limit) => limit.redisKey(keys[limits.indexOf(limit)])),
      counted.map((limit) => limit.rate),
    ).then(
      (redisDecisions) => {
        counted.forEach((limit, i) => decisions.push([limit, redisDecisions[i]]));
        return this.settle(keys, tats, decisions, redisDecisions.every((decision) => decision.allowed));
      },
      (error: Error) => {
        this.warn(`Rate limit store ${this.redis!.url} failed (${error.message}): ${this.downBehaviour()}`);
        return this.count(req, clientIp, claims, false) as StageOutcome;
      },
    );
  }

  /** The step's outcome; the limits counted in memory are moved on only when it passes. */
  private settle(keys: string[], tats: (number | undefined)[], decisions: [RateLimiter, RateDecision][], passes: boolean): StageOutcome {
    if (passes) this.limits.forEach((limit, i) => tats[i] !== undefined && limit.commitLocally(keys[i], tats[i]!));
    return { passes, decisions };
  }

  private downBehaviour(): string {
    const names = (mode: string) => this.limits.filter((limit) => limit.redis && limit.onRedisDown === mode).map((limit) => `"${limit.name}"`);
    const parts = [
      names('local').length ? `counting ${names('local').join(', ')} in process memory meanwhile` : '',
      names('open').length ? `not limiting ${names('open').join(', ')} meanwhile` : '',
      names('closed').length ? `refusing requests under ${names('closed').join(', ')} meanwhile` : '',
    ];
    return parts.filter(Boolean).join('; ');
  }
}
