import fc from 'fast-check';
import request from 'supertest';
import { GatewayConfigError, validateGatewayConfigFile } from '../src/config/gateway-options.schema.js';
import { startGateway } from './support/gateway.js';
import { startUpstream, type Upstream } from './support/upstream.js';

const segment = fc.constantFrom('a', 'api', 'v1', 'users', 'health', 'ready', ':id', 'x.y');
const path = fc.array(segment, { minLength: 0, maxLength: 3 }).map((parts) => `/${parts.join('/')}`);
const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'get');

const route = (target: string) =>
  fc.record(
    {
      prefix: path,
      target: fc.constantFrom(target, `${target}/base`),
      prefixRewrite: fc.oneof(fc.constant(''), path),
      pathRegex: fc.constantFrom('', '/*', '/:id', '/:id/*'),
      methods: fc.uniqueArray(method, { minLength: 1, maxLength: 4 }),
      bodyLimit: fc.nat({ max: 1 << 20 }),
      // Long enough that a 504 would be a fault, not the config asking for one.
      timeout: fc.integer({ min: 5_000, max: 60_000 }),
      middlewares: fc.constantFrom([], [{ use: 'cors' }], [{ use: 'basicAuth', options: { users: { u: 'p' } } }]),
    },
    { requiredKeys: ['prefix', 'target'] },
  );

const config = (target: string) =>
  fc.record(
    {
      routes: fc.array(route(target), { minLength: 1, maxLength: 4 }),
      pathRegex: fc.constantFrom('', '/*'),
      cache: fc.constantFrom({}, { store: 'memory' as const, maxEntries: 10 }),
      maxUrlLength: fc.integer({ min: 1, max: 16_384 }),
      health: fc.constantFrom(false as const, {}, { liveness: '/live', readiness: '/api' }),
      server: fc.constantFrom({}, { trustProxy: true, shutdownGracePeriod: 0 }),
    },
    { requiredKeys: ['routes'] },
  );

/** Valid configs with one field replaced by anything. */
const damaged = (target: string) =>
  fc
    .tuple(config(target), fc.constantFrom('routes', 'pathRegex', 'cache', 'maxUrlLength', 'health', 'server', 'extra'), fc.anything())
    .map(([valid, key, value]) => ({ ...valid, [key]: value }));

describe('config validation under random input', () => {
  it('accepts or refuses with a GatewayConfigError naming fields, and never throws anything else', () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything(), damaged('http://127.0.0.1:1')), (input) => {
        try {
          validateGatewayConfigFile(input, 'fuzz.json');
        } catch (error) {
          expect(error).toBeInstanceOf(GatewayConfigError);
          expect((error as GatewayConfigError).issues.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('every accepted config starts the gateway', () => {
  let upstream: Upstream;

  beforeAll(async () => {
    upstream = await startUpstream();
  });
  afterAll(() => upstream.close());

  it('starts, answers a request without a 5xx, and stops', async () => {
    await fc.assert(
      fc.asyncProperty(config(upstream.url), async (input) => {
        let options;
        try {
          options = validateGatewayConfigFile(input, 'fuzz.json');
        } catch (error) {
          if (error instanceof GatewayConfigError) return;
          throw error;
        }
        const gateway = await startGateway(options);
        try {
          const res = await request(gateway.url).get(`${options.routes[0].prefix}`);
          expect(res.status).toBeLessThan(500);
        } finally {
          await gateway.close();
        }
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 60) },
    );
  });
});
