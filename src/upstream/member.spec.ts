import type { Forwarder } from '../proxy/index.js';
import { Member } from './member.js';

describe('Member (outlier detection)', () => {
  const outliers = { failures: 3, ejectionTime: 10_000, maxEjectedShare: 0.5 };
  const start = 1_000_000_000;
  const member = () => new Member({ href: 'http://a/' } as Forwarder, 1);
  const failTimes = (target: Member, count: number, now: number, mayEject = () => true) =>
    Array.from({ length: count }, () => target.failed(outliers, mayEject, now));

  it('ejects after `failures` in a row, for `ejectionTime`, and a success in between starts the count again', () => {
    const target = member();
    expect(failTimes(target, 2, start)).toEqual([false, false]);
    target.succeeded();
    expect(failTimes(target, 3, start)).toEqual([false, false, true]);
    expect(target.state(start)).toBe('ejected');
    expect(target.takesRequests(start + outliers.ejectionTime - 1)).toBe(false);
    expect(target.state(start + outliers.ejectionTime)).toBe('healthy');
  });

  it('ejects for longer at each ejection, 5 minutes at most, and not again while ejected', () => {
    const target = member();
    failTimes(target, 3, start);
    // Failures while ejected (requests in flight when it was taken out) do not eject it again,
    // but the row goes on: the first failure once it is back ejects it at once.
    expect(failTimes(target, 3, start + 1)).toEqual([false, false, false]);
    const second = start + outliers.ejectionTime;
    expect(failTimes(target, 1, second)).toEqual([true]);
    expect(target.state(second + 2 * outliers.ejectionTime - 1)).toBe('ejected');
    expect(target.state(second + 2 * outliers.ejectionTime)).toBe('healthy');
    let now = second + 2 * outliers.ejectionTime;
    for (let ejection = 3; ejection <= 40; ejection++) {
      failTimes(target, 3, now);
      now += Math.min(outliers.ejectionTime * ejection, 300_000);
    }
    expect(target.ejections).toBe(40);
    expect(target.state(now - 1)).toBe('ejected');
    expect(target.state(now)).toBe('healthy');
  });

  it('stays in when the pool may eject no more, and is out while its checks fail', () => {
    const target = member();
    expect(failTimes(target, 3, start, () => false)).toEqual([false, false, false]);
    expect(target.state(start)).toBe('healthy');
    target.checkedHealthy = false;
    expect(target.state(start)).toBe('unhealthy');
    failTimes(target, 3, start);
    target.passesChecks();
    expect(target.state(start)).toBe('healthy');
  });
});
