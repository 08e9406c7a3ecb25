import { spawn } from 'node:child_process';
import { startWorkerPool, type WorkerPool } from '../src/server/index.js';
import { get as httpGet } from 'node:http';
import { sample } from './support/prometheus.js';
import { configFile, isAlive, MAIN, startStandalone } from './support/standalone.js';
import { startUpstream, type Upstream } from './support/upstream.js';
import { until } from './support/wait.js';

describe('worker pool (node:cluster)', () => {
  let upstream: Upstream;
  let pool: WorkerPool | undefined;

  beforeAll(async () => {
    upstream = await startUpstream();
  });
  afterEach(async () => {
    await pool?.stop();
    pool = undefined;
  });
  afterAll(() => upstream.close());

  it('runs the gateway in several processes on one port and replaces a worker that dies', async () => {
    const config = await configFile({ routes: [{ prefix: '/api', target: upstream.url }] });
    pool = startWorkerPool({ count: 2, exec: MAIN, env: { GATEWAY_CONFIG: config, PORT: '0', HOST: '127.0.0.1' } });
    const port = await pool.ready;
    const [first, second] = pool.pids();
    expect(pool.pids()).toHaveLength(2);

    const res = await fetch(`http://127.0.0.1:${port}/api/hello`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { url: string }).url).toBe('/hello');

    process.kill(first, 'SIGKILL');
    const deadline = Date.now() + 15_000;
    while (!(pool.pids().length === 2 && !pool.pids().includes(first))) {
      if (Date.now() > deadline) throw new Error('the dead worker was not replaced');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // The replacement listens on the same port; every request is still answered.
    for (let i = 0; i < 20; i++) expect((await fetch(`http://127.0.0.1:${port}/api/n${i}`)).status).toBe(200);

    const pids = pool.pids();
    await pool.stop();
    expect(pids.filter(isAlive)).toEqual([]);
    expect(pids).toContain(second);
  });

  it('fails the start when a worker exits before it listens, and stops the others', async () => {
    pool = startWorkerPool({ count: 2, exec: MAIN, env: { GATEWAY_CONFIG: '/nonexistent/gateway.yaml', PORT: '0' } });
    await expect(pool.ready).rejects.toThrow(/a gateway worker exited before listening \(code 1\)/);
    await pool.stop();
    expect(pool.pids()).toEqual([]);
  });
});

describe('GATEWAY_WORKERS in the standalone server', () => {
  const run = (env: NodeJS.ProcessEnv, whenListening?: (child: ReturnType<typeof spawn>) => void) =>
    new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn(process.execPath, [MAIN], { env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ...env } });
      let output = '';
      const collect = (chunk: Buffer) => {
        output += chunk.toString();
        if (whenListening && /gateway workers listening on port \d+/.test(output)) {
          whenListening(child);
          whenListening = undefined;
        }
      };
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);
      child.on('exit', (code) => resolve({ code, output }));
    });

  it('starts the workers and exits 0 once they have stopped on SIGTERM', async () => {
    const upstream = await startUpstream();
    try {
      const config = await configFile({ routes: [{ prefix: '/api', target: upstream.url }] });
      const result = await run({ GATEWAY_CONFIG: config, GATEWAY_WORKERS: '2' }, (child) => child.kill('SIGTERM'));
      expect(result.output).toMatch(/2 gateway workers listening on port \d+ \(pids \d+, \d+\)/);
      expect(result.code).toBe(0);
    } finally {
      await upstream.close();
    }
  });

  it('refuses a bad worker count before starting anything', async () => {
    const result = await run({ GATEWAY_WORKERS: 'lots' });
    expect(result.code).toBe(1);
    expect(result.output).toContain(`GATEWAY_WORKERS: expected a positive integer or "auto", got 'lots'`);
  });

  it('checks the config once in the primary: an invalid file starts no worker', async () => {
    const config = await configFile({ routes: [{ prefix: '/api', target: 'ftp://nope' }] });
    const result = await run({ GATEWAY_CONFIG: config, GATEWAY_WORKERS: '2' });
    expect(result.code).toBe(1);
    expect(result.output).toMatch(/routes\[0\]\.target/);
    expect(result.output).not.toMatch(/Nest application successfully started/);
  });
});

describe('metrics across workers', () => {
  it('answers /metrics from any worker with the sum over all of them', async () => {
    const upstream = await startUpstream();
    const gateway = await startStandalone({ routes: [{ prefix: '/api', target: upstream.url }] }, { GATEWAY_WORKERS: '2' });
    try {
      await until(() => /2 gateway workers listening/.test(gateway.output()));
      // New connections each time, so that both workers take some.
      const get = (path: string) =>
        new Promise<string>((resolve, reject) => {
          httpGet(`${gateway.url}${path}`, { agent: false }, (res) => {
            let body = '';
            res.on('data', (chunk: Buffer) => (body += chunk));
            res.on('end', () => resolve(body));
          }).on('error', reject);
        });
      for (let i = 0; i < 20; i++) await get('/api/x');
      for (let i = 0; i < 4; i++) {
        const text = await get('/metrics');
        expect(sample(text, 'nest_gateway_requests_total', { route: '/api', method: 'GET', status: '200' })).toBe(20);
      }
    } finally {
      gateway.child.kill('SIGTERM');
      await gateway.exited;
      await upstream.close();
    }
  });
});
