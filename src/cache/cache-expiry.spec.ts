import { keyOfRoute, parseExpirePatterns, selectExpiredKeys } from './cache-expiry.js';

describe('cache expiry', () => {
  const keys = ['GET http://gw/api/a', 'GET https://gw/api?page=2', 'GET http://gw/apis/b', 'GET http://gw/other/api/c', 'GET http://gw/api#auth=x'];

  it('confines a route to the keys at or below its prefix, wherever else the prefix appears', () => {
    expect(keys.filter(keyOfRoute('/api'))).toEqual(['GET http://gw/api/a', 'GET https://gw/api?page=2', 'GET http://gw/api#auth=x']);
    expect(keys.filter(keyOfRoute('/api/'))).toEqual(keys.filter(keyOfRoute('/api')));
    expect(keys.filter(keyOfRoute('/'))).toEqual(keys);
    expect(keyOfRoute('/api')('GET no-path')).toBe(false);
  });

  it('selects keys by pattern, case-sensitively, within what the scope accepts', () => {
    expect(selectExpiredKeys(keys, parseExpirePatterns('*/a, */b'))).toEqual(['GET http://gw/api/a', 'GET http://gw/apis/b']);
    expect(selectExpiredKeys(keys, ['*/A'])).toEqual([]);
    expect(selectExpiredKeys(keys, ['*'], keyOfRoute('/other'))).toEqual(['GET http://gw/other/api/c']);
    expect(selectExpiredKeys([], ['*'])).toEqual([]);
  });
});
