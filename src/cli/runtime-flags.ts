/**
 * The runtime the gateway is tuned for, defined here once: the `nest-gateway` command (and so
 * `npm start`) applies it, and the Docker image's `CMD` and `ENV` are checked against it. Less
 * memory and twice the 64 KiB throughput: see docs/performance.md. Without allocation-site
 * pretenuring, because V8 sometimes tenured a site on the request's path for good: that process
 * then marked its old generation without pause and spent ~50 % more CPU a request, for its whole
 * life (on Node 24 in about half the processes started; see docs/performance.md, Node lines).
 */
export const NODE_FLAGS = ['--max-semi-space-size=2', '--heap-growing-percent=50', '--liftoff-only', '--no-allocation-site-pretenuring'] as const;
/** glibc's malloc settings: read by the C library as a process starts, so only a new process takes them. */
export const GLIBC_TUNABLES = 'glibc.malloc.arena_max=1:glibc.malloc.top_pad=4194304';
/** Set (to anything) in a process that runs as it is: the tuned one, or one whose operator chose its own flags. */
export const TUNED_ENV = 'NEST_GATEWAY_TUNED';

/** How to start the tuned process: node's arguments and environment. */
export interface TunedLaunch {
  args: string[];
  env: NodeJS.ProcessEnv;
}

/**
 * The process that runs `script` with `args` tuned, or undefined when this one is it already
 * (`NEST_GATEWAY_TUNED` set). The operator's own `GLIBC_TUNABLES` and node flags are kept.
 */
export function tunedLaunch(script: string, args: readonly string[], env: NodeJS.ProcessEnv, execArgv: readonly string[]): TunedLaunch | undefined {
  if (env[TUNED_ENV] !== undefined) return undefined;
  const given = new Set(execArgv.map(flagName));
  const flags = NODE_FLAGS.filter((flag) => !given.has(flagName(flag)));
  return {
    args: [...execArgv, ...flags, script, ...args],
    env: { ...env, GLIBC_TUNABLES: env.GLIBC_TUNABLES ?? GLIBC_TUNABLES, [TUNED_ENV]: '1' },
  };
}

/** A node flag's name, its value and a `--no-` dropped: `--no-x` and `--x=1` set the same thing. */
function flagName(flag: string): string {
  return flag.split('=')[0].replace(/^--no-/, '--');
}
