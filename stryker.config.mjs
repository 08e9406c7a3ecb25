/**
 * Mutation testing of the rooms that guard something: the built-in middlewares, the upstream
 * rules (balancing, ejection, breaker, retry budget), the cache's keys and storage rules, the
 * proxy's header rules and the request-target checks. `npm run mutate`; not in CI: on two cores
 * it takes hours. Narrow it with `npm run mutate -- --mutate src/routes/request-target.ts`.
 */
// `MUTATE_TESTS=src/routes/request-target.spec.ts,test/hardening.e2e-spec.ts` runs only those
// tests (their dry run included), for a quick look at one room.
const tests = process.env.MUTATE_TESTS?.split(',');

export default {
  testRunner: 'jest',
  // jest runs in its ESM mode, as `npm test` runs it.
  testRunnerNodeArgs: ['--experimental-vm-modules'],
  jest: {
    configFile: 'jest.config.js',
    enableFindRelatedTests: false,
    ...(tests && { config: { testMatch: tests.map((test) => `<rootDir>/${test}`) } }),
  },
  coverageAnalysis: 'perTest',
  mutate: [
    'src/middleware/builtin/**/*.ts',
    'src/upstream/**/*.ts',
    'src/cache/cache-key.ts',
    'src/cache/cache-ttl.ts',
    'src/cache/cache-expiry.ts',
    'src/cache/cache-lookup.ts',
    'src/cache/response-cache.service.ts',
    'src/proxy/upstream-headers.ts',
    'src/routes/request-target.ts',
    '!src/**/*.spec.ts',
  ],
  // Mutants of module-level constants run every test: too slow here, and reported as such.
  ignoreStatic: true,
  concurrency: 2,
  timeoutMS: 20_000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
