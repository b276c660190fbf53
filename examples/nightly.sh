#!/usr/bin/env bash
# Nightly re-optimization, for cron. Refreshes the candles (if a provider is configured), re-runs the
# search of examples/nightly.toml into a dated playbook, gates it on the overfitting statistics (PBO,
# DSR), checks that the playbook reproduces, and keeps a `latest` copy. Exit status is flowrex's: 0 ok,
# 1 error, 3 a gate failed or the re-run did not reproduce.
#
#   crontab -e
#   15 2 * * *  FLOWREX_HOME=/srv/flowrex /srv/flowrex/examples/nightly.sh >> /var/log/flowrex-nightly.log 2>&1
#
# Run it by hand from the repository: examples/nightly.sh
set -euo pipefail
cd "${FLOWREX_HOME:-$(dirname "$0")/..}"
flowrex="${FLOWREX:-flowrex}"
command -v "$flowrex" >/dev/null || flowrex="cargo run --release --quiet --"

day="$(date -u +%F)"
out="playbooks/nightly/goog_sma_cross_${day}.toml"
mkdir -p playbooks/nightly results

# Refresh data first when a provider is configured, e.g.:
# $flowrex --quiet fetch --provider twelvedata --symbol GOOG --interval 1d

# --quiet: no progress bar in cron logs. Ctrl-C / SIGINT still writes status = "interrupted" (exit 130).
# The spec's gates (max_pbo, min_dsr) make optimize exit 3 when the winner looks like luck: the dated
# playbook is still written (with the verdicts), but `latest` keeps yesterday's parameters.
status=0
$flowrex --quiet optimize --spec examples/nightly.toml --out "$out" --results "results/goog_sma_cross_${day}.parquet" || status=$?
if [ "$status" -eq 3 ]; then
  echo "$(date -u +%FT%TZ) nightly: a validation gate failed (see [validation] in $out); latest unchanged"
  exit 3
fi
[ "$status" -eq 0 ] || exit "$status"
$flowrex --quiet backtest --playbook "$out" --check
latest=playbooks/nightly/goog_sma_cross_latest.toml
cp "$out" "$latest.tmp" && mv "$latest.tmp" "$latest"   # atomic: readers never see a half-copied file
echo "$(date -u +%FT%TZ) nightly ok: $out"
