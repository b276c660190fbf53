#!/usr/bin/env bash
# CI regression gate: every playbook in playbooks/ must reproduce its stored metrics (1e-9 relative)
# on the data it names. A drift or a changed data hash makes `backtest --check` exit 3 and prints
# what moved; this script runs them all and fails if any failed.
#
#   examples/ci-regression.sh                  # in CI, after `cargo build --release`
#   TOLERANCE=1e-6 examples/ci-regression.sh   # looser gate
set -uo pipefail
cd "$(dirname "$0")/.."
flowrex="${FLOWREX:-target/release/flowrex}"
[ -x "$flowrex" ] || flowrex="cargo run --release --quiet --"
status=0
for pb in playbooks/*.toml; do
  if $flowrex --quiet backtest --playbook "$pb" --check --tolerance "${TOLERANCE:-1e-9}"; then
    :
  else
    code=$?
    echo "::error file=$pb::regression check failed (exit $code)"
    status=1
  fi
done
exit $status
