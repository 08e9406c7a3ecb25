import { RetryBudget } from './retry-budget.js';

describe('RetryBudget', () => {
  const now = 1_000_000_000;

  it('allows 10 retries per 10 s on top of the share of requests', () => {
    const budget = new RetryBudget(0.2);
    let granted = 0;
    while (budget.takeRetry(now)) granted += 1;
    expect(granted).toBe(10);
    for (let i = 0; i < 100; i++) budget.requested(now);
    while (budget.takeRetry(now)) granted += 1;
    expect(granted).toBe(30);
    // Ten seconds on, the window has moved past all of it.
    expect(budget.takeRetry(now + 10_000)).toBe(true);
  });

  it('retries every failure of a quiet route: 20 requests, every other one failing once', () => {
    const budget = new RetryBudget(0.2);
    const retried = Array.from({ length: 20 }, (_, i) => {
      budget.requested(now + i * 100);
      return i % 2 === 1 || budget.takeRetry(now + i * 100);
    });
    expect(retried.every(Boolean)).toBe(true);
  });
});
