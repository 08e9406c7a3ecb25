import { parseWorkerCount } from './workers.js';

describe('parseWorkerCount', () => {
  it('reads unset as one worker and auto as one per core', () => {
    expect(parseWorkerCount(undefined, 8)).toBe(1);
    expect(parseWorkerCount(' ', 8)).toBe(1);
    expect(parseWorkerCount('auto', 8)).toBe(8);
    expect(parseWorkerCount('3', 8)).toBe(3);
  });

  it.each(['0', '-2', '1.5', 'many'])('refuses %p, naming the variable', (value) => {
    expect(() => parseWorkerCount(value, 8)).toThrow(/GATEWAY_WORKERS: expected a positive integer or "auto"/);
  });
});
