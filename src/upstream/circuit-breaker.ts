import type { ResolvedCircuitBreaker } from '../config/resolve-options.js';
import { SlidingCount } from './sliding-count.js';

/**
 * One target's breaker: closed (requests pass), open after the error rate passed its limit
 * (none pass, for `cooldown`), then half-open (`probes` requests pass; their success closes it,
 * a failure opens it again). Counted per one-second slot, so a request costs an increment.
 */
export class CircuitBreaker {
  private readonly requests = new SlidingCount();
  private readonly failures = new SlidingCount();
  private openUntil = 0;
  private probesLeft = 0;
  private probeSuccesses = 0;

  constructor(private readonly settings: ResolvedCircuitBreaker) {}

  /** Whether the target may take one more request now. */
  allows(inFlight: number, now = Date.now()): boolean {
    const { maxPending } = this.settings;
    if (maxPending !== undefined && inFlight >= maxPending) return false;
    if (now < this.openUntil) return false;
    return this.openUntil === 0 || this.probesLeft > 0;
  }

  /** A request goes to the target (after `allows`). */
  taken(now = Date.now()): void {
    if (this.openUntil !== 0 && now >= this.openUntil) this.probesLeft -= 1;
  }

  succeeded(now = Date.now()): void {
    this.requests.add(now);
    if (this.openUntil !== 0 && now >= this.openUntil && ++this.probeSuccesses >= this.settings.probes) this.close();
  }

  /** Counts a failure; true when it opened the breaker. */
  failed(now = Date.now()): boolean {
    this.requests.add(now);
    this.failures.add(now);
    const { errorRate, minRequests } = this.settings;
    if (this.openUntil !== 0 && now >= this.openUntil) return this.open(now);
    if (errorRate === undefined || this.openUntil !== 0) return false;
    const requests = this.requests.total(now);
    return requests >= minRequests && this.failures.total(now) / requests >= errorRate ? this.open(now) : false;
  }

  private open(now: number): true {
    this.openUntil = now + this.settings.cooldown;
    this.probesLeft = this.settings.probes;
    this.probeSuccesses = 0;
    return true;
  }

  private close(): void {
    this.openUntil = 0;
    this.requests.clear();
    this.failures.clear();
  }
}
