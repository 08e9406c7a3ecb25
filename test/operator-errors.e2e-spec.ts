import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { configFile, MAIN } from './support/standalone.js';
import { startUpstream, type Upstream } from './support/upstream.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

const running = new Set<ChildProcess>();
afterAll(() => {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

interface Ended {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a gateway script to its end, with the environment of the server set as given. */
async function run(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<Ended> {
  const base = { ...process.env };
  for (const name of ['GATEWAY_CONFIG', 'PORT', 'HOST', 'GATEWAY_WORKERS', 'LOG_LEVEL']) delete base[name];
  const child = spawn(process.execPath, [script, ...args], { env: { ...base, ...env } });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

/** A port some other process holds: a plain TCP listener of this test's. */
async function takenPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, server };
}

// The bug: these printed stack traces, after "Nest application successfully started", from every worker.
describe('operator errors', () => {
  let upstream: Upstream;
  let config: string;

  beforeAll(async () => {
    upstream = await startUpstream();
    config = await configFile({ routes: [{ prefix: '/api', target: upstream.url }] });
  });
  afterAll(() => upstream.close());

  /** One line on stderr, exit 1, and nothing that says the gateway started. */
  const expectOneLine = (ended: Ended, line: RegExp) => {
    expect(ended.code).toBe(1);
    expect(ended.stderr.split('\n')).toEqual([expect.stringMatching(line), '']);
    expect(ended.stdout).not.toMatch(/started|listening/i);
  };

  it.each([undefined, '2'])('a port in use is one line, once (GATEWAY_WORKERS=%s)', async (workers) => {
    const { port, server } = await takenPort();
    try {
      const env = { GATEWAY_CONFIG: config, PORT: String(port), HOST: '127.0.0.1', ...(workers ? { GATEWAY_WORKERS: workers } : {}) };
      expectOneLine(await run(MAIN, [], env), new RegExp(`^Cannot listen on 127\\.0\\.0\\.1:${port}: the address is in use .*choose another PORT`));
    } finally {
      server.close();
    }
  });

  it('--port abc is one line naming the flag and the ports it takes', async () => {
    expectOneLine(await run(CLI, ['--config', config, '--port', 'abc'], {}), /^PORT \(--port\): expected a port number from 0 to 65535 .*got 'abc'$/);
  });

  it.each([undefined, '2'])('LOG_LEVEL=verbose is one line naming the levels (GATEWAY_WORKERS=%s)', async (workers) => {
    const env = { GATEWAY_CONFIG: config, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'verbose', ...(workers ? { GATEWAY_WORKERS: workers } : {}) };
    expectOneLine(await run(MAIN, [], env), /^LOG_LEVEL: expected one of trace, debug, info, warn, error, fatal, silent, got 'verbose'$/);
  });

  it('--workers none is one line', async () => {
    expectOneLine(await run(CLI, ['--config', config, '--port', '0', '--workers', 'none'], {}), /^GATEWAY_WORKERS \(--workers\): expected a positive integer or "auto", got 'none'$/);
  });
});

describe('a gateway whose stdout nobody reads any more (`| head` ended)', () => {
  let upstream: Upstream;

  beforeAll(async () => {
    upstream = await startUpstream();
  });
  afterAll(() => upstream.close());

  it.each([undefined, '2'])('still stops on SIGTERM, exit 0 (GATEWAY_WORKERS=%s)', async (workers) => {
    const config = await configFile({ routes: [{ prefix: '/api', target: upstream.url }] });
    const env: NodeJS.ProcessEnv = { ...process.env, GATEWAY_CONFIG: config, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' };
    if (workers) env.GATEWAY_WORKERS = workers;
    else delete env.GATEWAY_WORKERS;
    const child = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'ignore'] });
    running.add(child);
    const exited = once(child, 'exit');
    let output = '';
    const url = await new Promise<string>((resolve) =>
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk;
        const listening = /Gateway listening on (http:\/\/[\d.]+:\d+)/.exec(output);
        if (listening) resolve(listening[1]);
      }),
    );
    child.stdout.destroy();
    // Access lines past a write's worth (4 KiB), each write then meeting a pipe without reader.
    for (let i = 0; i < 100; i++) expect((await fetch(`${url}/api/${'x'.repeat(100)}`)).status).toBe(200);
    child.kill('SIGTERM');
    expect(await exited).toEqual([0, null]);
  });
});
