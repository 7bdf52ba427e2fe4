#!/usr/bin/env bash
# Prints the Spin CLI the tests use: $SPIN, else `spin` on the PATH, else the copy built for
# this project's machines beside the repository (../shared/tools/spin/spin). Fails with the
# ways to get one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
for candidate in "${SPIN:-}" "$(command -v spin 2>/dev/null || true)" "$root/../shared/tools/spin/spin" /work/shared/tools/spin/spin; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then
    echo "$candidate"
    exit 0
  fi
done
echo "error: no Spin CLI found. Set SPIN=/path/to/spin, put spin on the PATH," >&2
echo "  or install a Spin release (3.4 or later): https://spinframework.dev/install" >&2
exit 1
