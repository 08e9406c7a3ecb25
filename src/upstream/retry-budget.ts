import { SlidingCount } from './sliding-count.js';

/**
 * Retries allowed per window on top of the share, so that a quiet route retries every failure
 * while outlier detection takes a failing target out (5 failures in a row).
 */
const FLOOR_RETRIES = 10;

/**
 * A retry budget over the last 10 s: retries may add `share` of the route's requests, plus
 * {@link FLOOR_RETRIES} (Linkerd's budget: a ratio, plus a floor for quiet routes). A total
 * outage at load then adds that share of load to the services, never a storm; a route that
 * sees a request now and then still has every one retried. A floor taken as a minimum
 * instead (`max(3, share × requests)`) failed the 7th of 20 sequential requests.
 */
export class RetryBudget {
  private readonly requests = new SlidingCount();
  private readonly retries = new SlidingCount();

  constructor(private readonly share: number) {}

  requested(now = Date.now()): void {
    this.requests.add(now);
  }

  /** Takes one retry from the budget; false when none is left. */
  takeRetry(now = Date.now()): boolean {
    if (this.retries.total(now) >= FLOOR_RETRIES + this.share * this.requests.total(now)) return false;
    this.retries.add(now);
    return true;
  }
}
