#!/usr/bin/env bash
# Renders docs/reports-backtest.png and docs/reports-optimize.png from the bundled data: the README's
# sma_cross backtest and optimization pages, through headless Chromium (as tests/it/report_browser.rs
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
shot() { # page.html out.png height
  /usr/bin/chromium --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars \
    --disable-background-networking --host-resolver-rules="MAP * ~NOTFOUND" \
    --user-data-dir="$work/profile" --window-size=1280,"$3" --screenshot="$2" "file://$1" 2> /dev/null
}
shot "$work/backtest.html" "$work/backtest.png" 5200
shot "$work/optimize.html" "$work/optimize.png" 3000
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
PY
ls -l "$repo/docs/reports-backtest.png" "$repo/docs/reports-optimize.png"
