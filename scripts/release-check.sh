#!/usr/bin/env bash
# Is the crate ready to publish? The package holds what a user needs and nothing else,
# `cargo publish --dry-run` builds it from the package alone, and the code and its dependencies
# keep the declared minimum Rust version (rust-version in Cargo.toml).
set -euo pipefail
cd "$(dirname "$0")/.."

# 1. The package's files: the library, examples, README, CHANGELOG, licenses; no tests,
#    benchmarks, scripts or engineering notes.
list=$(cargo package -p multiproc --list --allow-dirty 2>/dev/null)
for need in Cargo.toml README.md CHANGELOG.md LICENSE-MIT LICENSE-APACHE src/lib.rs examples/tour/main.rs; do
  grep -qx "$need" <<<"$list" || { echo "release-check: the package lacks $need"; exit 1; }
done
if grep -E '^(notes|tests|mpbench|scripts|docs|\.ci)/' <<<"$list"; then
  echo "release-check: the package holds the files above, which a user does not need"
  exit 1
fi
echo "release-check: package holds $(wc -l <<<"$list") files"

# 2. Package, build the package alone, check the metadata (nothing is uploaded).
mkdir -p target
if ! cargo publish -p multiproc --dry-run --allow-dirty >target/publish-dry-run.log 2>&1; then
  cat target/publish-dry-run.log
  echo "release-check: cargo publish --dry-run failed"
  exit 1
fi
grep -E "Packaged|Verifying|Finished|aborting upload" target/publish-dry-run.log

# 3. The minimum Rust version.
msrv=$(cargo metadata --no-deps --format-version 1 |
  python3 -c 'import json,sys; print(next(p["rust_version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "multiproc"))')
if rustup toolchain list 2>/dev/null | grep -q "^$msrv"; then
  echo "release-check: building with Rust $msrv"
  cargo "+$msrv" check -p multiproc --all-targets
  cargo "+$msrv" check -p multiproc --no-default-features
else
  # Without that toolchain: clippy's incompatible_msrv lint reads rust-version and rejects any
  # standard-library item stabilized after it (the workspace clippy run in CI denies it too;
  # here also without default features). It does not see language features; those are
  # caught when the toolchain is installable (above).
  echo "release-check: Rust $msrv is not installed; checking std items with clippy::incompatible_msrv"
  cargo clippy -p multiproc --all-targets --quiet -- -A clippy::all -D clippy::incompatible_msrv
  cargo clippy -p multiproc --no-default-features --quiet -- -A clippy::all -D clippy::incompatible_msrv
fi
# Every dependency a user builds (normal and build, under any feature) must not need a newer Rust.
cargo metadata --format-version 1 --filter-platform "$(rustc -vV | sed -n "s/^host: //p")" | python3 -c '
import json, sys
msrv = tuple(int(x) for x in sys.argv[1].split("."))
m = json.load(sys.stdin)
pkgs = {p["id"]: p for p in m["packages"]}
nodes = {n["id"]: n for n in m["resolve"]["nodes"]}
root = next(i for i, p in pkgs.items() if p["name"] == "multiproc" and p["source"] is None)
seen, todo, bad = set(), [root], []
while todo:
    i = todo.pop()
    if i in seen:
        continue
    seen.add(i)
    for d in nodes[i]["deps"]:
        if any(k["kind"] in (None, "build") for k in d["dep_kinds"]):
            todo.append(d["pkg"])
for i in seen - {root}:
    rv = pkgs[i].get("rust_version")
    if rv and tuple(int(x) for x in rv.split(".")) > msrv + (0,) * (3 - len(msrv)):
        bad.append(pkgs[i]["name"] + " " + pkgs[i]["version"] + " needs Rust " + rv)
if bad:
    sys.exit("release-check: dependencies newer than Rust %s: %s" % (sys.argv[1], ", ".join(sorted(bad))))
print("release-check: %d dependencies, none needs a Rust newer than %s" % (len(seen) - 1, sys.argv[1]))
' "$msrv"
echo "release-check: ready to publish"
