#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each; FUZZ_SECONDS=n to change),
# starting from the committed corpus under fuzz/corpus/<target>. New interesting inputs are
# added to that corpus; a crash is saved under fuzz/artifacts/<target>/ and fails the script:
# copy it to fuzz/regressions/<target>/ (the unit tests replay those on every test run) and
# fix the bug. Needs the nightly toolchain and cargo-fuzz (installed if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz
fi
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v multiproc-fuzz)
failed=0
for t in ${1:-$targets}; do
  echo "== fuzzing $t for ${seconds}s"
  mkdir -p "fuzz/corpus/$t"
  if ! cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=1024 -timeout=10 2>&1 | tail -n 3; then
    echo "fuzz target $t FAILED: see fuzz/artifacts/$t/"
    failed=1
  fi
done
exit $failed
