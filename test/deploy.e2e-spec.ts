import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import { parse as parseYaml } from 'yaml';
import { GLIBC_TUNABLES, NODE_FLAGS } from '../src/cli/runtime-flags.js';
import { validateGatewayConfigFile } from '../src/config/gateway-options.schema.js';
import { startRedisServer, type RedisServer } from './support/redis-server.js';
import { startStandalone, type StandaloneGateway } from './support/standalone.js';
import { until } from './support/wait.js';

const root = (path: string) => fileURLToPath(new URL(`../${path}`, import.meta.url));
const read = (path: string) => readFileSync(root(path), 'utf8');

interface ComposeService {
  build?: string;
  image?: string;
  command?: string[];
  ports?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  deploy?: { replicas?: number };
  depends_on?: Record<string, { condition: string }>;
  networks?: { default?: { aliases?: string[] } };
}

// No Docker engine here: the compose file is checked for what docs/operate.md promises, and the same
// topology runs below as processes.
describe('docker-compose.yml', () => {
  const compose = parseYaml(read('docker-compose.yml')) as { services: Record<string, ComposeService> };
  const { redis, services, gateway, lb } = compose.services;
  const replica = compose.services['services-b'];

  it('runs two gateway replicas from the Dockerfile, sharing one Redis, behind one published port', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['gateway', 'jaeger', 'lb', 'redis', 'services', 'services-b']);
    expect(gateway.build).toBe('.');
    expect(gateway.deploy?.replicas).toBe(2);
    expect(gateway.ports).toBeUndefined();
    expect(gateway.environment).toEqual({
      GATEWAY_CONFIG: '/etc/nest-gateway/gateway.yaml',
      REDIS_URL: 'redis://redis:6379',
      LOG_LEVEL: 'info',
      GATEWAY_WORKERS: '1',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318',
    });
    expect(redis.image).toMatch(/^redis:/);
    expect(lb.ports).toEqual(['8080:8080']);
    expect(gateway.depends_on).toEqual({
      jaeger: { condition: 'service_started' },
      redis: { condition: 'service_healthy' },
      services: { condition: 'service_healthy' },
      'services-b': { condition: 'service_healthy' },
    });
    expect(lb.depends_on).toEqual({ gateway: { condition: 'service_healthy' } });
  });

  it('mounts files that exist, the gateway config where GATEWAY_CONFIG points', () => {
    for (const service of Object.values(compose.services)) {
      for (const volume of service.volumes ?? []) {
        const [source] = volume.split(':');
        expect(existsSync(root(source))).toBe(true);
      }
    }
    expect(gateway.volumes).toEqual(['./deploy/gateway:/etc/nest-gateway:ro']);
    expect(gateway.environment!.GATEWAY_CONFIG).toBe('/etc/nest-gateway/gateway.yaml');
    expect(existsSync(root('deploy/gateway/gateway.yaml'))).toBe(true);
    expect(read('deploy/nginx.conf')).toMatch(/server gateway:8080;[\s\S]*listen 8080;[\s\S]*proxy_pass http:\/\/gateways;/);
  });

  it("gives the gateway a valid config whose targets are the services' compose names", () => {
    const config = validateGatewayConfigFile(parseYaml(read('deploy/gateway/gateway.yaml')), 'deploy/gateway/gateway.yaml');
    expect(config.cache?.store).toBe('redis');
    const targets = config.routes.flatMap((route) => (route.targets ?? [route.target!]).map((target) => new URL(typeof target === 'string' ? target : target.url)));
    expect(targets.map((url) => url.hostname).sort()).toEqual(['admin', 'users', 'users-b']);
    expect(services.networks?.default?.aliases?.sort()).toEqual(['admin', 'users']);
    expect(replica.networks?.default?.aliases).toEqual(['users-b']);
    for (const copy of [services, replica]) expect(copy.environment).toMatchObject({ HOST: '0.0.0.0', USERS_PORT: '3001', ADMIN_PORT: '3002' });
    expect(targets.map((url) => url.port).sort()).toEqual(['3001', '3001', '3002']);
  });

  it("traces to the Jaeger service's OTLP/HTTP port", () => {
    const config = validateGatewayConfigFile(parseYaml(read('deploy/gateway/gateway.yaml')), 'deploy/gateway/gateway.yaml');
    expect(config.tracing).toEqual({ sampleRatio: 1 });
    expect(gateway.environment!.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://jaeger:4318');
    const { jaeger } = compose.services;
    expect(jaeger.image).toMatch(/^jaegertracing\/all-in-one:/);
    expect(jaeger.ports).toEqual(['16686:16686']);
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');

  it('builds in one stage and runs production dependencies as a non-root user', () => {
    expect(dockerfile.match(/^FROM node:\$\{NODE_LINE\}-bookworm-slim AS build$/m)).not.toBeNull();
    expect(dockerfile.match(/^FROM /gm)).toHaveLength(2);
    expect(dockerfile.match(/^FROM node:\$\{NODE_LINE\}-bookworm-slim$/gm)).toHaveLength(1);
    expect(dockerfile).toMatch(/^RUN npm ci --omit=dev/m);
    expect(dockerfile).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/GATEWAY_CONFIG=\/etc\/nest-gateway\/gateway\.yaml/);
  });

  it('runs the supported LTS line that CI tests on (.nvmrc), one the engines field admits', () => {
    const line = read('.nvmrc').trim();
    expect(dockerfile).toMatch(new RegExp(`^ARG NODE_LINE=${line}$`, 'm'));
    expect(read('.ci/run')).toContain('.nvmrc');
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
    expect(engines.split('||').filter((range) => range.trim().startsWith(`^${line}.`))).toHaveLength(1);
  });

  it('checks its health on the liveness endpoint and starts the standalone server', () => {
    expect(dockerfile).toMatch(/^HEALTHCHECK [\s\S]*\/health/m);
    expect(dockerfile).toMatch(/^CMD \["node", (.+, )?"dist\/main\.js"\]$/m);
  });

  it('runs the gateway with the allocator settings and node flags the command applies (defined once, in src/cli/runtime-flags.ts)', () => {
    expect(dockerfile).toContain(`    GLIBC_TUNABLES=${GLIBC_TUNABLES} \\\n`);
    expect(dockerfile).toContain(`CMD ${JSON.stringify(['node', ...NODE_FLAGS, 'dist/main.js']).replaceAll(',', ', ')}`);
    // `npm start` is the command, which applies them itself.
    expect((JSON.parse(read('package.json')) as { scripts: { start: string } }).scripts.start).toBe('node dist/cli.js');
  });
});

describe('the compose topology as processes: 2 gateways, 1 Redis, the demo services', () => {
  let redis: RedisServer;
  let servers: Server[];
  const gateways: StandaloneGateway[] = [];
  // Jaeger's place: what the gateways export, by content type.
  const exports: (string | undefined)[] = [];
  let collector: Server;

  beforeAll(async () => {
    redis = await startRedisServer();
    const { startServices } = (await import(root('demo/services.mjs'))) as {
      startServices: (options: { usersPort: number; adminPort: number }) => Promise<Server[]>;
    };
    // Two copies, as compose runs them.
    servers = [...(await startServices({ usersPort: 0, adminPort: 0 })), ...(await startServices({ usersPort: 0, adminPort: 0 }))];
    const [users, admin, usersB] = servers.map((server) => (server.address() as AddressInfo).port);
    // deploy/gateway/gateway.yaml as it is, with the compose names pointed at this machine.
    const text = read('deploy/gateway/gateway.yaml')
      .replace('http://users:3001', `http://127.0.0.1:${users}`)
      .replace('http://users-b:3001', `http://127.0.0.1:${usersB}`)
      .replace('http://admin:3002', `http://127.0.0.1:${admin}`);
    const config = parseYaml(text) as unknown;
    collector = createServer((req, res) => {
      exports.push(req.headers['content-type']);
      req.resume().on('end', () => res.writeHead(200).end());
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    const otlp = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
    for (let i = 0; i < 2; i++) gateways.push(await startStandalone(config, { REDIS_URL: redis.url, LOG_LEVEL: 'info', OTEL_EXPORTER_OTLP_ENDPOINT: otlp }));
  });
  afterAll(async () => {
    for (const gateway of gateways) {
      gateway.child.kill('SIGTERM');
      await gateway.exited;
    }
    servers.forEach((server) => server.close());
    collector.closeAllConnections();
    collector.close();
    await redis.stop();
  });

  it('fills through one gateway, hits through the other, and expires for both', async () => {
    const [a, b] = gateways;
    // Both reached under one public host, as through compose's nginx: the host is in the key.
    await request(a.url).get('/users/numbers').set('host', 'gateway.example').expect(200).expect('x-cache', 'MISS');
    const hit = await request(b.url).get('/users/numbers').set('host', 'gateway.example').expect(200).expect('x-cache', 'HIT');
    expect(hit.body.service).toBe('users');
    await request(b.url).patch('/users/numbers').set('host', 'gateway.example').expect(200);
    await request(a.url).get('/users/numbers').set('host', 'gateway.example').expect(200).expect('x-cache', 'MISS');

    await request(a.url).get('/admin/stats').expect(401);
    await request(b.url).get('/admin/stats').auth('admin', 's3cr3t-pass').expect(200);
    for (const gateway of gateways) await request(gateway.url).get('/ready').expect(200);
    await until(() => exports.length >= 2, 'the gateways to export their spans');
    expect(new Set(exports)).toEqual(new Set(['application/x-protobuf']));
  });
});
