import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { LRUCache } from 'lru-cache';
import type { ResolvedRateLimit } from '../config/resolve-options.js';
import ipaddr from 'ipaddr.js';
import { requestKeyFunction } from '../request-key.js';
import { gcraRate, type GcraRate, gcraStep, type RateDecision } from './gcra.js';
import type { RedisRateStore } from './redis-rate-store.js';

/** Keys one limit counts in process memory at most: past it, the least recently seen start afresh. */
const MEMORY_KEYS = 100_000;
/** What a request is counted by, given its client address and its verified claims. */
export type KeyFunction = (req: IncomingMessage, clientAddress: string, claims: Record<string, unknown> | undefined) => string;

/**
 * A client address as a key: an IPv6 client by its /64, the block a single host or home is given,
 * so that one client cannot take a fresh count per address of its block.
 */
function addressKey(address: string): string {
  // An IPv4 address (most clients) is its own key, unparsed.
  if (!address.includes(':') || !ipaddr.IPv6.isValid(address)) return `ip:${address}`;
  const v6 = ipaddr.IPv6.parse(address);
  if (v6.isIPv4MappedAddress()) return `ip:${v6.toIPv4Address().toString()}`;
  return `ip:${v6.parts.slice(0, 4).map((part) => part.toString(16)).join(':')}::/64`;
}

// A header, cookie or claim value may be a secret (an API key, a session): counted by its
// digest, it never shows in Redis key names, and no value makes a key longer than a digest.
const digestKey = (value: string) => `k:${createHash('sha256').update(value).digest('base64url')}`;

function keyFunction(by: string): KeyFunction {
  if (by === 'ip') return (_req, address) => addressKey(address);
  if (by.startsWith('jwt:')) {
    const claim = by.slice(4);
    return (_req, address, claims) => {
      const value = claims?.[claim];
      return typeof value === 'string' || typeof value === 'number' ? digestKey(String(value)) : addressKey(address);
    };
  }
  const valueOf = requestKeyFunction(by);
  return (req, address) => {
    const value = valueOf(req, address);
    return value ? digestKey(value) : addressKey(address);
  };
}

/**
 * One rate limit of a route: GCRA (see gcra.ts) over the route's clients as `by` tells them
 * apart, counted in this process's memory or in Redis. The limits of one step of a route's
 * checks are counted together (`RateLimitStage`).
 */
export class RateLimiter {
  readonly name: string;
  readonly limit: number;
  /** This limit's member of `RateLimit-Policy`. */
  readonly policy: string;
  /** Whether the key is a claim: counted after authentication, not before. */
  readonly afterAuth: boolean;
  readonly rate: GcraRate;
  readonly keyOf: KeyFunction;
  // Bounded by size, one per key, not by `max`: lru-cache sets aside room for `max` keys up front
  // (2.7 MB for 100 000), on every limit, used or not.
  private readonly local = new LRUCache<string, number>({ maxSize: MEMORY_KEYS, sizeCalculation: () => 1 });
  private readonly redisPrefix: string;

  constructor(
    settings: ResolvedRateLimit,
    route: string,
    namespace: string,
    /** Where the limit is counted when not in memory. */
    readonly redis: RedisRateStore | undefined,
    readonly onRedisDown: ResolvedRateLimit['onRedisDown'],
  ) {
    this.name = settings.name;
    this.limit = settings.limit;
    this.policy = `"${settings.name}";q=${settings.limit};w=${Math.max(1, Math.round(settings.window / 1000))}`;
    this.afterAuth = settings.by.startsWith('jwt:');
    this.rate = gcraRate(settings.limit, settings.window, settings.burst);
    this.keyOf = keyFunction(settings.by);
    this.redisPrefix = `${namespace}:rate:${route}:${settings.name}:`;
  }

  /** The key's name in Redis. */
  redisKey(key: string): string {
    return this.redisPrefix + key;
  }

  /** Whether requests are counted where they should be: true for memory, and for Redis while it answers. */
  storeUp(): boolean {
    return !this.redis || this.redis.isUp();
  }

  /** What counting a request under `key` in memory would decide, and the key's state after it; nothing is changed yet. */
  peekLocally(key: string, now: number): RateDecision & { tat: number } {
    return gcraStep(this.rate, this.local.get(key), now);
  }

  commitLocally(key: string, tat: number): void {
    this.local.set(key, tat);
  }
}

/** A memory clock in microseconds, for the limits counted in this process. */
export const microsecondsNow = () => Math.round(performance.now() * 1000);
