import { toRoutePaths } from './route-paths.js';

describe('toRoutePaths', () => {
  it.each([
    ['/users', '/*', ['/users', '/users/*']],
    ['/users/', '/*', ['/users', '/users/*']],
    ['/', '/*', ['/', '/*']],
    ['/users', '', ['/users']],
    ['/', '', ['/']],
    ['/users', '/:id', ['/users/:id']],
    ['/users', ':id', ['/users/:id']],
  ])('%s + %j → %j', (prefix, pathRegex, expected) => {
    expect(toRoutePaths(prefix, pathRegex)).toEqual(expected);
  });
});
