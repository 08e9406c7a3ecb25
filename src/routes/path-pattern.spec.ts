import { createUrlRewriter } from './path-pattern.js';

describe('createUrlRewriter', () => {
  it.each([
    ['/public', '', '/public/x?y=1', '/x?y=1'],
    ['/public', '', '/public?y=1', '/?y=1'],
    ['/public', '', '/public', '/'],
    ['/public', '/api', '/public/x?y=1', '/api/x?y=1'],
    ['/public', '/api/', '/public', '/api'],
    ['/', '/root', '/x', '/root/x'],
    ['/', '', '/x?q', '/x?q'],
    ['/api', '/svc', '/%61pi/x', '/svc/x'],
    ['/public', '', '/%70ublic/x?y=1', '/x?y=1'],
    ['/a/b', '/c', '/%61/%62?q', '/c?q'],
    ['/a/b', '', '/a/%62/rest', '/rest'],
  ])('%s → %j rewrites %s to %s', (prefix, rewrite, url, expected) => {
    expect(createUrlRewriter(prefix, rewrite)(url)).toBe(expected);
  });
});
