import type { IncomingMessage } from 'node:http';
import { Forwarder } from '../proxy/forwarder.js';
import { createBalancer } from './balancers.js';
import { Member } from './member.js';

const forwarders: Forwarder[] = [];
function members(count: number, weight = () => 1): Member[] {
  return Array.from({ length: count }, (_, i) => {
    const forwarder = new Forwarder(
      {
        target: new URL(`http://10.0.0.${i + 1}:3000`),
        rewriteUrl: (url) => url,
        bodyLimit: 1024,
        timeout: 1000,
        maxConnections: 1,
        requestBodyTimeout: 1000,
        keepAliveTimeout: 1000,
        dropHeaders: new Set(),
        dropResponseHeaders: new Set(),
      },
      { draining: false },
    );
    forwarders.push(forwarder);
    return new Member(forwarder, weight());
  });
}
afterAll(() => Promise.all(forwarders.map((forwarder) => forwarder.close())));

const withHeader = (value: string) => ({ headers: { 'x-user-id': value } }) as unknown as IncomingMessage;
const withCookie = (cookie: string) => ({ headers: { cookie } }) as unknown as IncomingMessage;

describe('consistent-hash', () => {
  it('moves at most 35 % of 1,000 keys when one of 4 targets goes', () => {
    const four = members(4);
    const balancer = createBalancer('consistent-hash', four, 'header:x-user-id');
    const keys = Array.from({ length: 1000 }, (_, i) => `user-${i}`);
    const before = keys.map((key) => balancer.pick(four, withHeader(key), undefined));
    const three = four.slice(0, 3);
    const after = keys.map((key) => balancer.pick(three, withHeader(key), undefined));
    const moved = keys.filter((_, i) => before[i] !== after[i]).length;
    // The keys of the removed target must move; those of the others stay.
    expect(moved).toBe(before.filter((member) => member === four[3]).length);
    expect(moved / keys.length).toBeLessThanOrEqual(0.35);
    expect(new Set(before).size).toBe(4);
  });

  it('keys on a cookie, or on the client address', () => {
    const two = members(2);
    const byCookie = createBalancer('consistent-hash', two, 'cookie:sid');
    const picked = byCookie.pick(two, withCookie('theme=dark; sid=abc'), undefined);
    for (let i = 0; i < 5; i++) expect(byCookie.pick(two, withCookie(`sid=abc; n=${i}`), undefined)).toBe(picked);
    const byIp = createBalancer('consistent-hash', two, 'ip');
    const forIp = byIp.pick(two, withHeader(''), '192.0.2.7');
    expect(byIp.pick(two, withHeader('other'), '192.0.2.7')).toBe(forIp);
  });
});

describe('round-robin', () => {
  it('interleaves by weight (smooth), rather than in runs', () => {
    const [a, b] = members(2, (() => {
      let i = 0;
      return () => (i++ === 0 ? 1 : 2);
    })());
    const balancer = createBalancer('round-robin', [a, b], undefined);
    const picks = Array.from({ length: 6 }, () => (balancer.pick([a, b], withHeader(''), undefined) === a ? 'a' : 'b'));
    expect(picks.join('')).toBe('babbab');
  });
});

describe('least-request', () => {
  it('prefers the target with fewer requests in flight for its weight', () => {
    const [busy, idle] = members(2);
    busy.inFlight = 5;
    const balancer = createBalancer('least-request', [busy, idle], undefined);
    for (let i = 0; i < 20; i++) expect(balancer.pick([busy, idle], withHeader(''), undefined)).toBe(idle);
  });
});
