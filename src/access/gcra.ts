/**
 * The generic cell rate algorithm (GCRA), as the memory store runs it and the Redis script
 * mirrors it. A key's whole state is one number, its theoretical arrival time (TAT): when the
 * key would be back to a full burst. Each request moves it one `interval` (window / limit) on;
 * a request that would move it beyond `tolerance` (interval × burst) ahead of now is refused and
 * leaves it as it was. So `burst` requests pass at once, then one per interval, and a quiet
 * window brings the whole burst back: exact, with no window edge where twice the limit passes.
 * Times are whole microseconds, so every sum is exact in a double.
 */
export interface RateDecision {
  allowed: boolean;
  /** Requests that would pass right after this one. */
  remaining: number;
  /** Until the key is back to a full burst, in microseconds. */
  resetIn: number;
  /** Refused: until the next request would pass, in microseconds. */
  retryIn: number;
}

/** A limit's GCRA constants, in microseconds. */
export interface GcraRate {
  interval: number;
  tolerance: number;
}

export function gcraRate(limit: number, windowMs: number, burst: number): GcraRate {
  // Rounded down, so that a quiet window always gives the whole burst back; at least one
  // microsecond: a limit beyond a million per second counts as that.
  const interval = Math.max(1, Math.floor((windowMs * 1000) / limit));
  return { interval, tolerance: interval * burst };
}

/** The decision for a key whose TAT is `tat` (or none) at `now`, and its TAT after it. */
export function gcraStep(rate: GcraRate, tat: number | undefined, now: number): { decision: RateDecision; tat: number } {
  const start = tat !== undefined && tat > now ? tat : now;
  const ahead = start + rate.interval - now;
  if (ahead > rate.tolerance) {
    return { decision: decisionOf(rate, false, ahead - rate.interval, ahead - rate.tolerance), tat: start };
  }
  return { decision: decisionOf(rate, true, ahead, 0), tat: start + rate.interval };
}

/** A decision from how far ahead of now the key's TAT is after it (and, refused, how long to wait). */
export function decisionOf(rate: GcraRate, allowed: boolean, ahead: number, retryIn: number): RateDecision {
  return { allowed, remaining: Math.max(0, Math.floor((rate.tolerance - ahead) / rate.interval)), resetIn: ahead, retryIn };
}
