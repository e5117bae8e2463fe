/**
 * Two projects share one configuration:
 * - `unit`: parsers, fixtures, in-process servers; runs in parallel.
 * - `real`: suites that use the real kernel, Docker Engine, Prometheus or the qemu VM (test/real, test/vm).
 *   They share the host's memory cgroups, /dev/kmsg and the one Docker daemon, so `npm test` runs them
 *   one file at a time (-i) after the unit project.
 */
const REAL = ['<rootDir>/test/real/', '<rootDir>/test/vm/'];

const common = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
    // chokidar 5 and readdirp 5 ship ES modules only; jest's CommonJS loader needs them transpiled.
    '^.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true, module: 'commonjs', isolatedModules: true } }],
  },
  // So do @kubernetes/client-node 1.x and the ES-module-only packages it loads (openid-client,
  // oauth4webapi, jose); outside jest, Node 22.12+ loads them with require() directly.
  transformIgnorePatterns: [
    '/node_modules/(?!(chokidar|readdirp|@kubernetes/client-node|openid-client|oauth4webapi|jose)/)',
  ],
};

/** @type {import('jest').Config} */
module.exports = {
  testTimeout: 60000,
  projects: [
    {
      ...common,
      displayName: 'unit',
      roots: ['<rootDir>/test'],
      testMatch: ['**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', ...REAL],
    },
    {
      ...common,
      displayName: 'real',
      roots: ['<rootDir>/test'],
      testMatch: REAL.map((r) => `${r}**/*.test.ts`),
    },
  ],
};
