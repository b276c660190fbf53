#!/bin/sh
# One shard of a sharded sweep, for any scheduler (Slurm, Kubernetes, GNU parallel, a for loop):
#
#   examples/shard.sh K N      # run from the home: evaluates shard K of N of $SPEC
#
# Writes parts/NAME-K.toml (the shard's playbook) and parts/NAME-K.parquet (its --results rows), NAME
# being the spec's file name without .toml. The split is deterministic (shard K takes the search's
# candidates K-1, K-1+N, ...), so a shard re-run anywhere writes the same files. `exec`, so a scheduler's
# signal reaches flowrex itself: SIGINT makes it write what it evaluated (status = "interrupted", exit 130).
# SPEC (default examples/sweep.toml) and FLOWREX (default flowrex, on PATH) can be set in the environment.
set -eu
if [ $# -ne 2 ]; then
  echo "usage: examples/shard.sh K N  (shard K of N, from the home)" >&2
  exit 2
fi
spec="${SPEC:-examples/sweep.toml}"
name="$(basename "$spec" .toml)"
mkdir -p parts
exec "${FLOWREX:-flowrex}" --quiet optimize --spec "$spec" --shard "$1/$2" \
  --out "parts/$name-$1.toml" --results "parts/$name-$1.parquet"
