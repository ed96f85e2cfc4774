import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      { extends: true, test: { name: 'core', include: ['packages/core/src/**/*.test.ts'] } },
      // The generated code against proto/ (no servers).
      { extends: true, test: { name: 'proto', include: ['packages/proto/src/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'packages',
          include: ['packages/*/src/**/*.test.ts'],
          exclude: ['packages/core/**', 'packages/proto/**', '**/node_modules/**'],
          // Postgres, Redis and Kafka for the adapters' tests: testcontainers where a Docker engine runs,
          // else the local-process stack (docs/testing.md).
          globalSetup: ['test/support/global-infra.ts'],
        },
      },
      { extends: true, test: { name: 'services', include: ['services/*/src/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'network',
          include: ['test/**/*.test.ts'],
          exclude: ['test/stack/**', 'test/k8s/**', '**/node_modules/**'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
      {
        // One multi-process testnet (26 replica processes on the real stack) at a time: the files
        // run one after another, after every other project is done (vitest runs a project with
        // file parallelism off as its own group, last).
        extends: true,
        test: {
          name: 'stack',
          include: ['test/stack/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
          // The same servers as `packages` (one set for the run), and Jaeger.
          globalSetup: ['test/support/global-infra.ts'],
        },
      },
      {
        // The chart on the one-node cluster of `pnpm k8s up` (one release, steps in order, minutes each),
        // after every other project (groupOrder 1): its 19 pods and the stack's testnets never share the cores.
        extends: true,
        test: {
          name: 'k8s',
          include: ['test/k8s/**/*.test.ts'],
          testTimeout: 1_200_000,
          hookTimeout: 300_000,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
    // Generous: PGlite's first start alone takes 5-15 s on two busy cores.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: files in parallel up to that, no more.
    maxWorkers: 2,
  },
});
