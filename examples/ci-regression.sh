#!/usr/bin/env bash
# CI regression gate: every playbook in playbooks/ must reproduce its stored metrics (1e-9 relative)
# on the data it names. A drift or a changed data hash makes `backtest --check` exit 3 and prints
# what moved; this script runs them all and fails if any failed. It exits with the worst exit code
# of the checks (3 drift, 2 usage, 1 error), and 1 when there is no playbook to check: a gate that
# checked nothing (a wrong folder, a missing artifact) must not pass.
#
#   examples/ci-regression.sh                  # in CI, after `cargo build --release`
#   TOLERANCE=1e-6 examples/ci-regression.sh   # looser gate
#   FLOWREX=flowrex examples/ci-regression.sh  # a command on PATH (or a path to the binary)
#
# Which flowrex: $FLOWREX when set (a command name or a path, as in nightly.sh), else
# target/release/flowrex when built, else `flowrex` on PATH, else `cargo run --release`.
set -uo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."
if [ -n "${FLOWREX:-}" ]; then
  flowrex="$FLOWREX"
  command -v "$flowrex" >/dev/null || { echo "FLOWREX=$flowrex: no such command or executable" >&2; exit 2; }
elif [ -x target/release/flowrex ]; then
  flowrex=target/release/flowrex
elif command -v flowrex >/dev/null; then
  flowrex=flowrex
else
  flowrex="cargo run --release --quiet --"
fi
status=0
checked=0
for pb in playbooks/*.toml; do
  checked=$((checked + 1))
  if $flowrex --quiet backtest --playbook "$pb" --check --tolerance "${TOLERANCE:-1e-9}"; then
    :
  else
    code=$?
    echo "::error file=$pb::regression check failed (exit $code)"
    [ "$code" -gt "$status" ] && status=$code
  fi
done
if [ "$checked" -eq 0 ]; then
  echo "::error::no playbooks in $PWD/playbooks: nothing was checked" >&2
  exit 1
fi
exit $status
