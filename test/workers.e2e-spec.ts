import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WorkerPool } from '../src/server/index.js';
import { startLoad } from './support/load.js';
import { sample } from './support/prometheus.js';
import { configFile, isAlive, MAIN, startStandalone, type StandaloneGateway } from './support/standalone.js';
import { listeningWorkers } from './support/supervised.js';
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
    pool = new WorkerPool({ count: 2, exec: MAIN, env: { GATEWAY_CONFIG: config, PORT: '0', HOST: '127.0.0.1' } });
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
    pool = new WorkerPool({ count: 2, exec: MAIN, env: { GATEWAY_CONFIG: '/nonexistent/gateway.yaml', PORT: '0' } });
    await expect(pool.ready).rejects.toThrow(/a gateway worker exited before listening \(code 1\)/);
    await pool.stop();
    expect(pool.pids()).toEqual([]);
  });

  it('resolves done once stop() has stopped the workers', async () => {
    const config = await configFile({ routes: [{ prefix: '/api', target: upstream.url }] });
    pool = new WorkerPool({ count: 1, exec: MAIN, env: { GATEWAY_CONFIG: config, PORT: '0', HOST: '127.0.0.1' } });
    await pool.ready;
    await pool.stop();
    await expect(pool.done).resolves.toBeUndefined();
  });

  it('gives up when the replacements of a dead worker keep exiting before they listen, and says so', async () => {
    const marker = join(await mkdtemp(join(tmpdir(), 'gw-once-')), 'listened');
    const exec = fileURLToPath(new URL('./fixtures/listen-once-worker.mjs', import.meta.url));
    const logs: string[] = [];
    pool = new WorkerPool({ count: 1, exec, env: { LISTEN_ONCE_MARKER: marker }, maxFailedStarts: 2, log: (line) => logs.push(line) });
    await pool.ready;
    process.kill(pool.pids()[0], 'SIGKILL');
    await expect(pool.done).rejects.toThrow(/2 workers in a row exited before listening \(code 3\)/);
    expect(pool.pids()).toEqual([]);
    expect(logs.filter((line) => /exited \(code 3\)/.test(line))).toHaveLength(1);
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
    expect(result.output).toContain(`GATEWAY_WORKERS (--workers): expected a positive integer or "auto", got 'lots'`);
  });

  it('checks the config once in the primary: an invalid file starts no worker', async () => {
    const config = await configFile({ routes: [{ prefix: '/api', target: 'ftp://nope' }] });
    const result = await run({ GATEWAY_CONFIG: config, GATEWAY_WORKERS: '2' });
    expect(result.code).toBe(1);
    expect(result.output).toMatch(/routes\[0\]\.target/);
    expect(result.output).not.toMatch(/Nest application successfully started/);
  });
});

describe('supervision: a worker killed with SIGKILL', () => {
  let upstream: Upstream;
  const gateways: StandaloneGateway[] = [];

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => res.end(`A ${req.url}`));
  });
  afterEach(async () => {
    for (const gateway of gateways.splice(0)) {
      if (gateway.child.exitCode === null && gateway.child.signalCode === null) gateway.child.kill('SIGTERM');
      await gateway.exited;
    }
  });
  afterAll(() => upstream.close());

  const supervised = async (config: unknown, workers: string, env: NodeJS.ProcessEnv = {}) => {
    const gateway = await startStandalone(config, { GATEWAY_WORKERS: workers, ...env });
    gateways.push(gateway);
    return gateway;
  };
  /** Waits until `count` workers said they listen, then returns the last of them. */
  const nthListening = async (gateway: StandaloneGateway, count: number) => {
    await until(() => listeningWorkers(gateway.output()).length >= count, `worker ${count} to listen`);
    return listeningWorkers(gateway.output())[count - 1];
  };

  // The bug: with one worker, the replacement was scheduled on an unref'd timer and nothing else
  // kept the primary's event loop alive, so the primary exited 0 in 8 of 10 kills.
  it('with GATEWAY_WORKERS=1, is replaced after each kill and the primary never exits meanwhile', async () => {
    const gateway = await supervised({ routes: [{ prefix: '/api', target: upstream.url }] }, '1');
    for (let kill = 1; kill <= 3; kill++) {
      const worker = await nthListening(gateway, kill);
      process.kill(worker.pid, 'SIGKILL');
      await until(() => !isAlive(worker.pid), 'the worker to die');
      await until(() => listeningWorkers(gateway.output()).length > kill || gateway.child.exitCode !== null, 'a replacement');
      expect(gateway.child.exitCode).toBeNull();
    }
    // With PORT=0 each replacement of a lone worker listens on a new port.
    const last = await nthListening(gateway, 4);
    expect(await (await fetch(`${last.url}/api/x`)).text()).toBe('A /x');
    gateway.child.kill('SIGTERM');
    expect(await gateway.exited).toBe(0);
  });

  // The bug: a replacement re-read the file on disk, which a refused reload had left invalid, and
  // crash-looped; the last validated config is what new workers get.
  it('after a refused reload, is replaced by a worker running the last validated config', async () => {
    const file = await configFile({ routes: [{ prefix: '/api', target: upstream.url }] });
    const reloadable = await supervised({}, '1', { GATEWAY_CONFIG: file });

    await writeFile(file, JSON.stringify({ routes: [{ prefix: '/api', target: 'ftp://nope' }] }));
    reloadable.child.kill('SIGHUP');
    await until(() => reloadable.output().includes('Reload refused'), 'the refusal');
    const worker = await nthListening(reloadable, 1);
    process.kill(worker.pid, 'SIGKILL');
    const replacement = await nthListening(reloadable, 2);
    expect(await (await fetch(`${replacement.url}/api/y`)).text()).toBe('A /y');
    expect(reloadable.output()).not.toMatch(/exited before listening|exited \(code 1\)/);
  });

  // The bug: under round-robin scheduling the primary accepts each connection and hands it to a
  // worker; a connection in that hand-off when the worker died stayed open in the primary, never
  // answered (one per kill).
  it('of two, leaves no connection unanswered: only its own requests in flight fail', async () => {
    const gateway = await supervised({ routes: [{ prefix: '/api', target: upstream.url }] }, '2');
    const port = Number(new URL(gateway.url).port);
    await nthListening(gateway, 2);
    const load = startLoad(port, { perRequest: 8, path: '/api/load', timeoutMs: 4000 });
    for (let kill = 1; kill <= 3; kill++) {
      await until(() => load.report().ok >= kill * 200, 'requests to flow');
      const alive = listeningWorkers(gateway.output()).filter((worker) => isAlive(worker.pid));
      process.kill(alive[0].pid, 'SIGKILL');
      await nthListening(gateway, 2 + kill);
    }
    const settled = load.report().ok;
    await until(() => load.report().ok >= settled + 200, 'requests to flow after the kills');
    const report = await load.stop();
    expect(report.hung).toBe(0);
    expect(report.non2xx).toEqual([]);
    expect(report.refused).toBe(0);
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
