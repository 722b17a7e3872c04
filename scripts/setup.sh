#!/usr/bin/env bash
# Installs what the tests need beyond npm packages. Idempotent; run by .ci/run and by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
# (Debian packages and k6 are added here as the tests that need them land.)
echo "setup: nothing beyond npm packages yet"
