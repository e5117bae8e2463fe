/**
 * Two kinds of suites share one jest run:
 * - unit and fixture tests (test/**) run in parallel;
 * - suites that touch the real kernel, Docker, Prometheus or the VM (test/real/**, test/vm/**) share the
 *   host's memory cgroups, /dev/kmsg and the Docker daemon, so they run one file at a time
 *   (see test/real/serial-sequencer.js and the maxWorkers note in README).
 */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', isolatedModules: true }],
    // chokidar 5 and readdirp 5 ship ES modules only; jest's CommonJS loader needs them transpiled.
    '^.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true, module: 'commonjs' }, isolatedModules: true }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(chokidar|readdirp)/)'],
  testTimeout: 30000,
};
