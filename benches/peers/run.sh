#!/usr/bin/env bash
# Peer comparison of the optimizer workload (see peers.py): creates a virtualenv in
# benches/peers/.venv, installs backtesting.py and vectorbt from PyPI, writes the 1,000,000-bar
# synthetic series into a scratch home with flowrex itself, and prints times and ratios.
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
if [ ! -f "$home/data/SYNTH/1m.parquet" ]; then
  "$bin" --home "$home" --quiet fetch --provider synthetic --bars 1000000 --seed 42 --symbol SYNTH --interval 1m
fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
"$venv/bin/python" "$here/peers.py" --flowrex "$bin" --home "$home" \
  --bt-candidates "${BT_CANDIDATES:-3}" --skip "${SKIP:-}"
