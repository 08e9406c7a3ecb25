import { randomFillSync } from 'node:crypto';
import { isValidSpanId, isValidTraceId } from '@opentelemetry/api';
import { PooledIdGenerator } from './pooled-ids.js';

describe('ids cut from a pool of random bytes', () => {
  it('gives valid, distinct trace and span ids across many pools', () => {
    const ids = new PooledIdGenerator();
    // 3000 requests' worth: the 4 KiB pool is drawn again about 23 times.
    const traces = Array.from({ length: 3000 }, () => ids.generateTraceId());
    const spans = Array.from({ length: 6000 }, () => ids.generateSpanId());
    expect(traces.every(isValidTraceId)).toBe(true);
    expect(spans.every(isValidSpanId)).toBe(true);
    expect(new Set(traces).size).toBe(traces.length);
    expect(new Set(spans).size).toBe(spans.length);
  });

  it('skips the all-zero ids that W3C calls invalid', () => {
    let draws = 0;
    // The first pool is all zeros, the next ones random.
    const ids = new PooledIdGenerator((pool) => (draws++ === 0 ? pool.fill(0) : randomFillSync(pool)));
    const trace = ids.generateTraceId();
    const span = ids.generateSpanId();
    expect(isValidTraceId(trace)).toBe(true);
    expect(isValidSpanId(span)).toBe(true);
    expect(draws).toBe(2);
  });
});
