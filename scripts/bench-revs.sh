#!/usr/bin/env bash
# Before/after: runs mpbench of an earlier revision and of the working tree in turns, in one
# sitting, and prints each row's median on both sides and their ratio (after / before).
# Wake-up costs on a shared machine swing with load, so only ratios from one run mean much.
#
#   scripts/bench-revs.sh REV [ROUNDS] [GROUPS]
#   scripts/bench-revs.sh 831c8bc 5 spawn_fork,spawn_forkserver,lock,event,queue
#
# The earlier revision is built in a worktree under target/bench-revs/ (its own target dir).
set -euo pipefail

rev=${1:?usage: scripts/bench-revs.sh REV [ROUNDS] [GROUPS]}
rounds=${2:-5}
groups=${3:-spawn_fork,spawn_forkserver,spawn_spawn,pipe,lock,event,shm,queue}
root=$(git rev-parse --show-toplevel)
cd "$root"

base="$root/target/bench-revs/$(git rev-parse --short "$rev")"
if [ ! -d "$base" ]; then
    mkdir -p "$(dirname "$base")"
    git worktree add --detach "$base" "$rev" >/dev/null
fi
echo "building mpbench at $rev and at the working tree" >&2
(cd "$base" && cargo build --release -q -p mpbench)
cargo build --release -q -p mpbench

out=$(mktemp -d)
for i in $(seq 1 "$rounds"); do
    echo "round $i/$rounds" >&2
    "$base/target/release/mpbench" --json --only "$groups" >"$out/before.$i" 2>/dev/null
    "$root/target/release/mpbench" --json --only "$groups" >"$out/after.$i" 2>/dev/null
done

python3 - "$out" "$rounds" "$rev" <<'EOF'
import json, statistics, sys
out, rounds, rev = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def load(side):
    rows = {}
    for i in range(1, rounds + 1):
        for line in open(f"{out}/{side}.{i}"):
            r = json.loads(line)
            if "bench" in r:
                rows.setdefault(r["bench"], (r["unit"], []))[1].append(r["value"])
    return rows
before, after = load("before"), load("after")
print(f"{'row':44} {'unit':20} {'before ' + rev:>16} {'after':>14} {'after/before':>12}")
for name, (unit, vals) in after.items():
    a = statistics.median(vals)
    if name in before:
        b = statistics.median(before[name][1])
        ratio = f"{a / b:.2f}" if b else "-"
        print(f"{name:44} {unit:20} {b:16.3f} {a:14.3f} {ratio:>12}")
    else:
        print(f"{name:44} {unit:20} {'(new row)':>16} {a:14.3f} {'-':>12}")
EOF
rm -rf "$out"
