import { jest } from '@jest/globals';
import { throttledWarning } from './throttled-warning.js';

describe('throttledWarning', () => {
  afterEach(() => jest.restoreAllMocks());

  it('logs once per interval and counts what it held back', () => {
    const logged: string[] = [];
    const now = jest.spyOn(Date, 'now').mockReturnValue(1_000);
    const warn = throttledWarning({ log: () => undefined, error: () => undefined, warn: (message: string) => logged.push(message) }, 10_000);
    warn('first');
    warn('second');
    warn('third');
    now.mockReturnValue(12_000);
    warn('fourth');
    now.mockReturnValue(13_000);
    warn('fifth');
    expect(logged).toEqual(['first', 'fourth (and 2 more in the last 11 s)']);
  });
});
