import { CircuitBreaker } from './circuit-breaker.js';

describe('CircuitBreaker', () => {
  const settings = { errorRate: 0.5, minRequests: 4, cooldown: 1000, probes: 2, maxPending: undefined };
  const start = 1_000_000_000;

  /** A breaker opened at `start` by four failures out of four. */
  function opened(): CircuitBreaker {
    const breaker = new CircuitBreaker(settings);
    expect([breaker.failed(start), breaker.failed(start), breaker.failed(start), breaker.failed(start)]).toEqual([false, false, false, true]);
    expect(breaker.allows(0, start)).toBe(false);
    return breaker;
  }

  it('stays closed below minRequests or the error rate', () => {
    const breaker = new CircuitBreaker(settings);
    for (let i = 0; i < 3; i++) expect(breaker.failed(start)).toBe(false);
    for (let i = 0; i < 5; i++) breaker.succeeded(start);
    expect(breaker.failed(start)).toBe(false);
    expect(breaker.allows(0, start)).toBe(true);
  });

  it('lets `probes` requests through after the cooldown, and closes when they succeed', () => {
    const breaker = opened();
    const later = start + settings.cooldown;
    expect(breaker.allows(0, later - 1)).toBe(false);
    for (let probe = 0; probe < settings.probes; probe++) {
      expect(breaker.allows(0, later)).toBe(true);
      breaker.taken(later);
    }
    expect(breaker.allows(0, later)).toBe(false);
    breaker.succeeded(later);
    expect(breaker.allows(0, later)).toBe(false);
    breaker.succeeded(later);
    expect(breaker.allows(0, later)).toBe(true);
    // Closed with its counts cleared: one failure does not reopen it.
    expect(breaker.failed(later)).toBe(false);
  });

  it('opens again for a whole cooldown when a probe fails, and probes again after it', () => {
    const breaker = opened();
    const later = start + settings.cooldown;
    breaker.taken(later);
    expect(breaker.failed(later)).toBe(true);
    expect(breaker.allows(0, later)).toBe(false);
    expect(breaker.allows(0, later + settings.cooldown - 1)).toBe(false);
    expect(breaker.allows(0, later + settings.cooldown)).toBe(true);
  });

  it('refuses past maxPending requests in flight, open or not', () => {
    const breaker = new CircuitBreaker({ ...settings, maxPending: 2 });
    expect(breaker.allows(1, start)).toBe(true);
    expect(breaker.allows(2, start)).toBe(false);
  });

  it('opens at exactly the error rate, and never on the rate without errorRate (maxPending only)', () => {
    const atRate = new CircuitBreaker(settings);
    atRate.succeeded(start);
    atRate.succeeded(start);
    atRate.failed(start);
    expect(atRate.failed(start)).toBe(true);
    const pendingOnly = new CircuitBreaker({ ...settings, errorRate: undefined, maxPending: 10 });
    for (let i = 0; i < 10; i++) expect(pendingOnly.failed(start)).toBe(false);
    expect(pendingOnly.allows(9, start)).toBe(true);
  });

  it('spends no probe while closed, and counts only the half-open successes toward closing', () => {
    const breaker = new CircuitBreaker(settings);
    for (let i = 0; i < 5; i++) breaker.taken(start);
    breaker.succeeded(start);
    expect(breaker.allows(0, start)).toBe(true);
    const open = opened();
    // A success reported while open (a request sent before it opened) is no probe.
    open.succeeded(start);
    open.succeeded(start);
    const later = start + settings.cooldown;
    open.taken(later);
    open.succeeded(later);
    expect(open.allows(0, later)).toBe(true);
    open.taken(later);
    expect(open.allows(0, later)).toBe(false);
    open.succeeded(later);
    expect(open.allows(0, later)).toBe(true);
  });

  it('lets a failure while open (before the cooldown) change nothing', () => {
    const breaker = opened();
    expect(breaker.failed(start + 1)).toBe(false);
    expect(breaker.allows(0, start + settings.cooldown)).toBe(true);
  });
});
