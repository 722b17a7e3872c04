#!/usr/bin/env bash
# The README's test command (`npm test`): repository checks, typecheck, lint, every package's tests, one closing line.
set -uo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1 TURBO_NO_UPDATE_NOTIFIER=1
rm -f packages/*/.vitest-result.json loadtests/.vitest-result.json dashboards/.vitest-result.json
# conflict markers and dead cited paths (packages/testkit/src/repo-check.ts)
node --conditions=fhirwatch-source scripts/check-repo.ts || exit 1
tsc -p tsconfig.json && turbo run typecheck || exit 1
biome check . || exit 1
turbo run test --concurrency=1 --continue
status=$?
node --conditions=fhirwatch-source scripts/test-summary.ts || status=1
exit $status
