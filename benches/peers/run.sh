#!/usr/bin/env bash
# Peer comparison of the optimizer workload (see peers.py), in one run: flowrex optimize, the
# hand-written Rust loop (benches/hand_loop.rs), vectorbt and backtesting.py. Creates a virtualenv in
# benches/peers/.venv, installs backtesting.py and vectorbt from PyPI, writes the 1,000,000-bar
# synthetic series into a scratch home with flowrex itself, and prints times, ratios and peak memory.
#
#   benches/peers/run.sh                       # all peers (about 10 minutes; vectorbt needs ~2 GB)
#   BT_CANDIDATES=10 benches/peers/run.sh      # time more backtesting.py candidates
#   SKIP=backtesting benches/peers/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
home="${PEERS_HOME:-$here/.home}"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet "backtesting==0.6.6" "vectorbt" "pyarrow"
fi

(cd "$repo" && cargo build --release --quiet)
bin="$repo/target/release/flowrex"
# The hand-written loop is a bench target: build it and find its executable.
hand_loop="$(cd "$repo" && cargo bench --bench hand_loop --no-run --message-format=json 2>/dev/null |
  "$venv/bin/python" -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "hand_loop" and m.get("executable"):
        print(m["executable"])')"
if [ ! -f "$home/data/SYNTH/1m.parquet" ]; then
  "$bin" --home "$home" --quiet fetch --provider synthetic --bars 1000000 --seed 42 --symbol SYNTH --interval 1m
fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "run: $(date -u '+%Y-%m-%d %H:%M UTC'), flowrex $(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo '(not a git checkout)')$(cd "$repo" && git diff --quiet HEAD 2>/dev/null || echo ' with uncommitted changes')"
"$venv/bin/python" "$here/peers.py" --flowrex "$bin" --hand-loop "$hand_loop" --home "$home" \
  --bt-candidates "${BT_CANDIDATES:-3}" --skip "${SKIP:-}"
