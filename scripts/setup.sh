#!/usr/bin/env bash
# Installs what the tests need beyond npm packages. Idempotent; run by .ci/run and by hand (as root).
# Debian's chromium drives the browser tests (playwright-core with executablePath; no browser download).
# k6 and Grafana are AGPL: never installed here (their scripts and dashboard JSON are tested without them).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# A font so that rendered pages (screenshots of the console and go-live report) show text.
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install: ${need[*]} (sudo bash scripts/setup.sh)" >&2
    exit 1
  fi
  echo "setup: apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
echo "setup: $(chromium --version 2>/dev/null || echo 'chromium missing')"

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
