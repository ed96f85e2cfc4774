import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      { extends: true, test: { name: 'core', include: ['packages/core/src/**/*.test.ts'] } },
      {
        extends: true,
        test: { name: 'packages', include: ['packages/*/src/**/*.test.ts'], exclude: ['packages/core/**', '**/node_modules/**'] },
      },
      { extends: true, test: { name: 'services', include: ['services/*/src/**/*.test.ts'] } },
      { extends: true, test: { name: 'network', include: ['test/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 120_000 } },
    ],
    testTimeout: 30_000,
    // Two cores: files in parallel up to that, no more.
    maxWorkers: 2,
  },
});
