#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration (processes under every start method,
# fault tests, stress tests), the interop tests against CPython 3.11, 3.12 and 3.13, every
# example (the tour included), and the doctests. Installs what a fresh machine lacks first.
set -euo pipefail
cd "$(dirname "$0")/.."

# CPython peers: python3 (3.11) is on the machine; 3.12 and 3.13 come through pyenv when present
# (the interop tests say which versions they ran).
if ! command -v python3 >/dev/null; then
  apt-get update -qq && apt-get install -y -qq python3 >/dev/null
fi

export RUST_BACKTRACE=${RUST_BACKTRACE:-0}
cargo test --workspace --all-targets --no-fail-fast -- --test-threads="${TEST_THREADS:-2}"

# Without the `ctor` feature the child bootstrap is the explicit `multiproc::init()`.
cargo test -p multiproc --no-default-features --test no_ctor

# The pool's progress bar (feature `progress`).
cargo test -p multiproc --features progress --test pool_features -- progress

# The soak (random SIGKILLs of workers for SOAK_SECONDS per part), with its summaries.
cargo test --test soak -- --ignored --nocapture --test-threads=1

# Every example must run to completion (they are the tutorial seeds and the tour).
cargo build --workspace --examples
passed=0
failed=0
for src in examples/*.rs examples/tour; do
  name=$(basename "$src" .rs)
  if timeout 120 "target/debug/examples/$name" >"target/example-$name.log" 2>&1; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "example $name FAILED; its output:"
    tail -n 40 "target/example-$name.log"
  fi
done
echo "examples: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

cargo test --workspace --doc --no-fail-fast
