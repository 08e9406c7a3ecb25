import { readFileSync } from 'node:fs';
import { resetsOfOpenConnections, startLoad } from './support/load.js';
import { configFile, startStandalone, type StandaloneGateway } from './support/standalone.js';
import { startUpstream, type Upstream } from './support/upstream.js';
import { until } from './support/wait.js';

/** The gateway's stdout alone, as it comes, and a promise of its end. */
function readStdout(gateway: StandaloneGateway) {
  let text = '';
  gateway.child.stdout!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const closed = new Promise<void>((resolve) => gateway.child.stdout!.once('close', resolve));
  return { text: () => text, closed };
}

/** Every line of `text` parsed; a line that is not whole JSON fails the test, naming it. */
function parseLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON line: ${JSON.stringify(line.slice(0, 200))}`);
      }
    });
}

const accessLinesFor = (lines: Record<string, unknown>[], path: string) => lines.filter((line) => 'reqId' in line && line.url === path);

/** Kilobytes the process of this id holds in RAM. */

describe('buffered access log', () => {
  let service: Upstream;

  beforeAll(async () => {
    service = await startUpstream((_req, res) => res.end('ok'));
  });
  afterAll(() => service.close());

  // Access lines wait in memory for up to a second: a stop that did not write them out would lose
  // the last ones.
  it('writes one whole JSON line per answered request through a SIGTERM under load', async () => {
    const gateway = await startStandalone({ routes: [{ prefix: '/api', target: service.url }] }, { LOG_LEVEL: 'info' });
    const stdout = readStdout(gateway);
    const load = startLoad(Number(new URL(gateway.url).port), { keepAlive: 16, path: '/api/flush' });
    try {
      await until(() => load.report().ok >= 1000, 'the load to flow');
      gateway.child.kill('SIGTERM');
      expect(await gateway.exited).toBe(0);
    } finally {
      gateway.child.kill('SIGKILL');
    }
    const report = await load.stop();
    await stdout.closed;
    expect(resetsOfOpenConnections(report)).toEqual([]);
    expect(report.hung).toBe(0);
    const lines = parseLines(stdout.text());
    expect(accessLinesFor(lines, '/api/flush').length).toBe(report.ok + report.non2xx.length);
  }, 60_000);

  it('loses no line through a reload and a stop of supervised workers, and no worker splits another\'s lines', async () => {
    const file = await configFile({ routes: [{ prefix: '/api', target: service.url }] });
    const gateway = await startStandalone({}, { GATEWAY_CONFIG: file, GATEWAY_WORKERS: '2', LOG_LEVEL: 'info' });
    const stdout = readStdout(gateway);
    const load = startLoad(Number(new URL(gateway.url).port), { keepAlive: 16, path: '/api/reload' });
    try {
      await until(() => /2 gateway workers listening/.test(gateway.output()), 'the workers');
      await until(() => load.report().ok >= 500, 'the load to flow');
      gateway.child.kill('SIGHUP');
      await until(() => gateway.output().includes('Reload done'), 'the reload', 30_000);
      const ok = load.report().ok;
      await until(() => load.report().ok >= ok + 500, 'the load to go on');
      gateway.child.kill('SIGTERM');
      expect(await gateway.exited).toBe(0);
    } finally {
      gateway.child.kill('SIGKILL');
    }
    const report = await load.stop();
    await stdout.closed;
    expect(resetsOfOpenConnections(report)).toEqual([]);
    expect(report.hung).toBe(0);
    const lines = parseLines(stdout.text());
    expect(accessLinesFor(lines, '/api/reload').length).toBe(report.ok + report.non2xx.length);
  }, 90_000);

  // The bug this guards against: an error on stdout (EPIPE) thrown from the log stream, or a
  // process that could not exit with lines it could not write.
  it('keeps serving when nobody reads stdout any more (`| head` ended), and exits 0 on SIGTERM', async () => {
    const gateway = await startStandalone({ routes: [{ prefix: '/api', target: service.url }] }, { LOG_LEVEL: 'info' });
    try {
      gateway.child.stdout!.destroy();
      for (let i = 0; i < 200; i++) {
        const res = await fetch(`${gateway.url}/api/after-close`);
        expect(res.status).toBe(200);
        await res.text();
      }
      gateway.child.kill('SIGTERM');
      expect(await gateway.exited).toBe(0);
    } finally {
      gateway.child.kill('SIGKILL');
    }
  }, 60_000);

  // A write per line used to block the event loop on a full pipe: the gateway stopped answering,
  // and stopped handling SIGTERM.
  it('keeps serving with a stdout nobody reads, holds a bounded buffer, and exits on SIGTERM', async () => {
    // Lines of ~7 KiB: ten times the buffer's bound in 6,000 requests.
    const path = `/api/stuck/${'x'.repeat(7000)}`;
    const gateway = await startStandalone({ routes: [{ prefix: '/api', target: service.url }] }, { LOG_LEVEL: 'info' });
    const port = Number(new URL(gateway.url).port);
    try {
      const warmUp = startLoad(port, { keepAlive: 8, path });
      await until(() => warmUp.report().ok >= 1000, 'the warm-up');
      await warmUp.stop();
      gateway.child.stdout!.pause();
      const load = startLoad(port, { keepAlive: 8, path });
      await until(() => load.report().ok >= 6000, 'the load to flow', 60_000);
      const report = await load.stop();
      expect(report.resets).toEqual([]);
      expect(report.hung).toBe(0);
      gateway.child.stdout!.resume();
      gateway.child.kill('SIGTERM');
      expect(await gateway.exited).toBe(0);
      // Kept, the 6,000 lines would be 40 MiB: all but the 4 MiB bound's ~600 (and what the pipe
      // took before it filled) were dropped, and said so once stdout took lines again.
      const dropped = /"msg":"(\d+) log line\(s\) dropped: stdout did not keep up"/.exec(gateway.output());
      expect(Number(dropped?.[1])).toBeGreaterThan(5000);
      expect(Number(dropped?.[1])).toBeLessThanOrEqual(report.ok);
    } finally {
      gateway.child.kill('SIGKILL');
    }
  }, 120_000);
});
