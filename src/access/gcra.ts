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

/** The decision for a key whose TAT is `tat` (or none) at `now`, with the key's TAT after it. */
export function gcraStep(rate: GcraRate, tat: number | undefined, now: number): RateDecision & { tat: number } {
  const start = tat !== undefined && tat > now ? tat : now;
  const ahead = start + rate.interval - now;
  // One object per request: the decision carries the new TAT.
  if (ahead > rate.tolerance) {
    const held = ahead - rate.interval;
    return { allowed: false, remaining: remainingOf(rate, held), resetIn: held, retryIn: ahead - rate.tolerance, tat: start };
  }
  return { allowed: true, remaining: remainingOf(rate, ahead), resetIn: ahead, retryIn: 0, tat: start + rate.interval };
}

/** Requests that would pass at once with the key's TAT `ahead` of now. */
const remainingOf = (rate: GcraRate, ahead: number) => Math.max(0, Math.floor((rate.tolerance - ahead) / rate.interval));

/** A decision from how far ahead of now the key's TAT is after it (and, refused, how long to wait). */
export function decisionOf(rate: GcraRate, allowed: boolean, ahead: number, retryIn: number): RateDecision {
  return { allowed, remaining: remainingOf(rate, ahead), resetIn: ahead, retryIn };
}
