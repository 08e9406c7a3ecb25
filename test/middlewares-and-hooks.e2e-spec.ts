import parseBasicAuth from 'basic-auth';
import request from 'supertest';
import type { ConnectMiddleware, GatewayOptions } from '../src/index.js';
import { MOUNT_MODES, startGateway, type RunningGateway } from './support/gateway.js';
import { startUpstream, type Upstream } from './support/upstream.js';

// A host app's own connect middleware, not the built-in `basicAuth`.
const adminOnly: ConnectMiddleware = (req, res, next) => {
  const credentials = parseBasicAuth(req);
  if (credentials?.name === 'admin' && credentials.pass === 's3cr3t-pass') return next();
  res.writeHead(401, { 'www-authenticate': 'Basic realm="admin"' }).end();
};

describe.each(MOUNT_MODES)('middlewares and hooks (%s)', (mode) => {
  let upstream: Upstream;
  let gateway: RunningGateway;
  const seenUrls = () => upstream.seen.map((seen) => seen.url);

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-service': 'upstream' });
      res.end(JSON.stringify({ url: req.url, user: req.headers['x-user'] ?? null }));
    });
    const options: GatewayOptions = {
      middlewares: [
        (req, res, next) => {
          res.setHeader('x-global-middleware', 'ran');
          next();
        },
      ],
      routes: [
        { prefix: '/public', target: upstream.url },
        { prefix: '/admin', target: upstream.url, middlewares: [adminOnly] },
        {
          prefix: '/named',
          target: upstream.url,
          middlewares: [{ use: 'basicAuth', options: { users: { ops: 'pa55' } } }, { use: 'cors', options: { origin: 'https://app.example' } }],
        },
        {
          prefix: '/guarded',
          target: upstream.url,
          hooks: {
            async onRequest(req, reply) {
              if (req.headers['x-api-key'] !== 'k1') {
                reply.code(403).send({ statusCode: 403, message: 'missing api key' });
                return true;
              }
              req.headers['x-user'] = 'key-owner';
              return false;
            },
          },
        },
        {
          prefix: '/silent-stop',
          target: upstream.url,
          hooks: {
            // Stops the forwarding and forgets to answer.
            onRequest: () => true,
          },
        },
        {
          prefix: '/throwing',
          target: upstream.url,
          hooks: {
            onRequest() {
              throw new Error('hook exploded');
            },
          },
        },
        {
          prefix: '/rewritten',
          target: upstream.url,
          hooks: {
            async onResponse(_req, reply, res) {
              const chunks: Buffer[] = [];
              for await (const chunk of res) chunks.push(chunk as Buffer);
              const body = JSON.parse(Buffer.concat(chunks).toString());
              reply.removeHeader('content-length');
              reply.header('x-rewritten', 'yes').send({ ...body, rewritten: true });
            },
          },
        },
        {
          prefix: '/failing-response-hook',
          target: upstream.url,
          hooks: {
            onResponse() {
              throw new Error('response hook exploded');
            },
          },
        },
      ],
    };
    gateway = await startGateway(options, mode);
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('runs a connect middleware on its route only', async () => {
    await request(gateway.url).get('/admin/stats').expect(401).expect('www-authenticate', /Basic/);
    await request(gateway.url).get('/admin/stats').auth('admin', 'wrong').expect(401);
    expect(seenUrls()).not.toContain('/stats');
    await request(gateway.url).get('/admin/stats').auth('admin', 's3cr3t-pass').expect(200);
    expect(seenUrls()).toContain('/stats');
    await request(gateway.url).get('/public/open').expect(200);
  });

  it('runs global middlewares on every route', async () => {
    await request(gateway.url).get('/public/x').expect('x-global-middleware', 'ran');
    await request(gateway.url).get('/admin/x').expect(401).expect('x-global-middleware', 'ran');
  });

  it('builds middlewares named in options (basicAuth, cors)', async () => {
    await request(gateway.url).get('/named/x').expect(401);
    const res = await request(gateway.url)
      .get('/named/x')
      .auth('ops', 'pa55')
      .set('origin', 'https://app.example')
      .expect(200);
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example');
  });

  it.each([
    ['no Authorization', undefined],
    ['a wrong password', `Basic ${Buffer.from('ops:wrong').toString('base64')}`],
    ['an unknown user', `Basic ${Buffer.from('root:pa55').toString('base64')}`],
    ['no colon in the credential', `Basic ${Buffer.from('ops').toString('base64')}`],
  ])('answers %s on a basicAuth route with the 401 challenge, never reaching the service', async (_case, authorization) => {
    const before = upstream.seen.length;
    const res = await request(gateway.url).get('/named/x').set(authorization === undefined ? {} : { authorization }).expect(401);
    expect(res.headers['www-authenticate']).toBe('Basic realm="Authorization Required"');
    expect(res.text).toBe('Unauthorized');
    expect(upstream.seen.length).toBe(before);
  });

  it('takes the Basic scheme in any case, as RFC 7617 has it', async () => {
    await request(gateway.url).get('/named/x').set('authorization', `basic ${Buffer.from('ops:pa55').toString('base64')}`).expect(200);
  });

  it('lets onRequest answer and abort the forwarding', async () => {
    const before = upstream.seen.length;
    const res = await request(gateway.url).get('/guarded/secret').expect(403);
    expect(res.body).toEqual({ statusCode: 403, message: 'missing api key' });
    expect(upstream.seen.length).toBe(before);
  });

  it('forwards what onRequest changed when it lets the request through', async () => {
    const res = await request(gateway.url).get('/guarded/secret').set('x-api-key', 'k1').expect(200);
    expect(res.body).toEqual({ url: '/secret', user: 'key-owner' });
  });

  it('answers 500 when onRequest stops the forwarding without answering, instead of leaving the client waiting', async () => {
    const before = upstream.seen.length;
    const res = await request(gateway.url).get('/silent-stop/x').timeout(3000).expect(500);
    expect(res.body).toEqual({ statusCode: 500, error: 'Internal Server Error', message: 'the onRequest hook stopped the request without answering it' });
    expect(upstream.seen.length).toBe(before);
  });

  it('answers 500 with the message when onRequest throws', async () => {
    const res = await request(gateway.url).get('/throwing/x').expect(500);
    expect(res.body).toEqual({ statusCode: 500, error: 'Internal Server Error', message: 'hook exploded' });
  });

  it('lets onResponse rewrite the target response', async () => {
    const res = await request(gateway.url).get('/rewritten/x').expect(200);
    expect(res.body).toEqual({ url: '/x', user: null, rewritten: true });
    expect(res.headers['x-service']).toBe('upstream');
    expect(res.headers['x-rewritten']).toBe('yes');
  });

  it('answers 500 when onResponse throws', async () => {
    const res = await request(gateway.url).get('/failing-response-hook/x').expect(500);
    expect(res.body).toMatchObject({ statusCode: 500, message: 'response hook exploded' });
  });
});
