//! `jadecap` — multi-timeframe trend following: the higher timeframe sets the trend, the base timeframe
//! times a pullback entry.
//!
//! # Higher timeframe
//! With `htf = bars` (the default), every `htf_bars` consecutive base bars (counted from the first bar
//! of the data) make one higher-timeframe (HTF) bar ([`crate::candles::resample::resample_bars`]).
//! With `htf = 4h`, `1d` or `1w`, HTF bars are calendar buckets of that length in UTC (weeks start on
//! Monday; [`crate::candles::resample::resample_interval`]) and `htf_bars` is not used. The trend at
//! base bar `i` comes from the latest HTF bar that has **closed** by bar `i`'s close — never the
//! forming one: **up** when EMA(HTF close, `htf_fast`) > EMA(HTF close, `htf_slow`), **down** when
//! below.
//!
//! Strategies are not told the data's interval, so calendar mode reads it from the timestamps: the
//! base interval is the longest of `1m … 1w` not longer than the smallest gap between consecutive
//! bars ([`base_interval`]). A bar is taken to close one base interval after it opens, and a bucket
//! counts as closed once a bar's close reaches the bucket's end; since no bar opens before the
//! previous one has closed, this never uses a bucket that still has bars to come. (A bucket whose last
//! bars are missing, e.g. a week of daily stock data ending on a Friday, closes with the first bar of
//! a later bucket.) An `htf` not longer than the base interval, or data whose bars are less than a
//! minute apart, use the base bars themselves as HTF bars (each closes with itself).
//!
//! # Entries (at the close of bar `i`)
//! With `E` = EMA(close, `ema_n`) on the base timeframe:
//! - **Long** in an up-trend on a pullback to `E` that holds: the previous close was above `E`, this
//!   bar's low reached `E` (`low[i] ≤ E[i]`), and it closed back above (`close[i] > E[i]`).
//! - **Short** in a down-trend, mirrored: previous close below `E`, `high[i] ≥ E[i]`, `close[i] < E[i]`.
//!
//! Stop `atr_stop × ATR(atr_n)` from the close; target `rr` times that risk on the other side. A signal
//! in the direction of the open position is ignored; an opposite one reverses. Exits are the stop and
//! the target.
//!
//! # Parameters
//! | name | meaning | default | search |
//! |---|---|---|---|
//! | `htf_bars` | base bars per higher-timeframe bar (`htf = bars`) | 4 | 2..=12:2 |
//! | `htf` | higher timeframe: `bars` (every `htf_bars` bars) or calendar `4h`, `1d`, `1w` | bars | bars\|4h\|1d\|1w |
//! | `htf_fast` | HTF fast EMA length (HTF bars) | 9 | 5..=20:5 |
//! | `htf_slow` | HTF slow EMA length (HTF bars), above `htf_fast` | 21 | 20..=60:10 |
//! | `ema_n` | base-timeframe pullback EMA length | 20 | 10..=50:10 |
//! | `atr_n` | bars in Wilder's ATR | 14 | 7..=28:7 |
//! | `atr_stop` | stop distance from the close, in ATRs | 1.5 | 0.5..=3:0.5 |
//! | `rr` | reward:risk of the target | 2 | 1..=4:0.5 |

use super::{ParamSpec, Params, Strategy, bracket_entry, warmup_of};
use crate::candles::resample::{resample_bars, resample_interval};
use crate::candles::{Candles, Interval};
use crate::engine::{Action, PositionView, Signals};
use crate::error::{Error, Result};
use crate::indicators;
use crate::indicators::{IndicatorCache, Series};
use crate::trade::Side;

/// The JadeCap strategy (registry name `jadecap`).
#[derive(Debug, Clone, Copy, Default)]
pub struct JadeCap;

const PARAMS: &[ParamSpec] = &[
    ParamSpec::int(
        "htf_bars",
        4,
        (2, 10_000),
        (2, 12, 2),
        "base bars per higher-timeframe bar (htf = bars)",
    ),
    ParamSpec::choice(
        "htf",
        "bars",
        &["bars", "4h", "1d", "1w"],
        "higher timeframe: bars = every htf_bars base bars; 4h, 1d, 1w = calendar buckets (UTC)",
    ),
    ParamSpec::int(
        "htf_fast",
        9,
        (1, 10_000),
        (5, 20, 5),
        "fast EMA of the higher-timeframe close, in higher-timeframe bars",
    ),
    ParamSpec::int(
        "htf_slow",
        21,
        (2, 10_000),
        (20, 60, 10),
        "slow EMA of the higher-timeframe close, in higher-timeframe bars (must exceed htf_fast)",
    ),
    ParamSpec::int(
        "ema_n",
        20,
        (1, 10_000),
        (10, 50, 10),
        "base-timeframe EMA that pullbacks must touch",
    ),
    ParamSpec::int("atr_n", 14, (1, 10_000), (7, 28, 7), "bars in Wilder's ATR"),
    ParamSpec::float(
        "atr_stop",
        1.5,
        (0.05, 20.0),
        (0.5, 3.0, 0.5),
        "stop distance from the entry close, in ATRs",
    ),
    ParamSpec::float(
        "rr",
        2.0,
        (0.1, 50.0),
        (1.0, 4.0, 0.5),
        "reward:risk multiple that places the target",
    ),
];

impl Strategy for JadeCap {
    fn name(&self) -> &'static str {
        "jadecap"
    }

    fn summary(&self) -> &'static str {
        "higher-timeframe EMA trend, base-timeframe pullback to the EMA; ATR stop, reward:risk target"
    }

    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }

    fn check(&self, params: &Params) -> Result<()> {
        params.require_below("htf_fast", "htf_slow")
    }

    fn prepare<'a>(
        &self,
        candles: &'a Candles,
        params: &Params,
        cache: &IndicatorCache,
    ) -> Result<Box<dyn Signals + 'a>> {
        Ok(Box::new(JadeCapSignals::new(candles, params, cache)?))
    }
}

/// EMA(HTF close, `n`) of `htf_bars`-bar groups, seen from each base bar (latest closed HTF bar only).
pub fn htf_ema_on_base(
    candles: &Candles,
    cache: &IndicatorCache,
    htf_bars: usize,
    n: usize,
) -> Result<Series> {
    if htf_bars == 0 {
        return Err(Error::usage("parameter `htf_bars`: must be at least 1"));
    }
    Ok(cache.get_or_compute(
        &format!("htf_bars({htf_bars}):ema(close,{n})"),
        || match resample_bars(candles, htf_bars) {
            Ok(r) => r.on_base(&indicators::ema(&r.candles.close, n)),
            Err(_) => vec![f64::NAN; candles.len()],
        },
    ))
}

/// How base bars group into higher-timeframe bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Htf {
    /// Every `k` consecutive base bars from the first.
    Bars(usize),
    /// Calendar buckets of this interval (base interval read from the timestamps).
    Calendar(Interval),
}

impl Htf {
    /// The grouping chosen by the `htf` and `htf_bars` parameters.
    pub fn from_params(p: &Params) -> Result<Htf> {
        match p.choice("htf") {
            "bars" => Ok(Htf::Bars(p.int("htf_bars") as usize)),
            other => other
                .parse()
                .map(Htf::Calendar)
                .map_err(|_| Error::usage(format!("parameter `htf`: unknown option `{other}`"))),
        }
    }
}

/// The base interval of bars opening at `ts`: the longest of `1m … 1w` not longer than the smallest
/// gap between consecutive bars (`None` with fewer than two bars or a gap under a minute). Taking a
/// bar to close that long after it opens never puts its close after the next bar's open.
pub fn base_interval(ts: &[i64]) -> Option<Interval> {
    let gap = ts
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|&g| g > 0)
        .min()?;
    Interval::ALL
        .iter()
        .copied()
        .filter(|i| *i != Interval::Month1 && i.nominal_ms() <= gap)
        .max_by_key(|i| i.nominal_ms())
}

/// EMA(HTF close, `n`) of `htf` groups, seen from each base bar (latest closed HTF bar only).
pub fn htf_ema(candles: &Candles, cache: &IndicatorCache, htf: Htf, n: usize) -> Result<Series> {
    let target = match htf {
        Htf::Bars(k) => return htf_ema_on_base(candles, cache, k, n),
        Htf::Calendar(t) => t,
    };
    let base = base_interval(&candles.ts);
    let key = match base {
        Some(b) => format!("htf({target}@{b}):ema(close,{n})"),
        None => format!("htf({target}@?):ema(close,{n})"),
    };
    Ok(cache.get_or_compute(&key, || {
        let grouped = match base {
            Some(b) if target.nominal_ms() > b.nominal_ms() => {
                resample_interval(candles, b, target)
            }
            _ => resample_bars(candles, 1),
        };
        match grouped {
            Ok(r) => r.on_base(&indicators::ema(&r.candles.close, n)),
            Err(_) => vec![f64::NAN; candles.len()],
        }
    }))
}

/// The per-bar half of [`JadeCap`].
#[derive(Debug, Clone)]
pub struct JadeCapSignals<'a> {
    htf_fast: Series,
    htf_slow: Series,
    ema: Series,
    atr: Series,
    candles: &'a Candles,
    atr_stop: f64,
    rr: f64,
    warmup: usize,
}

impl<'a> JadeCapSignals<'a> {
    /// Fetches (or computes) the HTF EMAs on the base bars, the base EMA and the ATR.
    pub fn new(c: &'a Candles, p: &Params, cache: &IndicatorCache) -> Result<JadeCapSignals<'a>> {
        let htf = Htf::from_params(p)?;
        let htf_fast = htf_ema(c, cache, htf, p.int("htf_fast") as usize)?;
        let htf_slow = htf_ema(c, cache, htf, p.int("htf_slow") as usize)?;
        let ema = cache.ema("close", &c.close, p.int("ema_n") as usize);
        let atr = cache.atr(c, p.int("atr_n") as usize);
        let warmup = warmup_of(&[&htf_fast, &htf_slow, &ema, &atr]);
        Ok(JadeCapSignals {
            htf_fast,
            htf_slow,
            ema,
            atr,
            candles: c,
            atr_stop: p.float("atr_stop"),
            rr: p.float("rr"),
            warmup,
        })
    }

    /// The higher-timeframe trend seen at bar `i`: +1 up, −1 down, 0 none/undefined.
    pub fn trend(&self, i: usize) -> i8 {
        let (f, s) = (self.htf_fast[i], self.htf_slow[i]);
        if f > s {
            1
        } else if f < s {
            -1
        } else {
            0
        }
    }
}

impl Signals for JadeCapSignals<'_> {
    fn warmup(&self) -> usize {
        self.warmup
    }

    #[inline]
    fn decide(&mut self, i: usize, position: &PositionView) -> Action {
        if i == 0 {
            return Action::Hold;
        }
        let c = self.candles;
        let (e, e_prev, close) = (self.ema[i], self.ema[i - 1], c.close[i]);
        let risk = self.atr_stop * self.atr[i];
        match self.trend(i) {
            1 if c.close[i - 1] > e_prev && c.low[i] <= e && close > e => {
                let stop = close - risk;
                bracket_entry(Side::Long, close, stop, close + self.rr * risk, position)
            }
            -1 if c.close[i - 1] < e_prev && c.high[i] >= e && close < e => {
                let stop = close + risk;
                bracket_entry(Side::Short, close, stop, close - self.rr * risk, position)
            }
            _ => Action::Hold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{candles, close_to, entry, mirror, params, signals};
    use super::*;
    use crate::indicators;

    const P: &[(&str, &str)] = &[
        ("htf_bars", "2"),
        ("htf_fast", "2"),
        ("htf_slow", "3"),
        ("ema_n", "3"),
        ("atr_n", "3"),
    ];

    /// Closes 100, 101, … 115 (bars 0–15) with lows 0.6 under the close: EMA(3) of a line of slope 1
    /// seeded at its mean is exactly close − 1 (seed (100+101+102)/3 = 101 = 102 − 1, and
    /// (c − 2) + ½·2 = c − 1 after), so no low touches it. Bar 16 is `last`; EMA(3) there is
    /// 114 + ½·(close − 114).
    fn setup(last: (f64, f64, f64, f64)) -> Vec<(f64, f64, f64, f64)> {
        let mut b: Vec<_> = (0..16)
            .map(|i| {
                let c = 100.0 + i as f64;
                (c - 0.4, c + 0.2, c - 0.6, c)
            })
            .collect();
        b.push(last);
        b
    }

    /// Low 113.5 under EMA 114.9 (= 114 + ½·1.8), close 115.8 back above; the previous close 115 was
    /// above its EMA 114.
    const PULLBACK: (f64, f64, f64, f64) = (115.5, 116.0, 113.5, 115.8);

    #[test]
    fn a_pullback_to_the_ema_in_an_up_trend_goes_long() {
        let c = candles(&setup(PULLBACK), &[]);
        let s = signals(&JadeCap, &c, &params(&JadeCap, P));
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].0, 16);
        let e = entry(&s[0].1);
        let atr = indicators::atr(&c.high, &c.low, &c.close, 3)[16];
        assert_eq!(e.side, Side::Long);
        assert!(close_to(e.stop.unwrap(), 115.8 - 1.5 * atr));
        assert!(close_to(e.target.unwrap(), 115.8 + 2.0 * 1.5 * atr));
        // Mirror image: a rally to the EMA in a down-trend goes short.
        let m = mirror(&c, 300.0);
        let s = signals(&JadeCap, &m, &params(&JadeCap, P));
        assert_eq!(s.len(), 1, "{s:?}");
        let e = entry(&s[0].1);
        assert_eq!((s[0].0, e.side), (16, Side::Short));
        assert!(close_to(e.stop.unwrap(), (300.0 - 115.8) + 1.5 * atr));
    }

    #[test]
    fn near_misses_do_not_trade() {
        let p = params(&JadeCap, P);
        // Closes just back above the EMA (114.2 > 114 + ½·0.2 = 114.1): still a long; closing at 113.9
        // (EMA 113.95) is a break of the EMA, not a pullback that held.
        let held = candles(&setup((115.5, 116.0, 113.5, 114.2)), &[]);
        assert_eq!(signals(&JadeCap, &held, &p).len(), 1);
        let under = candles(&setup((115.5, 116.0, 113.5, 113.9)), &[]);
        assert!(signals(&JadeCap, &under, &p).is_empty());
        // The low stays above the EMA: no pullback.
        let above = candles(&setup((115.5, 116.5, 115.2, 116.2)), &[]);
        assert!(signals(&JadeCap, &above, &p).is_empty());
        // The same pullback before the higher timeframe has a trend (8-bar HTF bars: slow EMA of 3 HTF
        // bars needs 24 base bars).
        let early = params(
            &JadeCap,
            &[
                ("htf_bars", "8"),
                ("htf_fast", "2"),
                ("htf_slow", "3"),
                ("ema_n", "3"),
                ("atr_n", "3"),
            ],
        );
        assert!(signals(&JadeCap, &candles(&setup(PULLBACK), &[]), &early).is_empty());
        // A pullback against the higher-timeframe trend: the mirrored (falling) series with a long-shaped bar.
        let mut down = mirror(&candles(&setup(PULLBACK), &[]), 300.0);
        let last = down.len() - 1;
        (
            down.open[last],
            down.high[last],
            down.low[last],
            down.close[last],
        ) = (184.5, 186.0, 183.5, 185.0);
        assert!(
            signals(&JadeCap, &down, &p)
                .iter()
                .all(|(_, a)| entry(a).side == Side::Short)
        );
    }

    fn bundled(symbol: &str, interval: Interval) -> Candles {
        crate::candles::Store::at(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data"))
            .load(symbol, interval, &crate::candles::TimeRange::ALL)
            .expect("bundled data loads")
    }

    #[test]
    fn the_base_interval_is_read_from_the_smallest_gap() {
        use crate::candles::{DAY_MS, HOUR_MS, MINUTE_MS};
        assert_eq!(
            base_interval(&[0, HOUR_MS, 3 * HOUR_MS]),
            Some(Interval::Hour1)
        );
        // Daily stock data: weekends are longer gaps, the smallest is one day.
        assert_eq!(
            base_interval(&[0, 3 * DAY_MS, 4 * DAY_MS]),
            Some(Interval::Day1)
        );
        // 90 minutes apart: the longest interval that fits is one hour; 20 minutes: 15 minutes.
        assert_eq!(base_interval(&[0, 90 * MINUTE_MS]), Some(Interval::Hour1));
        assert_eq!(
            base_interval(&[0, 20 * MINUTE_MS]),
            Some(Interval::Minute15)
        );
        assert_eq!(base_interval(&[0]), None);
        assert_eq!(base_interval(&[0, 30_000]), None);
        assert_eq!(
            base_interval(&bundled("GOOG", Interval::Day1).ts),
            Some(Interval::Day1)
        );
    }

    /// The calendar HTF EMA on EURUSD 1h, against buckets formed independently from the timestamps:
    /// bucket `⌊ts / T⌋` (weeks counted from Monday 1970-01-05), closed at bar `i` when its end is at
    /// or before bar `i`'s close (open + 1h), its close the close of its last bar.
    #[test]
    fn calendar_htf_uses_only_closed_buckets() {
        use crate::candles::{DAY_MS, HOUR_MS};
        let c = bundled("EURUSD", Interval::Hour1);
        for (target, len, offset) in [
            (Interval::Hour4, 4 * HOUR_MS, 0),
            (Interval::Day1, DAY_MS, 0),
            (Interval::Week1, 7 * DAY_MS, 4 * DAY_MS),
        ] {
            let bucket = |ts: i64| (ts - offset).div_euclid(len);
            // Closes of the buckets in order and the index of each bucket's last bar.
            let mut closes: Vec<f64> = Vec::new();
            let mut last_bar: Vec<usize> = Vec::new();
            for i in 0..c.len() {
                if i > 0 && bucket(c.ts[i]) == bucket(c.ts[i - 1]) {
                    *closes.last_mut().unwrap() = c.close[i];
                    *last_bar.last_mut().unwrap() = i;
                } else {
                    closes.push(c.close[i]);
                    last_bar.push(i);
                }
            }
            let ema = indicators::ema(&closes, 9);
            let got = htf_ema(&c, &IndicatorCache::new(), Htf::Calendar(target), 9).unwrap();
            let mut used = 0;
            for i in 0..c.len() {
                let close_time = c.ts[i] + HOUR_MS;
                let closed = (0..closes.len())
                    .take_while(|&b| {
                        let first_ts = c.ts[if b == 0 { 0 } else { last_bar[b - 1] + 1 }];
                        (bucket(first_ts) + 1) * len + offset <= close_time
                    })
                    .count();
                let want = if closed == 0 {
                    f64::NAN
                } else {
                    ema[closed - 1]
                };
                assert_eq!(got[i].to_bits(), want.to_bits(), "{target} bar {i}");
                if closed > 0 {
                    // Never a bucket with bars still to come.
                    assert!(last_bar[closed - 1] <= i, "{target} bar {i}");
                    used += 1;
                }
            }
            assert!(
                used > c.len() / 2,
                "{target}: the HTF trend is mostly defined"
            );
        }
    }

    #[test]
    fn calendar_mode_decisions_do_not_change_when_later_bars_are_removed() {
        let cases = [
            (bundled("EURUSD", Interval::Hour1), "4h"),
            (bundled("EURUSD", Interval::Hour1), "1d"),
            (bundled("GOOG", Interval::Day1), "1w"),
        ];
        for (full, htf) in &cases {
            let p = params(
                &JadeCap,
                &[("htf", *htf), ("htf_fast", "5"), ("htf_slow", "20")],
            );
            let all = signals(&JadeCap, full, &p);
            assert!(all.len() > 5, "{htf}: {} signals", all.len());
            for cut in [full.len() / 3, full.len() / 2, full.len() - 7] {
                let part = signals(&JadeCap, &full.slice(0..cut), &p);
                let before: Vec<_> = all.iter().filter(|(i, _)| *i < cut).cloned().collect();
                assert_eq!(part, before, "{htf}: decisions before bar {cut} changed");
            }
        }
    }

    #[test]
    fn an_htf_not_longer_than_the_data_uses_the_base_bars() {
        let c = bundled("GOOG", Interval::Day1);
        let want = indicators::ema(&c.close, 9);
        for target in [Interval::Hour4, Interval::Day1] {
            let got = htf_ema(&c, &IndicatorCache::new(), Htf::Calendar(target), 9).unwrap();
            assert!(
                got.iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{target}"
            );
        }
        // The default (bars) is the every-k-bars grouping, unchanged.
        let p = params(&JadeCap, &[]);
        assert_eq!(Htf::from_params(&p).unwrap(), Htf::Bars(4));
    }

    #[test]
    fn htf_fast_must_be_below_slow() {
        let o = [("htf_fast".to_string(), "30".to_string())];
        assert!(super::super::resolve_params(&JadeCap, &o).is_err());
    }
}
