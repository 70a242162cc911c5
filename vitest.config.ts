import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // One graphql-js for everything: Yoga and Pothos load its CommonJS build, and a second copy
    // (the ESM build) would make schema objects and errors foreign to each other.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql/index.js') }],
  },
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Each test file gets its own database, so files run in parallel safely.
    pool: 'forks',
  },
});
