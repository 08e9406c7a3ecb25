import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GLIBC_TUNABLES, NODE_FLAGS, TUNED_ENV } from '../src/cli/runtime-flags.js';
import { configFile, isAlive } from './support/standalone.js';
import { startUpstream, type Upstream } from './support/upstream.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

/** Runs the CLI; once it listens, `whileListening` gets its URL, then it is sent SIGTERM. */
function cli(args: string[], whileListening?: (url: string, output: () => string) => Promise<void>) {
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    const env = { ...process.env };
    for (const name of ['GATEWAY_CONFIG', 'PORT', 'HOST', 'GATEWAY_WORKERS', 'GLIBC_TUNABLES', TUNED_ENV]) delete env[name];
    const child = spawn(process.execPath, [CLI, ...args], { env });
    let output = '';
    let listening = false;
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      const url = /Gateway listening on (http:\/\/[\d.]+:\d+)/.exec(output)?.[1];
      if (url && whileListening && !listening) {
        listening = true;
        void whileListening(url, () => output).finally(() => child.kill('SIGTERM'));
      }
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('exit', (code) => resolve({ code, output }));
  });
}

/** Serving processes, in a process group of their own: stopped by PID if a test leaves one behind. */
const servers = new Set<number>();
afterAll(() => {
  for (const pid of servers) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
});

describe('the nest-gateway command', () => {
  let upstream: Upstream;

  beforeAll(async () => {
    upstream = await startUpstream();
  });
  afterAll(() => upstream.close());

  it('runs the gateway from --config, --port and --host', async () => {
    const config = await configFile({ routes: [{ prefix: '/api', target: upstream.url }] });
    let status = 0;
    const result = await cli(['--config', config, '--port', '0', '--host', '127.0.0.1'], async (url) => {
      status = (await fetch(`${url}/api/x`)).status;
    });
    expect(status).toBe(200);
    expect(result.output).toContain(`1 route(s) from ${config}`);
    expect(result.code).toBe(0);
  });

  it('validates a file with exit code 1 and the field paths', async () => {
    const config = await configFile({ routes: [{ prefix: '/api', target: 'nope' }] });
    const result = await cli(['validate', config]);
    expect(result.code).toBe(1);
    expect(result.output).toContain('routes[0].target: expected an http:// or https:// URL');
  });

  // The bug: the command ran without the runtime flags and allocator settings of `npm start`
  // and the image, which the docs then asked users to paste in front of it.
  it('serves from a process with the tuned node flags and allocator settings, and passes it SIGTERM', async () => {
    const config = await configFile({ routes: [{ prefix: '/api', target: upstream.url }] });
    let serving: { pid: number; cmdline: string[]; environ: string[] } | undefined;
    const result = await cli(['--config', config, '--port', '0', '--host', '127.0.0.1'], async (url, output) => {
      expect((await fetch(`${url}/api/x`)).status).toBe(200);
      const pid = Number(/"pid":(\d+)[^\n]*Gateway listening/.exec(output())![1]);
      servers.add(pid);
      serving = {
        pid,
        cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'),
        environ: readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0'),
      };
    });
    expect(serving!.cmdline).toEqual(expect.arrayContaining([...NODE_FLAGS, CLI]));
    // glibc cuts the variable as it reads it at start: /proc shows it up to its first tunable.
    expect(serving!.environ).toContain(`GLIBC_TUNABLES=${GLIBC_TUNABLES.split(':')[0]}`);
    expect(serving!.environ).toContain(`${TUNED_ENV}=1`);
    expect(result.code).toBe(0);
    expect(isAlive(serving!.pid)).toBe(false);
  });
});
