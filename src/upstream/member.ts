import type { ResolvedOutlierDetection } from '../config/resolve-options.js';
import type { Forwarder } from '../proxy/index.js';
import type { CircuitBreaker } from './circuit-breaker.js';

/** However often a target is ejected, an ejection lasts at most this long. */
const EJECTION_MAX_MS = 300_000;

/** Why a target takes no requests now. */
export type MemberState = 'healthy' | 'ejected' | 'unhealthy';

/**
 * One target of a route: its forwarder (an undici pool of its own), the requests in flight to
 * it, what passive health (outlier detection) and active checks say of it.
 */
export class Member {
  inFlight = 0;
  /** Whether the active checks pass; true when the route has none. */
  checkedHealthy = true;
  ejections = 0;
  private failuresInARow = 0;
  private ejectedUntil = 0;

  constructor(
    readonly forwarder: Forwarder,
    readonly weight: number,
    readonly breaker?: CircuitBreaker,
  ) {}

  /** Whether it may take one more request now: healthy, and its breaker (if any) lets it through. */
  takesRequests(now = Date.now()): boolean {
    return this.state(now) === 'healthy' && (!this.breaker || this.breaker.allows(this.inFlight, now));
  }

  get href(): string {
    return this.forwarder.href;
  }

  state(now = Date.now()): MemberState {
    if (!this.checkedHealthy) return 'unhealthy';
    return now < this.ejectedUntil ? 'ejected' : 'healthy';
  }

  succeeded(): void {
    this.failuresInARow = 0;
  }

  /** Its active checks pass (again): that ends an ejection too. */
  passesChecks(): void {
    this.checkedHealthy = true;
    this.failuresInARow = 0;
    this.ejectedUntil = 0;
  }

  /**
   * Counts a failure; ejects the target after `outliers.failures` in a row when `mayEject`
   * allows, for a time that grows with each ejection. Returns whether it ejected.
   */
  failed(outliers: ResolvedOutlierDetection, mayEject: () => boolean, now = Date.now()): boolean {
    this.failuresInARow += 1;
    if (this.failuresInARow < outliers.failures || now < this.ejectedUntil || !mayEject()) return false;
    this.ejections += 1;
    this.failuresInARow = 0;
    this.ejectedUntil = now + Math.min(outliers.ejectionTime * this.ejections, EJECTION_MAX_MS);
    return true;
  }
}
