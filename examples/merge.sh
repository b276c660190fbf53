#!/bin/sh
# Merges the N shards of examples/shard.sh: the same command for Slurm, Kubernetes and GNU parallel.
#
#   examples/merge.sh N        # run from the home once every shard ended
#
# Writes playbooks/NAME.toml (what one run of $SPEC would have written, but created_at, elapsed_s and
# the shard bookkeeping) and results/NAME.parquet (every shard's rows in the single run's order), then
# checks that the playbook reproduces. A missing or interrupted shard makes it exit 1 naming the shard;
# re-run only that shard, then merge again.
set -eu
if [ $# -ne 1 ]; then
  echo "usage: examples/merge.sh N  (the number of shards, from the home)" >&2
  exit 2
fi
n="$1"
spec="${SPEC:-examples/sweep.toml}"
name="$(basename "$spec" .toml)"
flowrex="${FLOWREX:-flowrex}"
# Exactly shards 1..N: a part left from an earlier run with more shards is not picked up.
missing=""
k=1
set --
while [ "$k" -le "$n" ]; do
  if [ -f "parts/$name-$k.toml" ]; then
    set -- "$@" "parts/$name-$k.toml"
  else
    missing="$missing${missing:+,}$k"
  fi
  k=$((k + 1))
done
if [ -n "$missing" ]; then
  echo "merge.sh: no parts/$name-K.toml from shard(s) $missing of $n: re-run only those, then merge again" >&2
fi
if [ $# -eq 0 ]; then
  exit 1
fi
# flowrex names every missing or interrupted shard as well, and exits 1.
"$flowrex" optimize merge "$@" --out "playbooks/$name.toml" --results "results/$name.parquet"
"$flowrex" --quiet backtest --playbook "playbooks/$name.toml" --check
