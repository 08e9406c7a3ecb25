import { EventEmitter, once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { startGateway, type RunningGateway } from './support/gateway.js';
import { startUpstream, type Upstream } from './support/upstream.js';

const EVENTS = 10;
const EVENT_GAP_MS = 200;

interface StreamRead {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The ids of the events, in the order they arrived. */
  events: number[];
  /** The response ended complete (rather than being cut). */
  complete: boolean;
}

/** Tells the service which event of which stream (by the path's last segment) the client has received. */
const delivered = new EventEmitter();

/** Reads a `text/event-stream` answer event by event, telling the service of each. */
function readEvents(url: string): Promise<StreamRead> {
  const stream = new URL(url).pathname.split('/').pop();
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
          const id = Number(/^id: (\d+)$/m.exec(event)![1]);
          read.events.push(id);
          delivered.emit(`${stream} ${id}`);
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
    upstream = await startUpstream((req, res) => {
      // The service even asks the gateway to keep it: an event stream is never stored.
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-cache-timeout': '1 minute' });
      // Each event is sent only once the client has the one before: a gateway that held events
      // back would stall the stream until the route's timeout cut it.
      let sent = 0;
      const send = () => {
        const arrived = once(delivered, `${req.url!.split('/').pop()} ${sent}`);
        res.write(`id: ${sent}\ndata: tick\n\n`);
        if (++sent === EVENTS) return res.end();
        void arrived.then(() => setTimeout(send, EVENT_GAP_MS));
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
    expect(read.events).toEqual(Array.from({ length: EVENTS }, (_, id) => id));
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
