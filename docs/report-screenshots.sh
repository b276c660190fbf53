#!/usr/bin/env bash
# Renders docs/reports-backtest.png, docs/reports-optimize.png, docs/reports-paper.png and
# docs/reports-journal.png from the bundled data: the README's sma_cross backtest and optimization pages,
# and the paper account and journal pages of a forward test of the playbook over 2012 (each trade the
# backtest makes from 2012 on, placed on paper at the decision bar's close with a wide protective
# bracket, 1 bp + up to 4 bps of seeded random slippage), through headless Chromium (as tests/it/report_browser.rs
# renders them), cropped to the page's column, scaled to 900 px and reduced to 256 colours so each stays
# well under 300 KB. Needs /usr/bin/chromium and Python's Pillow (pip install pillow).
# Usage: docs/report-screenshots.sh [path/to/flowrex]   (default: target/debug/flowrex)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$repo/target/debug/flowrex}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$repo/data" "$work/data"
"$bin" --home "$work" -q backtest --strategy sma_cross --symbol GOOG --interval 1d \
  --param fast=10 --param slow=20 --commission 0.002 --report "$work/backtest.html" > /dev/null
"$bin" --home "$work" -q optimize --strategy sma_cross --symbol GOOG --interval 1d \
  --param fast=5..50:5 --param slow=10..200:10 --constraint "fast < slow" --objective sharpe \
  --commission 0.002 --out "$work/goog_sma_cross.toml" --report "$work/optimize.html" > /dev/null
# Paper: the playbook's 2012+ trades as paper orders (the open one too), processed bar by bar.
cat > "$work/flowrex.toml" <<'TOML'
[paper]
slippage_bps = 1
random_slippage_bps = 4
commission = 0.002
seed = 7
TOML
mkdir -p "$work/playbooks"
cp "$repo/playbooks/goog_sma_cross.toml" "$work/playbooks/"
fx() { "$bin" --home "$work" -q "$@" > /dev/null; }
fx paper-trade mode autonomous --reason "forward test of goog_sma_cross"
# The playbook's strategy over every bar (what `journal analyze` replays).
"$bin" --home "$work" -q --json backtest --strategy sma_cross --symbol GOOG --interval 1d \
  --param fast=10 --param slow=20 --commission 0.002 > "$work/bt.json"
python3 - "$work/bt.json" > "$work/orders.txt" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
trades = [t for t in run["trades"] if t["entry_time"] >= "2012-01-01"]
if run.get("open_trade"):
    trades.append(run["open_trade"])
for t in trades:
    e = t["entry_price"]
    # stop 40 % against; target 200 % above a long, 70 % below a short: never reached in 2012
    stop, target = (e * 0.6, e * 3) if t["side"] == "long" else (e * 1.4, e * 0.3)
    print(t["entry_time"], t["side"], round(stop, 2), round(target, 2))
PY
while read -r now side stop target; do
  fx paper-trade process --now "$now"
  fx paper-trade order --symbol GOOG --interval 1d --strategy goog_sma_cross --side "$side" \
    --units 0.25 --stop-loss "$stop" --take-profit "$target" --now "$now"
done < "$work/orders.txt"
fx paper-trade process --now 2013-03-02
fx report paper --out "$work/paper.html"
fx report journal --strategy goog_sma_cross --symbol GOOG --source paper \
  --playbook "$work/playbooks/goog_sma_cross.toml" --out "$work/journal.html"
shot() { # page.html out.png height
  /usr/bin/chromium --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars \
    --disable-background-networking --host-resolver-rules="MAP * ~NOTFOUND" \
    --user-data-dir="$work/profile" --window-size=1280,"$3" --screenshot="$2" "file://$1" 2> /dev/null
}
shot "$work/backtest.html" "$work/backtest.png" 5200
shot "$work/optimize.html" "$work/optimize.png" 3000
shot "$work/paper.html" "$work/paper.png" 3000
shot "$work/journal.html" "$work/journal.png" 2400
python3 - "$work" "$repo/docs" <<'PY'
import sys
from PIL import Image
work, docs = sys.argv[1], sys.argv[2]
def save(parts, out):
    # parts: (top, bottom) pixel rows of the 1280-wide shot; the page's column is x 100..1180
    im = Image.open(f"{work}/{out}.png").convert("RGB")
    crops = [im.crop((100, a, 1180, b)) for a, b in parts]
    page = Image.new("RGB", (1080, sum(c.size[1] for c in crops)), "white")
    y = 0
    for c in crops:
        page.paste(c, (0, y))
        y += c.size[1]
    page = page.resize((900, round(page.size[1] * 900 / 1080)), Image.LANCZOS)
    page.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(
        f"{docs}/reports-{out}.png", optimize=True)
# backtest: summary, equity, drawdown, price and trades
save([(0, 2050)], "backtest")
# optimize: summary with the verdict, the heatmap, and the stability table
save([(0, 1090), (1712, 2010)], "optimize")
# paper: the account, equity and drawdown
save([(0, 1100)], "paper")
# journal: the summary, metrics side by side, the P&L gap and the slippage
save([(0, 1500)], "journal")
PY
ls -l "$repo"/docs/reports-{backtest,optimize,paper,journal}.png
