import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { configFile } from './support/standalone.js';
import { startUpstream, type Upstream } from './support/upstream.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

/** Runs the CLI; once it listens, `whileListening` gets its URL, then it is sent SIGTERM. */
function cli(args: string[], whileListening?: (url: string) => Promise<void>) {
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    const env = { ...process.env };
    for (const name of ['GATEWAY_CONFIG', 'PORT', 'HOST', 'GATEWAY_WORKERS']) delete env[name];
    const child = spawn(process.execPath, [CLI, ...args], { env });
    let output = '';
    let listening = false;
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      const url = /Gateway listening on (http:\/\/[\d.]+:\d+)/.exec(output)?.[1];
      if (url && whileListening && !listening) {
        listening = true;
        void whileListening(url).finally(() => child.kill('SIGTERM'));
      }
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('exit', (code) => resolve({ code, output }));
  });
}

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
});
