/** The window the budget is judged over, in one-second slots. */
const WINDOW_SLOTS = 10;
/** Retries always allowed per window, so that a quiet route may still retry. */
const MIN_RETRIES = 3;

/**
 * Envoy's retry budget: retries may add at most `share` of a route's requests over the last
 * 10 s (at least 3), so that a total outage adds that much load to the services, never a storm.
 */
export class RetryBudget {
  private readonly requests = new Array<number>(WINDOW_SLOTS).fill(0);
  private readonly retries = new Array<number>(WINDOW_SLOTS).fill(0);
  private slot = 0;
  private slotSecond = 0;

  constructor(private readonly share: number) {}

  requested(now = Date.now()): void {
    this.requests[this.advance(now)] += 1;
  }

  /** Takes one retry from the budget; false when none is left. */
  takeRetry(now = Date.now()): boolean {
    const slot = this.advance(now);
    const requests = this.requests.reduce((sum, count) => sum + count, 0);
    const retries = this.retries.reduce((sum, count) => sum + count, 0);
    if (retries >= Math.max(MIN_RETRIES, this.share * requests)) return false;
    this.retries[slot] += 1;
    return true;
  }

  private advance(now: number): number {
    const second = Math.floor(now / 1000);
    const elapsed = Math.min(second - this.slotSecond, WINDOW_SLOTS);
    for (let step = 0; step < elapsed; step++) {
      this.slot = (this.slot + 1) % WINDOW_SLOTS;
      this.requests[this.slot] = 0;
      this.retries[this.slot] = 0;
    }
    this.slotSecond = second;
    return this.slot;
  }
}
