#!/usr/bin/env bash
# Runs the whole suite; browser tests run where Chromium exists and are skipped, loudly, elsewhere.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  echo "!! Chromium not found at ${CHROMIUM_PATH:-/usr/bin/chromium}: browser tests will be SKIPPED."
  echo "!! Install it with: apt-get install chromium chromium-driver (CI does this itself)."
fi
.venv/bin/ruff check . || exit 1
.venv/bin/ruff format --check . || exit 1
.venv/bin/mypy || exit 1
# Paths or options given: that pytest run alone. Otherwise the whole suite, in three lanes.
if [ "$#" -gt 0 ]; then exec .venv/bin/pytest "$@"; fi
exec bash tests/suite.sh
