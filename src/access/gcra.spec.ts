import fc from 'fast-check';
import { gcraRate, gcraStep } from './gcra.js';

/** Sends requests at the given instants (µs); the decisions, in order. */
function run(limit: number, windowMs: number, burst: number, instants: number[]) {
  const rate = gcraRate(limit, windowMs, burst);
  let tat: number | undefined;
  return instants.map((now) => {
    const decision = gcraStep(rate, tat, now);
    tat = decision.tat;
    return decision;
  });
}

describe('GCRA', () => {
  it('lets exactly `burst` of any number of simultaneous requests through, whatever the rate', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 86_400_000 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 400 }), (limit, windowMs, burst, extra) => {
        const decisions = run(limit, windowMs, burst, new Array(burst + extra).fill(1_000_000));
        expect(decisions.filter((decision) => decision.allowed)).toHaveLength(burst);
        expect(decisions.slice(0, burst).every((decision) => decision.allowed)).toBe(true);
      }),
    );
  });

  it('counts down what is left, then tells how long to wait for the next request', () => {
    const decisions = run(3, 600, 3, [0, 0, 0, 0]);
    expect(decisions.map((decision) => decision.remaining)).toEqual([2, 1, 0, 0]);
    expect(decisions[3]).toEqual({ allowed: false, remaining: 0, resetIn: 600_000, retryIn: 200_000, tat: 600_000 });
    expect(decisions[2].resetIn).toBe(600_000);
  });

  it('lets one request through per interval after the burst, and refuses one sent a microsecond early', () => {
    const decisions = run(4, 1000, 4, [0, 0, 0, 0, 249_999, 250_000, 499_999, 500_000]);
    expect(decisions.map((decision) => decision.allowed)).toEqual([true, true, true, true, false, true, false, true]);
  });

  it('gives the whole burst back after a quiet window, and no more than the burst however long the quiet', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 0, max: 10 }), (limit, windowMs, windowsLater) => {
        const later = (1 + windowsLater) * windowMs * 1000;
        const decisions = run(limit, windowMs, limit, [...new Array(limit).fill(0), ...new Array(limit + 1).fill(later)]);
        expect(decisions.slice(limit).filter((decision) => decision.allowed)).toHaveLength(limit);
      }),
    );
  });

  it('leaves the state as it was on a refusal: refused requests cost nothing', () => {
    const rate = gcraRate(1, 1000, 1);
    const first = gcraStep(rate, undefined, 0);
    const refused = gcraStep(rate, first.tat, 10);
    expect(refused.allowed).toBe(false);
    expect(refused.tat).toBe(first.tat);
  });

  it('counts a limit beyond a million a second as one a microsecond', () => {
    expect(gcraRate(1_000_000_000, 1000, 5)).toEqual({ interval: 1, tolerance: 5 });
  });
});
