#!/usr/bin/env bash
# The test command (README "Quick start"; .ci/run calls it): installs what the
# tests need on a fresh Debian machine, then runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: cargo and the tokio/tempfile crate sources that the fix-pattern
# harness builds offline from /usr/share/cargo/registry; Chromium for the first-run test
# in a real browser (Playwright drives it; it never downloads a browser of its own);
# redis-server, which the queue's tests start on a free loopback port (tests/redis_harness.py)
# and stop again.
packages=(librust-tokio-dev librust-tempfile-dev chromium redis-server)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
command -v cargo >/dev/null || missing+=(cargo)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e '.[dev]'
.venv/bin/ruff check bot rules tests benchmarks scripts
.venv/bin/ruff format --check -q bot rules tests benchmarks scripts
.venv/bin/mypy
exec .venv/bin/pytest -n 2 -q "$@"
