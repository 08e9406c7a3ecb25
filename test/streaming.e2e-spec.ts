import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import request from 'supertest';
import { MOUNT_MODES, startGateway, type RunningGateway } from './support/gateway.js';
import { startUpstream, type Upstream } from './support/upstream.js';

const MiB = 1024 * 1024;
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Sends `size` random bytes in 64 KiB chunks, as chunked or with content-length. */
function upload(url: string, body: Buffer, options: { chunked: boolean; contentType?: string }) {
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const headers: Record<string, string | number> = { 'content-type': options.contentType ?? 'application/octet-stream' };
    if (!options.chunked) headers['content-length'] = body.length;
    const req = httpRequest(url, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString() }));
    });
    // A refused upload may be cut off before it is all written.
    req.on('error', (error) => (error.message.includes('EPIPE') || error.message.includes('ECONNRESET') ? undefined : reject(error)));
    const chunks = Array.from({ length: Math.ceil(body.length / (64 * 1024)) }, (_, i) => body.subarray(i * 64 * 1024, (i + 1) * 64 * 1024));
    Readable.from(chunks).pipe(req);
  });
}

describe.each(MOUNT_MODES)('streaming bodies (%s)', (mode) => {
  const download = randomBytes(32 * MiB);
  let upstream: Upstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    upstream = await startUpstream(
      (req, res) => {
        if (req.url === '/download') {
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          res.end(download);
          return;
        }
        req.on('end', () => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(upstream.seen.at(-1)));
        });
      },
      { streaming: true },
    );
    gateway = await startGateway(
      {
        routes: [
          { prefix: '/big', target: upstream.url, bodyLimit: 64 * MiB },
          { prefix: '/small', target: upstream.url, bodyLimit: 1024 },
          { prefix: '/default', target: upstream.url },
        ],
      },
      mode,
    );
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('downloads tens of MiB byte-exact', async () => {
    const res = await request(gateway.url)
      .get('/big/download')
      .buffer(true)
      .parse((response, done) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => done(null, Buffer.concat(chunks)));
      })
      .expect(200);
    expect(sha256(res.body as Buffer)).toBe(sha256(download));
  });

  it.each([true, false])('uploads tens of MiB byte-exact (chunked: %s)', async (chunked) => {
    const body = randomBytes(24 * MiB);
    const res = await upload(`${gateway.url}/big/upload`, body, { chunked });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ bodyBytes: body.length, bodySha256: sha256(body) });
  });

  it('passes multipart bodies through untouched', async () => {
    const boundary = 'gateway-test-boundary';
    const file = randomBytes(4096);
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="a.bin"\r\ncontent-type: application/octet-stream\r\n\r\n`),
      file,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const res = await upload(`${gateway.url}/default/form`, body, {
      chunked: false,
      contentType: `multipart/form-data; boundary=${boundary}`,
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ bodySha256: sha256(body) });
    expect(upstream.seen.at(-1)?.headers['content-type']).toBe(`multipart/form-data; boundary=${boundary}`);
  });

  it('answers 413 to a declared length over bodyLimit without reaching the target', async () => {
    const before = upstream.seen.length;
    const res = await upload(`${gateway.url}/small/upload`, randomBytes(4096), { chunked: false });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.text)).toMatchObject({ statusCode: 413, error: 'Payload Too Large' });
    expect(upstream.seen.length).toBe(before);
  });

  it('answers 413 to a chunked body once it grows over bodyLimit, and the target never gets it whole', async () => {
    const before = upstream.seen.length;
    const res = await upload(`${gateway.url}/small/upload`, randomBytes(256 * 1024), { chunked: true });
    expect(res.status).toBe(413);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(upstream.seen.length).toBe(before);
  });

  it('applies the 1 MiB default bodyLimit', async () => {
    expect((await upload(`${gateway.url}/default/upload`, randomBytes(MiB), { chunked: false })).status).toBe(200);
    expect((await upload(`${gateway.url}/default/upload`, randomBytes(MiB + 1), { chunked: false })).status).toBe(413);
  });
});

describe('streaming memory', () => {
  it('forwards a 200 MiB upload without holding it in memory', async () => {
    const upstream = await startUpstream((req, res) => req.on('end', () => res.end('ok')), { streaming: true });
    const gateway = await startGateway({ routes: [{ prefix: '/up', target: upstream.url, bodyLimit: 256 * MiB }] });
    try {
      const chunk = randomBytes(MiB);
      global.gc?.();
      const rssBefore = process.memoryUsage().rss;
      let peakRss = rssBefore;
      const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${gateway.url}/up/file`, { method: 'POST', headers: { 'content-length': 200 * MiB } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        });
        req.on('error', reject);
        Readable.from((function* () {
          for (let i = 0; i < 200; i++) yield chunk;
        })()).pipe(req);
      });
      clearInterval(sampler);
      expect(status).toBe(200);
      expect(upstream.seen[0].bodyBytes).toBe(200 * MiB);
      // Client, gateway and target share this process: all three together stay far below the body size.
      expect(peakRss - rssBefore).toBeLessThan(100 * MiB);
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });
});
