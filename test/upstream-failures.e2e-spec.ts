import { request as httpRequest } from 'node:http';
import request from 'supertest';
import { MOUNT_MODES, startGateway, type RunningGateway } from './support/gateway.js';
import { deadPort, startUpstream, type Upstream } from './support/upstream.js';

describe.each(MOUNT_MODES)('upstream failures (%s)', (mode) => {
  let slow: Upstream;
  let resetting: Upstream;
  let stalling: Upstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    // Answers /slow after 2 s; the route's timeout is 200 ms.
    slow = await startUpstream((req, res) => {
      const timer = setTimeout(() => res.end('late'), 2000);
      res.on('close', () => clearTimeout(timer));
    });
    // Sends headers and part of the body, then drops the connection.
    resetting = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('partial');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    // Sends headers and part of the body, then goes silent.
    stalling = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('partial');
    });
    gateway = await startGateway(
      {
        routes: [
          { prefix: '/dead', target: `http://127.0.0.1:${await deadPort()}` },
          { prefix: '/slow', target: slow.url, timeout: 200 },
          { prefix: '/reset', target: resetting.url },
          { prefix: '/stall', target: stalling.url, timeout: 200 },
          { prefix: '/ok', target: slow.url, timeout: 5000 },
        ],
      },
      mode,
    );
  });
  afterAll(async () => {
    await gateway.close();
    await slow.close();
    await resetting.close();
    await stalling.close();
  });

  it('answers 502 with a JSON body when the target refuses connections', async () => {
    const res = await request(gateway.url).get('/dead/x').expect(502);
    expect(res.body).toEqual({ statusCode: 502, error: 'Bad Gateway', message: 'The service is unavailable' });
  });

  it('answers 504 when the target is silent longer than the route timeout', async () => {
    const res = await request(gateway.url).get('/slow/x').expect(504);
    expect(res.body).toMatchObject({ statusCode: 504, error: 'Gateway Timeout' });
  });

  it.each(['reset', 'stall'])('closes the client connection when the target fails mid-response (%s)', async (prefix) => {
    const outcome = await new Promise<string>((resolve) => {
      const req = httpRequest(`${gateway.url}/${prefix}/x`, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => resolve('complete'));
        res.on('error', () => resolve('aborted'));
        res.on('aborted', () => resolve('aborted'));
      });
      req.on('error', () => resolve('aborted'));
      req.end();
    });
    expect(outcome).toBe('aborted');
  });

  it('keeps serving after every failure', async () => {
    await request(gateway.url).get('/dead/x').expect(502);
    await request(gateway.url).get('/slow/x').expect(504);
    const res = await request(gateway.url).get('/ok/x').expect(200);
    expect(res.text).toBe('late');
  });
});
