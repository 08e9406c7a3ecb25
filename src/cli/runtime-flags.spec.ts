import { GLIBC_TUNABLES, NODE_FLAGS, TUNED_ENV, tunedLaunch } from './runtime-flags.js';

describe('tunedLaunch', () => {
  it('runs the script again with the node flags and the allocator settings, marked as tuned', () => {
    expect(tunedLaunch('/x/cli.js', ['--port', '1'], { PATH: '/bin' }, [])).toEqual({
      args: [...NODE_FLAGS, '/x/cli.js', '--port', '1'],
      env: { PATH: '/bin', GLIBC_TUNABLES, [TUNED_ENV]: '1' },
    });
  });

  it("keeps the operator's own flags and allocator settings", () => {
    const launch = tunedLaunch('/x/cli.js', [], { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }, ['--max-semi-space-size=8', '--inspect', '--allocation-site-pretenuring']);
    expect(launch?.args).toEqual(['--max-semi-space-size=8', '--inspect', '--allocation-site-pretenuring', '--heap-growing-percent=50', '--liftoff-only', '/x/cli.js']);
    expect(launch?.env.GLIBC_TUNABLES).toBe('glibc.malloc.arena_max=2');
  });

  it('leaves a tuned process (or one its operator marked so) as it is', () => {
    expect(tunedLaunch('/x/cli.js', [], { [TUNED_ENV]: '1' }, [])).toBeUndefined();
    expect(tunedLaunch('/x/cli.js', [], { [TUNED_ENV]: '' }, [])).toBeUndefined();
  });
});
