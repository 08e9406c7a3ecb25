import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveGatewayOptions } from '../src/config/resolve-options.js';
import { GatewayConfigError, GatewayModule, loadConfigFile, validateGatewayOptions } from '../src/index.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

async function tempFile(name: string, text: string): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), 'gateway-config-')), name);
  await writeFile(file, text);
  return file;
}

function issuesOf(action: () => unknown): string[] {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayConfigError);
    return (error as GatewayConfigError).issues;
  }
  throw new Error('expected a GatewayConfigError');
}

describe('config validation', () => {
  it('names the field path and the reason of each error', () => {
    const issues = issuesOf(() =>
      validateGatewayOptions({
        routes: [
          { prefix: '/ok', target: 'http://127.0.0.1:1' },
          { prefix: 'no-slash', target: 'not a url', bodyLimit: -1, timeout: 0 },
        ],
      }),
    );
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^routes\[1\]\.prefix: /),
        expect.stringMatching(/^routes\[1\]\.target: expected an http:\/\/ or https:\/\/ URL/),
        expect.stringMatching(/^routes\[1\]\.bodyLimit: /),
        expect.stringMatching(/^routes\[1\]\.timeout: /),
      ]),
    );
  });

  it('names each error in a route with several targets by its field path', () => {
    const route = { prefix: '/api' };
    const issues = issuesOf(() =>
      validateGatewayOptions({
        routes: [
          { ...route, targets: [] },
          { ...route, target: 'http://a', targets: ['http://b'] },
          { ...route, targets: ['http://a'], hashOn: 'header:x-user-id' },
          { ...route, targets: ['http://a', { url: 'ftp://b', weight: 0 }], balance: 'random' },
          { ...route, targets: ['http://a'], healthCheck: { path: 'health', interval: 'soon', timeout: -1 }, retries: { attempts: 1, on: ['timeout'], budget: 2 } },
          { ...route, targets: ['http://a'], balance: 'consistent-hash', hashOn: 'body' },
        ],
      }),
    );
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^routes\[0\]\.targets: expected at least one target/),
        expect.stringMatching(/^routes\[1\]\.targets: expected exactly one of target and targets/),
        expect.stringMatching(/^routes\[2\]\.hashOn: only with balance: 'consistent-hash'/),
        expect.stringMatching(/^routes\[3\]\.targets\[1\]/),
        expect.stringMatching(/^routes\[3\]\.balance: /),
        expect.stringMatching(/^routes\[4\]\.healthCheck\.path: /),
        expect.stringMatching(/^routes\[4\]\.healthCheck\.interval: /),
        expect.stringMatching(/^routes\[4\]\.healthCheck\.timeout: /),
        expect.stringMatching(/^routes\[4\]\.retries/),
        expect.stringMatching(/^routes\[5\]\.hashOn: expected 'header:<name>', 'cookie:<name>' or 'ip'/),
      ]),
    );
    expect(issuesOf(() => validateGatewayOptions({ routes: [route] }))).toEqual(['routes[0].target: expected exactly one of target and targets']);
  });

  it('refuses credentials in a target, which would be shown in every access line and metric label and never sent', () => {
    const issues = issuesOf(() =>
      validateGatewayOptions({
        routes: [
          { prefix: '/a', target: 'http://user:s3cret@127.0.0.1:3000' },
          { prefix: '/b', targets: ['http://127.0.0.1:3001', { url: 'https://user@b.example' }] },
        ],
      }),
    );
    expect(issues).toEqual([
      expect.stringMatching(/^routes\[0\]\.target: expected no user:password@ in a target; send credentials as a header/),
      expect.stringMatching(/^routes\[1\]\.targets\[1\]\.url: expected no user:password@ in a target/),
    ]);
    expect(issues.join('\n')).not.toContain('s3cret');
  });

  it('rejects unknown keys and missing required fields', () => {
    const issues = issuesOf(() => validateGatewayOptions({ routes: [{ prefix: '/x', targt: 'http://a' }], extra: 1 }));
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^routes\[0\]: .*targt/),
        expect.stringMatching(/^\(root\): .*extra/),
      ]),
    );
    expect(issuesOf(() => validateGatewayOptions({ routes: [] }))).toEqual([expect.stringMatching(/^routes: /)]);
  });

  it('names routes that claim a method and path already taken, by a route or a health endpoint', () => {
    const target = 'http://127.0.0.1:1';
    expect(
      issuesOf(() =>
        validateGatewayOptions({
          health: {},
          routes: [
            { prefix: '/api', target, pathRegex: '/:id' },
            { prefix: '/api', target, pathRegex: '/:name', methods: ['POST', 'HEAD'] },
            { prefix: '/api', target, pathRegex: '/:id', methods: ['PUT'] },
            { prefix: '/health', target, pathRegex: '' },
          ],
        }),
      ),
    ).toEqual([
      'routes[1]: duplicate prefix /api, already served by routes[0]',
      'routes[2]: duplicate prefix /api, already served by routes[0]',
      'health.liveness: GET, HEAD /health already served by routes[3]',
    ]);
    expect(() =>
      validateGatewayOptions({ health: false, routes: [{ prefix: '/health', target, pathRegex: '' }] }),
    ).not.toThrow();
  });

  it('names a typo of a key with the key it looks like, in one issue', () => {
    const target = 'http://127.0.0.1:1';
    expect(issuesOf(() => validateGatewayOptions({ routes: [{ prefx: '/api', target }] }))).toEqual(['routes[0]: Unrecognized key: "prefx" (did you mean "prefix"?)']);
    expect(issuesOf(() => validateGatewayOptions({ routes: [{ prefix: '/api', target, bodyLimt: 1 }], cahce: {} }))).toEqual([
      'routes[0]: Unrecognized key: "bodyLimt" (did you mean "bodyLimit"?)',
      '(root): Unrecognized key: "cahce" (did you mean "cache"?)',
    ]);
    expect(issuesOf(() => validateGatewayOptions({ routes: [{ prefix: '/api', target, middlewares: [{ use: 'basicAuth', options: { user: { a: 'b' } } }, { use: 'cros' }] }] }))).toEqual([
      'routes[0].middlewares[0].options: Unrecognized key: "user" (did you mean "users"?)',
      "routes[0].middlewares[1].use: unknown middleware 'cros' (did you mean \"cors\"?) (built-in: basicAuth, cors)",
    ]);
    // Nothing near enough: no guess.
    expect(issuesOf(() => validateGatewayOptions({ routes: [{ prefix: '/api', target }], extra: 1 }))).toEqual(['(root): Unrecognized key: "extra"']);
    // A key present is no typo's to hide: both are named.
    expect(issuesOf(() => validateGatewayOptions({ routes: [{ prefix: 1, prefx: '/api', target }] }))).toHaveLength(2);
  });

  it('says a duplicate prefix in one line, and a partial overlap with its methods and paths', () => {
    const target = 'http://127.0.0.1:1';
    expect(issuesOf(() => validateGatewayOptions({ routes: [{ prefix: '/a', target }, { prefix: '/a', target }] }))).toEqual([
      'routes[1]: duplicate prefix /a, already served by routes[0]',
    ]);
    expect(
      issuesOf(() =>
        validateGatewayOptions({ routes: [{ prefix: '/a', target, methods: ['GET', 'POST'] }, { prefix: '/a', target, methods: ['POST', 'PUT'] }] }),
      ),
    ).toEqual(['routes[1]: POST /a, /a/* already served by routes[0]']);
  });

  it('takes every duration in milliseconds or ms notation, every size in bytes or bytes notation, and shows the form of each', () => {
    const route = {
      prefix: '/a',
      target: 'http://127.0.0.1:1',
      bodyLimit: '2mb',
      timeout: '5s',
      requestBodyTimeout: '1m',
      keepAliveTimeout: '500ms',
      websocketIdleTimeout: '10 minutes',
      healthCheck: { path: '/h', interval: '2s', timeout: 300 },
    };
    const resolved = resolveGatewayOptions(
      validateGatewayOptions({
        routes: [route],
        cache: { maxBytes: '64mb', maxEntryBytes: '512kb', coalesceWait: '2s' },
        server: { shutdownGracePeriod: '10s', headersTimeout: '10s', requestTimeout: '5m', keepAliveTimeout: '72s', drainDelay: '1s' },
      }),
    );
    expect(resolved.routes[0]).toMatchObject({ bodyLimit: 2 * 1024 * 1024, timeout: 5000, requestBodyTimeout: 60_000, keepAliveTimeout: 500, websocketIdleTimeout: 600_000 });
    expect(resolved.routes[0].healthCheck).toMatchObject({ interval: 2000, timeout: 300 });
    expect(resolved.cache).toMatchObject({ maxBytes: 64 * 1024 * 1024, maxEntryBytes: 512 * 1024, coalesceWait: 2000 });
    expect(resolved.server).toMatchObject({ shutdownGracePeriod: 10_000, headersTimeout: 10_000, requestTimeout: 300_000, keepAliveTimeout: 72_000, drainDelay: 1000 });
    // Options resolved without validation (typed in code) are read the same way.
    expect(resolveGatewayOptions({ routes: [{ prefix: '/a', target: 'http://a', bodyLimit: '1kb', timeout: '1s' }] }).routes[0]).toMatchObject({ bodyLimit: 1024, timeout: 1000 });

    const refused = issuesOf(() =>
      validateGatewayOptions({ routes: [{ ...route, bodyLimit: '1xb', timeout: 'soon', keepAliveTimeout: 0 }], cache: { maxBytes: -1, coalesceWait: true } }),
    );
    expect(refused).toEqual([
      `routes[0].bodyLimit: expected a size: bytes (1048576) or a string such as '512kb', '1mb'; got "1xb"`,
      `routes[0].timeout: expected a duration: milliseconds (1000) or a string such as '500ms', '5s', '1m', above 0; got "soon"`,
      `routes[0].keepAliveTimeout: expected a duration: milliseconds (1000) or a string such as '500ms', '5s', '1m', above 0; got 0`,
      `cache.maxBytes: expected a size: bytes (1048576) or a string such as '512kb', '1mb', above 0; got -1`,
      `cache.coalesceWait: expected a duration: milliseconds (1000) or a string such as '500ms', '5s', '1m'`,
    ]);
  });

  it('names unknown built-in middlewares and bad middleware options', () => {
    expect(
      issuesOf(() =>
        GatewayModule.forRoot({ routes: [{ prefix: '/x', target: 'http://a', middlewares: [{ use: 'rateLimit' }] }] }),
      ),
    ).toEqual([expect.stringMatching(/^routes\[0\]\.middlewares\[0\]\.use: unknown middleware 'rateLimit' \(built-in: basicAuth, cors\)/)]);
    expect(
      issuesOf(() =>
        GatewayModule.forRoot({ middlewares: [{ use: 'basicAuth', options: { users: {} } }], routes: [{ prefix: '/x', target: 'http://a' }] }),
      ),
    ).toEqual([expect.stringMatching(/^middlewares\[0\]\.options\.users: expected at least one user/)]);
  });

  it('takes server.drainDelay in milliseconds or ms notation, 0 by default, and names a bad one', () => {
    const routes = [{ prefix: '/x', target: 'http://a' }];
    const drainDelayOf = (server?: { drainDelay?: number | string }) => resolveGatewayOptions(validateGatewayOptions({ server, routes })).server.drainDelay;
    expect([drainDelayOf(), drainDelayOf({ drainDelay: 0 }), drainDelayOf({ drainDelay: 1500 }), drainDelayOf({ drainDelay: '15s' })]).toEqual([0, 0, 1500, 15_000]);
    for (const drainDelay of [-1, 1.5, 'soon', '', true]) {
      expect(issuesOf(() => validateGatewayOptions({ server: { drainDelay: drainDelay as number }, routes }))).toEqual([
        expect.stringMatching(/^server\.drainDelay: /),
      ]);
    }
  });

  it('accepts lower-case methods', () => {
    const options = validateGatewayOptions({ routes: [{ prefix: '/x', target: 'https://a', methods: ['get', 'post'] }] });
    expect(options.routes[0].methods).toEqual(['GET', 'POST']);
  });
});

describe('config files', () => {
  it('takes REDIS_URL (the override) for the cache and for every rate limit counted in Redis, and no other', async () => {
    const limit = { limit: 5, window: '1m' };
    const file = await tempFile(
      'redis.json',
      JSON.stringify({
        cache: { store: 'redis', redisUrl: 'redis://file:6379' },
        routes: [
          { prefix: '/a', target: 'http://127.0.0.1:3000', rateLimit: { ...limit, store: 'redis', redisUrl: 'redis://file:6379' } },
          { prefix: '/b', target: 'http://127.0.0.1:3000', rateLimit: [{ ...limit, store: 'redis' }, { ...limit, name: 'mem' }] },
          { prefix: '/c', target: 'http://127.0.0.1:3000' },
        ],
      }),
    );
    const loaded = await loadConfigFile(file, { redisUrl: 'redis://env:6379' });
    expect(loaded.cache?.redisUrl).toBe('redis://env:6379');
    expect(loaded.routes[0].rateLimit).toMatchObject({ redisUrl: 'redis://env:6379' });
    // Durations come out of validation in milliseconds.
    const read = { limit: 5, window: 60_000 };
    expect(loaded.routes[1].rateLimit).toEqual([{ ...read, store: 'redis', redisUrl: 'redis://env:6379' }, { ...read, name: 'mem' }]);
    // Not a list of routes: left for the validator to refuse.
    await expect(loadConfigFile(await tempFile('bad.json', '{"routes": "x"}'), { redisUrl: 'redis://env:6379' })).rejects.toThrow(/routes: .*expected array/);
  });

  it('loads YAML and JSON files of the same shape', async () => {
    const shape = { pathRegex: '/*', routes: [{ prefix: '/p', target: 'http://127.0.0.1:3000', methods: ['GET'] }] };
    const yaml = await tempFile('g.yaml', 'pathRegex: /*\nroutes:\n  - { prefix: /p, target: "http://127.0.0.1:3000", methods: [GET] }\n');
    const json = await tempFile('g.json', JSON.stringify(shape));
    // A file is the standalone server's: its health and metrics endpoints, and its own 404, are on.
    const loaded = { ...shape, health: {}, metrics: {}, answerUnmatched: true };
    await expect(loadConfigFile(yaml)).resolves.toEqual(loaded);
    await expect(loadConfigFile(json)).resolves.toEqual(loaded);
  });

  it('refuses functions in files: hooks are not part of the file shape', async () => {
    const file = await tempFile('g.json', JSON.stringify({ routes: [{ prefix: '/p', target: 'http://a', hooks: {} }] }));
    await expect(loadConfigFile(file)).rejects.toThrow(/routes\[0\]: .*hooks/);
  });

  it('reports files that are missing, of another type or malformed', async () => {
    await expect(loadConfigFile('/nonexistent/gateway.yaml')).rejects.toThrow(/gateway\.yaml[\s\S]*cannot be read/);
    await expect(loadConfigFile(await tempFile('g.toml', ''))).rejects.toThrow(/expected a \.yaml, \.yml or \.json file/);
    await expect(loadConfigFile(await tempFile('g.json', '{ nope'))).rejects.toThrow(/not valid JSON/);
    await expect(loadConfigFile(await tempFile('g.yml', 'routes: [\n'))).rejects.toThrow(/not valid YAML/);
  });

  it('makes the standalone server exit non-zero before listening, naming file and field', async () => {
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      // The built server, as `npm start` runs it (`npm test` builds first).
      const child = spawn(process.execPath, [fileURLToPath(new URL('../dist/main.js', import.meta.url))], {
        env: { ...process.env, GATEWAY_CONFIG: fixture('invalid.yaml'), PORT: '0' },
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('exit', (code) => resolve({ code, stderr }));
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(fixture('invalid.yaml'));
    expect(result.stderr).toMatch(/routes\[1\]\.target: expected an http:\/\/ or https:\/\/ URL/);
    expect(result.stderr).toMatch(/routes\[1\]\.methods\[1\]: /);
    expect(result.stderr).toMatch(/routes\[1\]: .*bodyLimt/);
  });
});
