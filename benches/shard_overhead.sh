#!/usr/bin/env bash
# The cost of sharding (README, "Running on a cluster"): the 175-candidate sma_cross grid over 1,000,000 synthetic
# 1-minute bars as one run against 4 shards + merge, on this machine's cores. Needs a release build
# (cargo build --release); the Slurm case also root and Debian's slurm-wlm + munge.
#
#   benches/shard_overhead.sh [REPEATS]     # prints one line per case and repeat
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="$repo/target/release:$PATH"
repeats="${1:-3}"
home="$(mktemp -d)"
cluster="$(mktemp -d)"
trap '"$repo/examples/slurm/cluster.sh" stop "$cluster" 2>/dev/null || true; rm -rf "$home" "$cluster"' EXIT
cd "$home"
export FLOWREX_HOME="$home"
flowrex --quiet fetch --provider synthetic --bars 1000000 --seed 7 --symbol SYNTH --interval 1m >/dev/null
mkdir -p examples
cp -a "$repo/examples/." examples/
cat >examples/sweep.toml <<'SPEC'
strategy = "sma_cross"
symbol = "SYNTH"
interval = "1m"
objective = "sharpe"
params = ["fast=5..50:5", "slow=10..200:10"]
constraints = ["fast < slow"]
cash = 1000000
commission = 0.00001
SPEC

# wall seconds and CPU seconds (user + sys of the children) of a command
measure() {
  local t0 c0 t1 c1 me="$BASHPID"
  t0=$(date +%s.%N)
  c0=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$me/stat")
  "$@" >/dev/null
  t1=$(date +%s.%N)
  c1=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$me/stat")
  awk -v a="$t0" -v b="$t1" -v c="$c0" -v d="$c1" -v hz="$(getconf CLK_TCK)" \
    'BEGIN {printf "wall %.2f s, cpu %.2f s", b - a, (d - c) / hz}'
}

single() { RAYON_NUM_THREADS=2 flowrex --quiet optimize --spec examples/sweep.toml --out single.toml; }
seq4() {
  rm -rf parts
  for k in 1 2 3 4; do RAYON_NUM_THREADS=2 examples/shard.sh "$k" 4; done
  examples/merge.sh 4
}
par4() {
  rm -rf parts
  printf '%s\n' 1 2 3 4 | RAYON_NUM_THREADS=1 xargs -P 2 -I K examples/shard.sh K 4
  examples/merge.sh 4
}
slurm4() {
  rm -rf parts logs
  local merge
  merge="$(SLURM_CONF="$cluster/slurm.conf" examples/slurm/submit.sh | tail -n 1)"
  while SLURM_CONF="$cluster/slurm.conf" scontrol show job -o "$merge" | grep -qE 'JobState=(PENDING|RUNNING|CONFIGURING|COMPLETING)'; do
    sleep 0.1
  done
  SLURM_CONF="$cluster/slurm.conf" scontrol show job -o "$merge" | grep -q JobState=COMPLETED
}

for r in $(seq "$repeats"); do
  echo "one run, 2 threads:                           $(measure single)"
  echo "4 shards one after the other, 2 threads each: $(measure seq4)"
  echo "4 shards 2 at a time, 1 thread each (xargs):  $(measure par4)"
  echo "  of which the merge (and its backtest --check): $(measure examples/merge.sh 4)"
done
if [ "$(id -u)" -eq 0 ] && [ -x /usr/sbin/slurmctld ]; then
  "$repo/examples/slurm/cluster.sh" start "$cluster" >/dev/null
  for r in $(seq "$repeats"); do
    echo "4 shards + merge under Slurm, submit to end:  $(measure slurm4) (the jobs' CPU is slurmd's, not counted)"
  done
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
