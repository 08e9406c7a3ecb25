import { RetryBudget } from './retry-budget.js';

describe('RetryBudget', () => {
  it('allows retries up to the share of requests over the last 10 s, and at least 3', () => {
    const budget = new RetryBudget(0.2);
    const now = 1_000_000_000;
    expect([budget.takeRetry(now), budget.takeRetry(now), budget.takeRetry(now), budget.takeRetry(now)]).toEqual([true, true, true, false]);
    for (let i = 0; i < 100; i++) budget.requested(now);
    let granted = 0;
    while (budget.takeRetry(now)) granted += 1;
    expect(granted + 3).toBe(20);
    // Ten seconds on, the window has moved past all of it.
    expect(budget.takeRetry(now + 10_000)).toBe(true);
  });
});
