#!/usr/bin/env bash
# Slurm job array: 8 shards of one grid search, then a dependent job merges them.
#
#   sbatch examples/slurm-sweep.sh            # submits the array and the merge job
#
# Every task evaluates a deterministic 1/8 of the grid (candidates K-1, K-1+8, ...); merging all 8
# gives exactly the playbook a single run would write. FLOWREX_HOME must be on a shared filesystem.
#SBATCH --job-name=flowrex-sweep
#SBATCH --array=1-8
#SBATCH --cpus-per-task=4
#SBATCH --mem=2G
#SBATCH --time=01:00:00
#SBATCH --output=logs/sweep-%A_%a.out
set -euo pipefail
cd "${FLOWREX_HOME:-$SLURM_SUBMIT_DIR}"
mkdir -p parts logs

if [ -z "${SLURM_ARRAY_TASK_ID:-}" ]; then
  echo "submit with sbatch" >&2
  exit 2
fi

n="${SLURM_ARRAY_TASK_COUNT:-8}"
k="$SLURM_ARRAY_TASK_ID"
export RAYON_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"
flowrex --quiet optimize --spec examples/sweep.toml --shard "$k/$n" \
  --out "parts/sweep-$k.toml" --results "parts/sweep-$k.parquet"

# The first task queues the merge, to run once every task of this array succeeded.
if [ "$k" = "1" ]; then
  sbatch --dependency="afterok:${SLURM_ARRAY_JOB_ID}" --job-name=flowrex-merge \
    --output=logs/merge-%j.out \
    --wrap "cd $PWD && flowrex optimize merge parts/sweep-*.toml --out playbooks/sweep.toml \
            && flowrex backtest --playbook playbooks/sweep.toml --check"
fi
