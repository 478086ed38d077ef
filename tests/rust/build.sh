#!/usr/bin/env bash
# Build and run the fix-pattern harness by hand, as tests/test_fixpatterns.py does:
# offline, from Debian's crates (see fixpatterns/.cargo/config.toml), into tests/rust/target.
# Needs: apt-get install cargo librust-tokio-dev librust-tempfile-dev
set -euo pipefail
cd "$(dirname "$0")/fixpatterns"
cargo build --offline --quiet
exec ../target/debug/fixpatterns "$@"
