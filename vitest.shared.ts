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
    testTimeout: 30_000,
    hookTimeout: 60_000,
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // The JSON result feeds scripts/test-summary.ts, which prints the repo-wide 'N passed, N failed' line.
    reporters: ['default', ['json', { outputFile: '.vitest-result.json' }]],
  },
};
