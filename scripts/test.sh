#!/usr/bin/env bash
# The README's test command (`npm test`): typecheck, lint, every package's tests, one closing line.
set -uo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1 TURBO_NO_UPDATE_NOTIFIER=1
rm -f packages/*/.vitest-result.json loadtests/.vitest-result.json dashboards/.vitest-result.json
tsc -p tsconfig.json && turbo run typecheck || exit 1
biome check . || exit 1
turbo run test --concurrency=1 --continue
status=$?
node --conditions=fhirwatch-source scripts/test-summary.ts || status=1
exit $status
