import { parseCacheControl, parseCacheTtl } from './cache-ttl.js';
import { matchesIfNoneMatch } from './cache-entry.js';
import { parseExpirePatterns, selectExpiredKeys } from './cache-expiry.js';

describe('parseCacheTtl', () => {
  it.each([
    ['1 hour', 3_600_000],
    ['30s', 30_000],
    ['2 days', 172_800_000],
    ['60', 60_000],
    ['1.5', 1500],
    ['0.0015', 2],
  ])('%s → %d ms', (value, expected) => expect(parseCacheTtl(value)).toBe(expected));

  it.each(['soon', '', '0', '-5s', '0s', '10ms', '1.25ms', '500 msecs', '2000 Milliseconds'])('rejects %j', (value) => expect(parseCacheTtl(value)).toBeUndefined());
});

describe('parseCacheControl', () => {
  it('prefers s-maxage and spots no-store and private', () => {
    expect(parseCacheControl('public, max-age=60, s-maxage=120')).toEqual({ ttl: 120_000, forbidsStoring: false });
    expect(parseCacheControl('max-age="30"')).toEqual({ ttl: 30_000, forbidsStoring: false });
    expect(parseCacheControl('no-store')).toEqual({ ttl: undefined, forbidsStoring: true });
    expect(parseCacheControl('private, max-age=60').forbidsStoring).toBe(true);
    expect(parseCacheControl(undefined)).toEqual({ ttl: undefined, forbidsStoring: false });
    expect(parseCacheControl('max-age=0').ttl).toBeUndefined();
  });
});

describe('expiry patterns', () => {
  it('splits comma-separated patterns and matches across slashes', () => {
    expect(parseExpirePatterns(' */numbers, ,*/users* ')).toEqual(['*/numbers', '*/users*']);
    expect(parseExpirePatterns(['*/a', '*/b'])).toEqual(['*/a', '*/b']);
    expect(selectExpiredKeys(['GET/api/numbers', 'GET/api/numbers?x=1', 'GET/users/1'], ['*/numbers', '*/users*'])).toEqual([
      'GET/api/numbers',
      'GET/users/1',
    ]);
    expect(selectExpiredKeys([], ['*'])).toEqual([]);
  });
});

describe('matchesIfNoneMatch', () => {
  it('compares ETags weakly and accepts lists and *', () => {
    expect(matchesIfNoneMatch('"a", W/"b"', '"b"')).toBe(true);
    expect(matchesIfNoneMatch('*', '"x"')).toBe(true);
    expect(matchesIfNoneMatch('"c"', '"b"')).toBe(false);
    expect(matchesIfNoneMatch(undefined, '"b"')).toBe(false);
  });
});
