"""Peer comparison: the optimizer workload of benches/optimize.rs through backtesting.py and vectorbt.

Workload: sma_cross, fast 5..50:5 x slow 10..200:10 with fast < slow (175 candidates) over the same
1,000,000 synthetic 1-minute bars flowrex benchmarks (written by `flowrex fetch --provider synthetic
--bars 1000000 --seed 42`), cash 1,000,000, commission 0.00001.

- flowrex: the real `flowrex optimize` command, timed by its own report (search only) and by wall clock.
- the hand-written loop (benches/hand_loop.rs): the same grid as a plain Rust loop — pandas-exact SMAs,
  whole-unit sizing, final equity, drawdown, trades — timed by itself (SMAs + grid) and by wall clock.
- backtesting.py 0.6.6: one Backtest.run per candidate (what Backtest.optimize does); the full grid
  takes about an hour, so by default only --bt-candidates of them are timed and the rate is
  extrapolated (printed as such).
- vectorbt: MA crossovers + Portfolio.from_signals (long/short reversal, fills at the close), chunked
  by fast window (one vectorbt call over the whole grid needs more than 22 GiB); timed on the full grid
  with a warm-up run first so numba compilation is not counted.

Every row also gives CPU seconds (user + system; for the Python peers, of the timed part only): on a
machine shared with other work, wall times stretch with the load while CPU seconds barely move.

Usage: run.sh (creates the virtualenv) or python peers.py --flowrex BIN --hand-loop BIN --home DIR.
"""

import argparse
import json
import subprocess
import time

import numpy as np
import pandas as pd

FAST = list(range(5, 51, 5))
SLOW = list(range(10, 201, 10))
GRID = [(f, s) for f in FAST for s in SLOW if f < s]
CASH = 1_000_000
COMMISSION = 0.00001


def load(home):
    df = pd.read_parquet(f"{home}/data/SYNTH/1m.parquet")
    df = df.set_index("ts")
    df.index = df.index.tz_localize(None) if df.index.tz is not None else df.index
    return df.rename(columns=str.capitalize)


def timed(cmd, env):
    """Runs cmd under /usr/bin/time: (stdout, wall seconds, CPU seconds, peak RSS in MB)."""
    t0 = time.perf_counter()
    out = subprocess.run(["/usr/bin/time", "-f", "%M %U %S"] + cmd, check=True,
                         capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    peak_kb, user, system = out.stderr.strip().splitlines()[-1].split()
    return out.stdout, wall, float(user) + float(system), int(peak_kb) / 1024


def run_hand_loop(binary, home, threads):
    env = {"RAYON_NUM_THREADS": str(threads), "PATH": "/usr/bin:/bin"}
    out, wall, cpu, peak = timed([binary, "--home", home], env)
    secs = json.loads(out.strip().splitlines()[-1])["hand_loop_s"]
    return secs, wall, cpu, peak


def run_flowrex(binary, home, threads):
    cmd = [
        binary, "--home", home, "--quiet", "--json", "optimize", "--strategy", "sma_cross",
        "--symbol", "SYNTH", "--interval", "1m", "--param", "fast=5..50:5", "--param",
        "slow=10..200:10", "--constraint", "fast < slow", "--cash", str(CASH), "--commission",
        str(COMMISSION), "--out", f"{home}/peers_flowrex.toml",
    ]
    env = {"RAYON_NUM_THREADS": str(threads), "PATH": "/usr/bin:/bin"}
    out, wall, cpu, peak = timed(cmd, env)
    search = json.loads(out)["playbook"]["optimization"]["elapsed_s"]
    return search, wall, cpu, peak


def run_backtesting(df, n):
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover
    from backtesting.test import SMA

    class SmaCross(Strategy):
        fast = 10
        slow = 20

        def init(self):
            self.a = self.I(SMA, self.data.Close, self.fast)
            self.b = self.I(SMA, self.data.Close, self.slow)

        def next(self):
            if crossover(self.a, self.b):
                self.buy()
            elif crossover(self.b, self.a):
                self.sell()

    bt = Backtest(df, SmaCross, cash=CASH, commission=COMMISSION, exclusive_orders=True)
    t0, c0 = time.perf_counter(), time.process_time()
    for fast, slow in GRID[:n]:
        stats = bt.run(fast=fast, slow=slow)
        _ = stats["Sharpe Ratio"]
    return time.perf_counter() - t0, time.process_time() - c0


def run_vectorbt(df):
    import vectorbt as vbt

    close = df["Close"]

    def chunk(fast, slows):
        fast_ma = vbt.MA.run(close, fast, short_name="fast")
        slow_ma = vbt.MA.run(close, slows, short_name="slow")
        fa = np.repeat(fast_ma.ma.to_numpy().reshape(-1, 1), len(slows), axis=1)
        sa = slow_ma.ma.to_numpy()
        prev_f, prev_s = np.roll(fa, 1, axis=0), np.roll(sa, 1, axis=0)
        up = (prev_f < prev_s) & (fa > sa)
        down = (prev_f > prev_s) & (fa < sa)
        up[0], down[0] = False, False
        cols = pd.Index(slows, name="slow")
        pf = vbt.Portfolio.from_signals(
            close,
            entries=pd.DataFrame(up, index=close.index, columns=cols),
            exits=pd.DataFrame(down, index=close.index, columns=cols),
            direction="both",
            init_cash=CASH,
            fees=COMMISSION,
            freq="1min",
        )
        return pf.sharpe_ratio(), pf.total_return(), pf.max_drawdown(), pf.trades.count()

    # Warm-up: numba compiles on first use.
    chunk(FAST[0], [s for s in SLOW if s > FAST[0]][:2])
    t0, c0 = time.perf_counter(), time.process_time()
    for fast in FAST:
        chunk(fast, [s for s in SLOW if s > fast])
    return time.perf_counter() - t0, time.process_time() - c0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--flowrex", required=True)
    ap.add_argument("--hand-loop", required=True, help="the benches/hand_loop.rs executable")
    ap.add_argument("--home", required=True)
    ap.add_argument("--bt-candidates", type=int, default=3)
    ap.add_argument("--skip", default="", help="comma list: backtesting,vectorbt")
    a = ap.parse_args()
    skip = set(filter(None, a.skip.split(",")))
    df = load(a.home)
    bars = len(df)
    total = len(GRID) * bars
    rows = []
    # Interleaved, so a drift in the machine's speed hits both alike.
    for threads in (1, 2):
        plural = "s" if threads > 1 else ""
        search, wall, cpu, peak = run_flowrex(a.flowrex, a.home, threads)
        rows.append((f"flowrex optimize ({threads} thread{plural})", search, total / search,
                     f"wall {wall:.2f} s, CPU {cpu:.2f} s incl. load; peak {peak:.0f} MB"))
        secs, wall, cpu, peak = run_hand_loop(a.hand_loop, a.home, threads)
        rows.append((f"hand-written Rust loop ({threads} thread{plural})", secs, total / secs,
                     f"wall {wall:.2f} s, CPU {cpu:.2f} s incl. load; peak {peak:.0f} MB"))
    ours = rows[-2][2]
    if "vectorbt" not in skip:
        secs, cpu = run_vectorbt(df)
        rows.append(("vectorbt (chunked by fast window)", secs, total / secs, f"CPU {cpu:.1f} s"))
    if "backtesting" not in skip:
        n = a.bt_candidates
        secs, cpu = run_backtesting(df, n)
        rate = n * bars / secs
        rows.append((f"backtesting.py ({n} of {len(GRID)}, extrapolated)", secs / n * len(GRID),
                     rate, f"measured {secs:.1f} s (CPU {cpu:.1f} s) for {n}"))
    print(f"{len(GRID)} candidates x {bars} bars = {total:.3e} bar-evaluations")
    print(f"{'tool':48} {'grid s':>10} {'bar-evals/s':>12} {'flowrex(2t) is':>16}")
    for name, secs, rate, note in rows:
        print(f"{name:48} {secs:10.2f} {rate:12.3e} {ours / rate:14.1f}x  {note}")


if __name__ == "__main__":
    main()
