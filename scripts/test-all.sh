#!/usr/bin/env bash
# The whole test run, from a fresh clone: system tools, npm packages, lint, types, build, tests.
# README "Run the tests" and .ci/run both run exactly this (through `npm run test:all`).
set -euo pipefail
cd "$(dirname "$0")/.."

# System tools the integration tests use: socat (pseudo-terminal registers), xmlsec1 and xmllint (independent
# signature and canonical-form checks), chromium (the audit web page in a real browser). Installed when we may
# (root + apt); otherwise named, and those tests skip.
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v socat   >/dev/null 2>&1 || need+=(socat)
command -v xmlsec1 >/dev/null 2>&1 || need+=(xmlsec1)
command -v xmllint >/dev/null 2>&1 || need+=(libxml2-utils)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Cài công cụ hệ thống / installing system tools: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "Thiếu công cụ / missing tools — run: sudo apt-get install -y ${need[*]}  (their tests will be skipped)" >&2
  fi
fi

npm ci --no-audit --no-fund
npx biome check --error-on-warnings .
npx tsc --noEmit -p tsconfig.json
npm run build
HOADON_SKIP_BUILD=1 node scripts/vitest-summary.mjs
