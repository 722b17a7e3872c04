#!/usr/bin/env bash
# Installs what the tests need beyond npm packages. Idempotent; run by .ci/run and by hand.
# The browser tests need no system package: packages/testkit/src/browser.ts uses the Chromium that the npm
# package @sparticuz/chromium ships (Debian's chromium when present).
# k6 and Grafana are AGPL: never installed here (their scripts and dashboard JSON are tested without them).
set -euo pipefail
cd "$(dirname "$0")/.."

# telemetrygen (the OpenTelemetry Collector's OTLP load generator, Apache-2.0) for the sink's
# packages/clickhouse-sink/test/telemetrygen.test.ts; built from the Go module proxy, skipped when present.
TELEMETRYGEN_VERSION=v0.161.0
gobin="$(go env GOBIN 2>/dev/null || true)"
[ -n "$gobin" ] || gobin="$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"
if [ -x "$gobin/telemetrygen" ]; then
  echo "setup: telemetrygen present ($gobin/telemetrygen)"
elif command -v go >/dev/null 2>&1; then
  echo "setup: go install telemetrygen@$TELEMETRYGEN_VERSION"
  go install "github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@$TELEMETRYGEN_VERSION"
else
  echo "setup: go missing: cannot install telemetrygen (the sink's telemetrygen test will fail)" >&2
fi
