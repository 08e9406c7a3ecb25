/** Jest in ESM mode: run through `node --experimental-vm-modules` (see package.json). */
const swcOptions = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    target: 'es2023',
    keepClassNames: true,
  },
  module: { type: 'es6' },
  sourceMaps: 'inline',
};

export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', swcOptions] },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.e2e-spec.ts'],
  // Process entry points, and what runs only between cluster processes: tested as real processes
  // (test/workers, test/cli, test/shutdown), where jest cannot count lines.
  collectCoverageFrom: ['src/**/*.ts', '!src/**/*.spec.ts', '!src/main.ts', '!src/cli.ts', '!src/metrics/cluster-metrics.ts', '!src/cache/worker-peers.ts'],
  coverageReporters: ['text-summary', 'text'],
  testTimeout: 30000,
};
