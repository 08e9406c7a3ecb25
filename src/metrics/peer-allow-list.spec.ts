import { isAllowed, toBlockList } from './peer-allow-list.js';

describe('peer allow-list', () => {
  const list = toBlockList(['127.0.0.0/8', '::1', '10.1.2.3', 'fd00::/8']);

  it.each([
    ['127.0.0.1', true],
    ['127.9.9.9', true],
    ['::ffff:127.0.0.1', true],
    ['::1', true],
    ['10.1.2.3', true],
    ['fd12::5', true],
    ['10.1.2.4', false],
    ['::ffff:192.168.1.1', false],
    ['2001:db8::1', false],
    [undefined, false],
  ])('%s → %s', (peer, expected) => {
    expect(isAllowed(list, peer)).toBe(expected);
  });
});
