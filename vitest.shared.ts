import type { ViteUserConfig } from 'vitest/config';

/** Test config shared by every package: resolve workspace packages to their TypeScript source. */
export const sharedTestConfig: ViteUserConfig = {
  resolve: { conditions: ['fhirwatch-source', 'module', 'node', 'default'] },
  ssr: {
    resolve: {
      conditions: ['fhirwatch-source', 'node', 'import', 'default'],
      externalConditions: ['fhirwatch-source'],
    },
  },
  test: {
    pool: 'forks',
    // Hang detectors, not speed limits (no test asserts timing): on the shared 2-core machine at load average
    // 30-40, tests that take 10 s idle took over 30 s (query-api.test.ts's verify: 30.2 s in a clean-clone run).
    testTimeout: 120_000,
    hookTimeout: 180_000,
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // The JSON result feeds scripts/test-summary.ts, which prints the repo-wide 'N passed, N failed' line.
    reporters: ['default', ['json', { outputFile: '.vitest-result.json' }]],
  },
};
