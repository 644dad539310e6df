#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration (processes under every start method,
# fault tests), doctests, and the interop tests against CPython 3.11, 3.12 and 3.13.
# Installs what a fresh machine lacks first.
set -euo pipefail
cd "$(dirname "$0")/.."

# CPython peers: python3 (3.11) is on the machine; 3.12 and 3.13 come through pyenv when present.
if ! command -v python3 >/dev/null; then
  apt-get update -qq && apt-get install -y -qq python3 >/dev/null
fi

export RUST_BACKTRACE=${RUST_BACKTRACE:-0}
cargo test --workspace --all-targets --no-fail-fast -- --test-threads="${TEST_THREADS:-2}"
cargo test --workspace --doc --no-fail-fast
