#!/usr/bin/env bash
# The account page in a real browser: Debian's Chromium driven by Playwright (Python) against
# the release host running the real component on PostgreSQL and Redis, with a real SMTP server
# (aiosmtpd) keeping the mailed links. Installs Chromium (and ChromeDriver) from Debian and the
# pinned Python packages when they are missing. Screenshots go to target/browser-screenshots/.
#   scripts/browser-test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "installing Debian's chromium and chromium-driver for the browser tests"
  { apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && apt-get install -y -qq chromium chromium-driver >/dev/null; }; } ||
    { echo "error: Chromium is missing: apt-get install -y chromium chromium-driver" >&2; exit 1; }
fi

venv=target/browser-venv
requirements=host/tests/browser/requirements.txt
if ! cmp -s "$requirements" "$venv/requirements.txt"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/requirements.txt"
fi

export ASM_HOST="$PWD/target/release/asm"
export ASM_COMPONENT="$PWD/target/wasm32-wasip2/wasm/asm_guest.wasm"
export ASM_SCREENSHOTS="$PWD/target/browser-screenshots"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PYTHONDONTWRITEBYTECODE=1
"$venv/bin/python" -m pytest -q -p no:cacheprovider host/tests/browser "$@"
echo "screenshots: $ASM_SCREENSHOTS"
