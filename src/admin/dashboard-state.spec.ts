import { quantile } from './dashboard-state.js';

const buckets = (counts: Record<string, number>) => Object.entries(counts).map(([le, value]) => ({ labels: { le }, value }));

describe("the operator page's latency quantiles, from cumulative buckets", () => {
  it('has none without observations', () => {
    expect(quantile(0.5, buckets({ '0.005': 0, '+Inf': 0 }))).toBeNull();
    expect(quantile(0.5, [])).toBeNull();
  });

  it('interpolates within the bucket that reaches the rank, as histogram_quantile does', () => {
    const latencies = buckets({ '+Inf': 4, '0.01': 4, '0.005': 2 });
    expect(quantile(0.5, latencies)).toBeCloseTo(5, 6);
    expect(quantile(0.99, latencies)).toBeCloseTo(9.9, 6);
  });

  it("gives the highest finite bound when the rank falls in +Inf's bucket", () => {
    expect(quantile(0.99, buckets({ '0.005': 1, '0.01': 2, '+Inf': 4 }))).toBe(10);
  });

  it('gives the first bound at rank 0, where the bucket holds nothing to interpolate', () => {
    expect(quantile(0, buckets({ '0.005': 0, '0.01': 3, '+Inf': 3 }))).toBe(5);
  });
});
