import request from 'supertest';
import { MOUNT_MODES, startGateway, type RunningGateway } from './support/gateway.js';
import { startUpstream, type Upstream } from './support/upstream.js';

describe.each(MOUNT_MODES)('routing (%s)', (mode) => {
  let upstream: Upstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    upstream = await startUpstream();
    gateway = await startGateway(
      {
        routes: [
          { prefix: '/public', target: upstream.url },
          { prefix: '/api', target: upstream.url, prefixRewrite: '/v1' },
          { prefix: '/', target: upstream.url, prefixRewrite: '/root' },
        ],
      },
      mode,
    );
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('strips the prefix and keeps the query string', async () => {
    const res = await request(gateway.url).get('/public/x?y=1').expect(200);
    expect(res.body).toMatchObject({ method: 'GET', url: '/x?y=1' });
  });

  it('replaces the prefix by prefixRewrite', async () => {
    const res = await request(gateway.url).get('/api/x?y=1').expect(200);
    expect(res.body.url).toBe('/v1/x?y=1');
  });

  it('answers the prefix itself', async () => {
    const res = await request(gateway.url).get('/public').expect(200);
    expect(res.body.url).toBe('/');
  });

  it('forwards JSON bodies unparsed', async () => {
    const res = await request(gateway.url)
      .post('/public/items')
      .set('content-type', 'application/json')
      .send('{"a": 1}')
      .expect(200);
    expect(res.body).toMatchObject({ method: 'POST', body: '{"a": 1}' });
    expect(res.body.headers['content-type']).toBe('application/json');
  });

  it("sends what no other prefix takes to a '/' route", async () => {
    expect((await request(gateway.url).get('/elsewhere?z=2').expect(200)).body.url).toBe('/root/elsewhere?z=2');
  });
});

describe.each(MOUNT_MODES)('unmatched requests (%s)', (mode) => {
  it('answers 404 outside every route and never reaches a target', async () => {
    const upstream = await startUpstream();
    const gateway = await startGateway({ routes: [{ prefix: '/public', target: upstream.url }] }, mode);
    try {
      const res = await request(gateway.url).get('/nowhere').expect(404);
      expect(res.body).toMatchObject({ statusCode: 404 });
      await request(gateway.url).get('/publicity').expect(404);
      expect(upstream.seen).toHaveLength(0);
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });
});
