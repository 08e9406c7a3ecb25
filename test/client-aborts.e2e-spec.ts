import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startGateway, type RunningGateway } from './support/gateway.js';
import { until } from './support/wait.js';
import { startUpstream, type Upstream } from './support/upstream.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const ABORTS = 500;
const BATCH = 50;
const CHUNK = Buffer.alloc(64 * 1024, 'x');

/** Counts, on the service side, the exchanges that ended before they were complete. */
class AbortCounter {
  downloads = 0;
  uploads = 0;

  /** Streams 64 KiB every 5 ms, for far longer than any client here waits. */
  download(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const timer = setInterval(() => res.write(CHUNK), 5);
    res.on('close', () => {
      clearInterval(timer);
      if (!res.writableFinished) this.downloads += 1;
    });
  }

  upload(req: IncomingMessage, res: ServerResponse): void {
    req.on('close', () => {
      if (!req.complete) this.uploads += 1;
    });
    req.on('end', () => res.end('whole'));
    req.resume();
  }
}

function abortedDownload(url: string): Promise<void> {
  return new Promise((resolve) => {
    const req = httpRequest(url, (res) => res.once('data', () => req.destroy()));
    req.on('close', () => resolve());
    req.on('error', () => undefined);
    req.end();
  });
}

function abortedUpload(url: string): Promise<void> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { method: 'POST', headers: { 'content-length': String(8 * CHUNK.length) } });
    req.on('close', () => resolve());
    req.on('error', () => undefined);
    req.write(CHUNK);
    // Gone once the first bytes can have reached the service.
    setTimeout(() => req.destroy(), 20);
  });
}

async function inBatches(count: number, run: () => Promise<void>): Promise<void> {
  for (let done = 0; done < count; done += BATCH) {
    await Promise.all(Array.from({ length: Math.min(BATCH, count - done) }, run));
  }
}


const openSockets = () => process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap').length;

describe('clients that hang up', () => {
  const counter = new AbortCounter();
  let upstream: Upstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    upstream = await startUpstream(
      (req, res) => (req.url === '/download' ? counter.download(res) : counter.upload(req, res)),
      { streaming: true },
    );
    gateway = await startGateway({ routes: [{ prefix: '/api', target: upstream.url, bodyLimit: 16 * 1024 * 1024 }] });
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it(`abort the service's exchange too, and ${2 * ABORTS} of them leak no socket and no memory`, async () => {
    // Warm up, so that lazily built state is not counted as a leak.
    await inBatches(BATCH, () => abortedDownload(`${gateway.url}/api/download`));
    await until(() => counter.downloads === BATCH, 'the warm-up aborts to reach the service');
    gc();
    const socketsBefore = openSockets();
    const heapBefore = process.memoryUsage().heapUsed;

    await inBatches(ABORTS, () => abortedDownload(`${gateway.url}/api/download`));
    await inBatches(ABORTS, () => abortedUpload(`${gateway.url}/api/upload`));
    await until(() => counter.downloads === BATCH + ABORTS, 'every aborted download to be aborted upstream');
    await until(() => counter.uploads === ABORTS, 'every aborted upload to be aborted upstream');
    await until(() => openSockets() <= socketsBefore, 'the sockets of aborted exchanges to close');

    gc();
    const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
    expect(heapGrowth).toBeLessThan(8 * 1024 * 1024);
  });
});
