import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import request from 'supertest';
import { GatewayConfigError, validateGatewayOptions, type RouteOptions } from '../src/index.js';
import { resolveGatewayOptions } from '../src/config/resolve-options.js';
import { compileRoutes } from '../src/routes/index.js';
import { startGateway, type RunningGateway } from './support/gateway.js';
import { createUpstreamCertificates, type UpstreamCertificates } from './support/tls-certificates.js';
import { until } from './support/wait.js';

let certificates: UpstreamCertificates;
let server: Server;
let target: string;
/** What the service saw: the path, and the common name of the client certificate it got. */
const seen: { url: string; client: string | undefined }[] = [];
const gateways: RunningGateway[] = [];

beforeAll(async () => {
  certificates = createUpstreamCertificates();
  // A service that takes only clients with a certificate its CA signed (mTLS).
  server = createServer(
    { cert: readFileSync(certificates.serverCert), key: readFileSync(certificates.serverKey), ca: readFileSync(certificates.ca), requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      seen.push({ url: req.url!, client: String(peer.subject?.CN) });
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`hello over tls ${req.url}`);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  target = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  await Promise.all(gateways.splice(0).map((gateway) => gateway.close()));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  certificates.remove();
});

async function gatewayWith(route: Partial<RouteOptions>): Promise<RunningGateway> {
  const gateway = await startGateway({ routes: [{ prefix: '/tls', target, timeout: 2000, ...route }] });
  gateways.push(gateway);
  return gateway;
}

describe('Upstream TLS per route', () => {
  it('reaches a service behind a private CA with a client certificate and the SNI name', async () => {
    const { ca, clientCert: cert, clientKey: key, serverName: servername } = certificates;
    const gateway = await gatewayWith({ tls: { ca, cert, key, servername } });
    const response = await request(gateway.url).get('/tls/a');
    expect(response.status).toBe(200);
    expect(response.text).toBe('hello over tls /a');
    expect(seen.at(-1)).toEqual({ url: '/a', client: 'client' });
  });

  it('checks the certificate against the target address without a servername', async () => {
    const { ca, clientCert: cert, clientKey: key } = certificates;
    const gateway = await gatewayWith({ tls: { ca, cert, key } });
    expect((await request(gateway.url).get('/tls/by-address')).status).toBe(200);
  });

  it('answers 502 without the client certificate the service asks for', async () => {
    const gateway = await gatewayWith({ tls: { ca: certificates.ca, servername: certificates.serverName } });
    const response = await request(gateway.url).get('/tls/no-client-cert');
    expect(response.status).toBe(502);
    expect(response.body).toMatchObject({ statusCode: 502, error: 'Bad Gateway' });
  });

  it('answers 502 when the service certificate does not chain to the route CA', async () => {
    const { otherCa: ca, clientCert: cert, clientKey: key, serverName: servername } = certificates;
    const gateway = await gatewayWith({ tls: { ca, cert, key, servername } });
    expect((await request(gateway.url).get('/tls/wrong-ca')).status).toBe(502);
  });

  it('answers 502 when the certificate is not for the servername', async () => {
    const { ca, clientCert: cert, clientKey: key } = certificates;
    const gateway = await gatewayWith({ tls: { ca, cert, key, servername: 'other.internal' } });
    expect((await request(gateway.url).get('/tls/wrong-name')).status).toBe(502);
  });

  it('verifies the certificate even without tls options (no private CA: refused)', async () => {
    const gateway = await gatewayWith({});
    expect((await request(gateway.url).get('/tls/system-cas')).status).toBe(502);
  });

  it('sends active health checks with the route TLS options', async () => {
    const { ca, clientCert: cert, clientKey: key, serverName: servername } = certificates;
    const gateway = await gatewayWith({ target: undefined, targets: [target], tls: { ca, cert, key, servername }, healthCheck: { path: '/health-tls', interval: 50 } });
    // The service takes no client without its certificate: a check it saw came with it.
    await until(() => seen.some((entry) => entry.url === '/health-tls' && entry.client === 'client'));
    expect((await request(gateway.url).get('/tls/pooled')).status).toBe(200);
  });
});

describe('Upstream TLS options at start-up', () => {
  it('refuses a file it cannot read, naming the field and the file', () => {
    const missing = `${certificates.dir}/missing.pem`;
    const options = { routes: [{ prefix: '/tls', target, tls: { ca: missing, cert: certificates.clientCert, key: certificates.clientKey } }] };
    expect(() => validateGatewayOptions(options)).toThrow(GatewayConfigError);
    expect(() => validateGatewayOptions(options)).toThrow(`routes[0].tls.ca: cannot read ${missing} (ENOENT)`);
  });

  it('refuses tls on a route with an http:// target, and a certificate without its key', () => {
    expect(() => validateGatewayOptions({ routes: [{ prefix: '/a', target: 'http://127.0.0.1:1', tls: { ca: certificates.ca } }] })).toThrow('routes[0].tls: only with https:// targets');
    expect(() => validateGatewayOptions({ routes: [{ prefix: '/a', target, tls: { cert: certificates.clientCert } }] })).toThrow('routes[0].tls: expected both cert and key, or neither');
  });

  it('fails compiling when a file is gone since validation', () => {
    const resolved = resolveGatewayOptions({ routes: [{ prefix: '/a', target, tls: { key: `${certificates.dir}/gone.key`, cert: certificates.clientCert } }] });
    expect(() => compileRoutes(resolved)).toThrow(`routes[0].tls.key: cannot read ${certificates.dir}/gone.key (ENOENT)`);
  });
});
