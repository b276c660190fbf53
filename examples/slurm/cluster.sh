#!/usr/bin/env bash
# A real single-node Slurm cluster on localhost, for trying the Slurm example and for CI: Debian's
# `slurm-wlm` and `munge` (apt-get install --no-install-recommends slurm-wlm munge), run as root, with
# every file (munge key and socket, slurm.conf, state, spool, logs) in one folder and no systemd, no
# cgroups, no accounting database.
#
#   examples/slurm/cluster.sh start DIR     # start munged, slurmctld, slurmd; wait for the node
#   export SLURM_CONF=DIR/slurm.conf        # then sbatch / squeue / scontrol talk to it
#   examples/slurm/cluster.sh stop DIR      # stop the three daemons (also kills stale ones)
#   examples/slurm/cluster.sh run DIR CMD…  # start, run CMD with SLURM_CONF set, always stop
#
# Ports: SLURM_LOCAL_CTLD_PORT (default 16817) and SLURM_LOCAL_SLURMD_PORT (16818), away from a
# system Slurm's 6817/6818. The node offers CPUs=$(nproc) and 90 % of MemTotal.
set -euo pipefail
PATH="$PATH:/usr/sbin:/sbin" # the daemons live in sbin, which a non-login PATH may lack

die() {
  echo "cluster.sh: $*" >&2
  exit 1
}

# Stops the daemons whose pid files are in DIR: SIGTERM to all three at once (they take ~2 s), SIGKILL
# to any left after 10 s. A pid is signalled only while it still names the daemon that wrote it.
stop() {
  local dir="$1" f name pid pids="" i
  for f in slurmd:"$dir/slurmd.pid" slurmctld:"$dir/slurmctld.pid" munged:"$dir/munge/munged.pid"; do
    name="${f%%:*}" f="${f#*:}"
    [ -s "$f" ] || continue
    pid="$(cat "$f")"
    rm -f "$f"
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] && kill "$pid" 2>/dev/null && pids="$pids $pid"
  done
  for i in $(seq 100); do
    for pid in $pids; do kill -0 "$pid" 2>/dev/null && sleep 0.1 && continue 2; done
    return 0
  done
  for pid in $pids; do kill -9 "$pid" 2>/dev/null || true; done
}

write_conf() {
  local dir="$1" cpus mem
  cpus="$(nproc)"
  mem="$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)"
  cat >"$dir/slurm.conf" <<EOF
# Written by examples/slurm/cluster.sh: one node, everything under $dir.
ClusterName=flowrex-local
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldPort=${SLURM_LOCAL_CTLD_PORT:-16817}
SlurmdPort=${SLURM_LOCAL_SLURMD_PORT:-16818}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
# No cgroups and no accounting: plain process tracking, no task binding, no job statistics.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
# Schedule at once on submit and on job end (the default waits up to 3 s: batch_sched_delay).
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
# Finished jobs stay visible to scontrol for an hour (there is no sacct without accounting).
MinJobAge=3600
KillWait=5
InactiveLimit=0
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
  local m="$1/munge"
  mkdir -p "$m"
  chmod 0755 "$m" # the socket must be reachable; the key stays 0400
  [ -s "$m/munge.key" ] || dd if=/dev/urandom of="$m/munge.key" bs=1024 count=1 status=none
  chmod 0400 "$m/munge.key"
  munged --force --key-file="$m/munge.key" --socket="$m/munge.socket" \
    --pid-file="$m/munged.pid" --log-file="$m/munged.log" --seed-file="$m/munged.seed"
}

# Waits until `sinfo` reports the node idle (at most 30 s).
wait_idle() {
  local i state
  for i in $(seq 150); do
    state="$(sinfo --noheader --nodes=localhost --format=%T 2>/dev/null || true)"
    [ "$state" = "idle" ] && return 0
    sleep 0.2
  done
  return 1
}

start() {
  local dir="$1"
  [ "$(id -u)" -eq 0 ] || die "must run as root (slurmd runs jobs as their users)"
  for cmd in munged slurmctld slurmd sinfo sbatch; do
    command -v "$cmd" >/dev/null || die "$cmd not found: apt-get install --no-install-recommends slurm-wlm munge"
  done
  mkdir -p "$dir"/{state,spool,log}
  dir="$(cd "$dir" && pwd)"
  stop "$dir" # daemons left over from an earlier run in the same folder
  trap 'stop "$dir"' EXIT
  write_conf "$dir"
  export SLURM_CONF="$dir/slurm.conf"
  start_munge "$dir" || die "munged did not start: $(tail -n 3 "$dir/munge/munged.log" 2>/dev/null)"
  slurmctld -f "$SLURM_CONF" -i ||
    die "slurmctld did not start: $(tail -n 5 "$dir/log/slurmctld.log" 2>/dev/null)"
  slurmd -f "$SLURM_CONF" -N localhost ||
    die "slurmd did not start: $(tail -n 5 "$dir/log/slurmd.log" 2>/dev/null)"
  wait_idle || die "node not idle after 30 s: $(sinfo -N -l 2>&1 | tail -n 1); $(tail -n 5 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" 2>/dev/null)"
  trap - EXIT
  echo "cluster.sh: Slurm up: export SLURM_CONF=$SLURM_CONF"
}

case "${1:-}" in
  start)
    [ $# -eq 2 ] || die "usage: cluster.sh start DIR"
    start "$2"
    ;;
  stop)
    [ $# -eq 2 ] || die "usage: cluster.sh stop DIR"
    stop "$(cd "$2" && pwd)"
    ;;
  run)
    [ $# -ge 3 ] || die "usage: cluster.sh run DIR CMD [ARG…]"
    dir="$2"
    shift 2
    start "$dir"
    dir="$(cd "$dir" && pwd)"
    trap 'stop "$dir"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    export SLURM_CONF="$dir/slurm.conf"
    "$@"
    ;;
  *)
    echo "usage: cluster.sh start DIR | stop DIR | run DIR CMD [ARG…]" >&2
    exit 2
    ;;
esac
