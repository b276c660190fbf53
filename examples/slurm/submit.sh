#!/usr/bin/env bash
# The Slurm commands of the README ("Running on a cluster"), block for block: the test
# (tests/it/slurm.rs) reads the blocks between the `# >>>` and `# <<<` lines, checks that the docs show
# them verbatim, and runs them on a real single-node Slurm cluster (examples/slurm/cluster.sh).
#
#   cd "$FLOWREX_HOME" && examples/slurm/submit.sh              # N shards, then the merge
#   cd "$FLOWREX_HOME" && examples/slurm/submit.sh resubmit 3   # only shard 3 again, then the merge
#
# The home must be the same folder on every node (a shared filesystem): the shards read data/ and
# examples/, and write parts/ and logs/; the merge writes playbooks/ and results/.
set -euo pipefail

submit() {
# >>> submit
shards=4
mkdir -p logs parts
array=$(sbatch --parsable --array=1-"$shards" examples/slurm/shard.sbatch "$shards")
sbatch --parsable --dependency=afterok:"$array" --kill-on-invalid-dep=yes examples/slurm/merge.sbatch "$shards"
# <<< submit
}

resubmit() {
  failed="$1"
# >>> resubmit
shards=4
array=$(sbatch --parsable --array="$failed" examples/slurm/shard.sbatch "$shards")
sbatch --parsable --dependency=afterok:"$array" --kill-on-invalid-dep=yes examples/slurm/merge.sbatch "$shards"
# <<< resubmit
}

case "${1:-submit}" in
  submit) submit ;;
  resubmit)
    [ $# -eq 2 ] || { echo "usage: submit.sh resubmit K[,K…]" >&2; exit 2; }
    resubmit "$2"
    ;;
  *)
    echo "usage: submit.sh [submit | resubmit K[,K…]]" >&2
    exit 2
    ;;
esac
