import { SlidingCount } from './sliding-count.js';

/** Retries always allowed per window, so that a quiet route may still retry. */
const MIN_RETRIES = 3;

/**
 * Envoy's retry budget: retries may add at most `share` of a route's requests over the last
 * 10 s (at least 3), so that a total outage adds that much load to the services, never a storm.
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
    if (this.retries.total(now) >= Math.max(MIN_RETRIES, this.share * this.requests.total(now))) return false;
    this.retries.add(now);
    return true;
  }
}
