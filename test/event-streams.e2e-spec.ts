import { request as httpRequest } from 'node:http';
import { startGateway, type RunningGateway } from './support/gateway.js';
import { startUpstream, type Upstream } from './support/upstream.js';

const EVENTS = 10;
const EVENT_GAP_MS = 200;

interface StreamRead {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Each event as it arrived, with the time the service sent it and the time it arrived. */
  events: { sentAt: number; arrivedAt: number }[];
  /** The response ended complete (rather than being cut). */
  complete: boolean;
}

/** Reads a `text/event-stream` answer event by event, noting when each arrived. */
function readEvents(url: string): Promise<StreamRead> {
  return new Promise((resolve, reject) => {
    httpRequest(url, { headers: { accept: 'text/event-stream' } }, (res) => {
      const read: StreamRead = { status: res.statusCode!, headers: res.headers, events: [], complete: false };
      let buffered = '';
      res.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        let end: number;
        while ((end = buffered.indexOf('\n\n')) !== -1) {
          const event = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          read.events.push({ sentAt: Number(/^data: (\d+)$/m.exec(event)![1]), arrivedAt: Date.now() });
        }
      });
      res.on('end', () => resolve({ ...read, complete: true }));
      res.on('error', () => resolve(read));
      res.on('close', () => resolve(read));
    })
      .on('error', reject)
      .end();
  });
}

describe('server-sent events and other long responses', () => {
  let upstream: Upstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    upstream = await startUpstream((_req, res) => {
      // The service even asks the gateway to keep it: an event stream is never stored.
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-cache-timeout': '1 minute' });
      let sent = 0;
      const send = () => {
        res.write(`id: ${sent}\ndata: ${Date.now()}\n\n`);
        if (++sent === EVENTS) return res.end();
        setTimeout(send, EVENT_GAP_MS);
      };
      send();
    });
    gateway = await startGateway({ cache: {}, routes: [{ prefix: '/events', target: upstream.url, timeout: 500 }] });
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('flushes a text/event-stream event by event, and the response timeout does not cut it while events keep coming', async () => {
    const read = await readEvents(`${gateway.url}/events/ticks`);
    expect(read.status).toBe(200);
    expect(read.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(read.complete).toBe(true);
    // Ten events 200 ms apart: 1.8 s, over three times the route's 500 ms timeout.
    expect(read.events).toHaveLength(EVENTS);
    for (const { sentAt, arrivedAt } of read.events) expect(arrivedAt - sentAt).toBeLessThan(50);
  });

  it('never caches an event stream', async () => {
    const before = upstream.seen.length;
    const first = await readEvents(`${gateway.url}/events/once`);
    const second = await readEvents(`${gateway.url}/events/once`);
    expect(upstream.seen.length - before).toBe(2);
    expect(second.headers['x-cache']).not.toBe('HIT');
    expect(first.events).toHaveLength(EVENTS);
    expect(second.events).toHaveLength(EVENTS);
  });
});
