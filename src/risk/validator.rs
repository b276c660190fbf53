//! The trade validator: a pure function from a proposed trade, a snapshot of the risk state and the
//! effective limits to one verdict per rule, in a fixed order. Every rule is reported, not only the first
//! failure.

use serde::{Deserialize, Serialize};

use super::amounts::positive_amount;
use super::limits::Limits;
use super::rules::{Comparison, Rule, TOLERANCE, Unit};
use super::strategy_id::StrategyId;
use crate::error::{Error, Result};
pub use crate::trade::Side;

/// A proposed trade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TradeRequest {
    /// The instrument, e.g. `EURUSD`.
    pub symbol: String,
    /// Long or short.
    pub side: Side,
    /// Entry price.
    pub entry: f64,
    /// Stop-loss price.
    pub stop: f64,
    /// Take-profit price.
    pub target: f64,
    /// Position size in lots.
    pub size: f64,
    /// Units per lot (1 for shares or coins, 100 000 for a standard forex lot).
    pub lot_size: f64,
    /// The strategy proposing the trade, whose budget is checked.
    pub strategy: Option<StrategyId>,
    /// Equity to use for this check instead of the stored balance.
    pub equity: Option<f64>,
}

/// Parses a number given as text, naming `field` when it is not one.
pub fn parse_number(field: &str, text: &str) -> Result<f64> {
    text.trim()
        .parse::<f64>()
        .map_err(|_| Error::invalid(format!("{field}: '{text}' is not a number")))
}

impl TradeRequest {
    /// Checks that the trade is well-formed: prices, sizes and the equity override positive, finite and at
    /// most [`super::amounts::MAX_AMOUNT`], the stop on the losing side of the entry and the target on the
    /// winning side. The error names the field. A malformed trade is bad input, never a rejection.
    pub fn validate(&self) -> Result<()> {
        if self.symbol.trim().is_empty() {
            return Err(Error::invalid("symbol: must not be empty"));
        }
        positive_amount("entry", self.entry)?;
        positive_amount("stop", self.stop)?;
        positive_amount("target", self.target)?;
        positive_amount("size", self.size)?;
        positive_amount("lot_size", self.lot_size)?;
        if let Some(e) = self.equity {
            positive_amount("equity", e)?;
        }
        let (stop_ok, target_ok, below_above) = match self.side {
            Side::Long => (
                self.stop < self.entry,
                self.target > self.entry,
                ("below", "above"),
            ),
            Side::Short => (
                self.stop > self.entry,
                self.target < self.entry,
                ("above", "below"),
            ),
        };
        if !stop_ok {
            return Err(Error::invalid(format!(
                "stop: {} must be {} the entry {} for a {} trade",
                self.stop, below_above.0, self.entry, self.side
            )));
        }
        if !target_ok {
            return Err(Error::invalid(format!(
                "target: {} must be {} the entry {} for a {} trade",
                self.target, below_above.1, self.entry, self.side
            )));
        }
        Ok(())
    }

    /// The money lost if the stop is hit: size × lot size × |entry − stop|.
    pub fn risk_amount(&self) -> f64 {
        self.size * self.lot_size * (self.entry - self.stop).abs()
    }

    /// Reward:risk: |target − entry| / |entry − stop|.
    pub fn reward_risk(&self) -> f64 {
        (self.target - self.entry).abs() / (self.entry - self.stop).abs()
    }
}

/// A strategy's risk budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyBudget {
    /// The strategy's name.
    pub strategy: String,
    /// Whether it may trade.
    pub enabled: bool,
    /// Losing trades in a row (a win resets it).
    pub consecutive_losses: u32,
    /// Why it was disabled, when it is.
    pub disabled_reason: Option<String>,
}

/// What the validator needs to know about the account at the moment of the check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// The emergency shutdown is on.
    pub emergency: bool,
    /// Why the emergency shutdown is on.
    pub emergency_reason: Option<String>,
    /// Current equity.
    pub equity: f64,
    /// Highest equity seen (drawdown is measured from it).
    pub equity_peak: f64,
    /// Positions open now.
    pub open_positions: u32,
    /// Trades opened today (UTC), before this one.
    pub trades_today: u32,
    /// Trades opened in the last 60 minutes, before this one.
    pub trades_this_hour: u32,
    /// Balance at the start of the day (daily loss is a share of it).
    pub day_start_balance: f64,
    /// Realized P&L today.
    pub daily_pnl: f64,
    /// The proposing strategy's budget (`None` when the trade names no strategy).
    pub strategy: Option<StrategyBudget>,
}

/// The outcome of one rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Which rule.
    pub rule: Rule,
    /// The measured value, in `unit`.
    pub value: f64,
    /// The limit, in `unit`.
    pub limit: f64,
    /// How `value` must compare with `limit` to pass.
    pub comparison: Comparison,
    /// The unit of `value` and `limit`.
    pub unit: Unit,
    /// Whether the rule passed.
    pub pass: bool,
    /// A short explanation, with what to do when it failed.
    pub detail: String,
}

/// Drawdown from `peak` as a share (0 when `equity` is at or above it, or there is no peak yet).
pub fn drawdown_share(equity: f64, peak: f64) -> f64 {
    let peak = peak.max(equity);
    if peak > 0.0 {
        ((peak - equity) / peak).max(0.0)
    } else {
        0.0
    }
}

/// Whether a drawdown share reaches the emergency limit (exactly at it trips).
pub fn drawdown_trips(drawdown: f64, limits: &Limits) -> bool {
    at_least(drawdown, limits.emergency_drawdown)
}

/// `value <= limit`, forgiving decimal rounding at the limit itself.
fn at_most(value: f64, limit: f64) -> bool {
    value <= limit + limit.abs() * TOLERANCE
}

/// `value >= limit`, forgiving decimal rounding at the limit itself.
fn at_least(value: f64, limit: f64) -> bool {
    value >= limit - limit.abs() * TOLERANCE
}

fn count_verdict(rule: Rule, before: u32, limit: u32, what: &str) -> Verdict {
    let value = before.saturating_add(1);
    let pass = value <= limit;
    let detail = if pass {
        format!("{value} of {limit} {what} with this trade")
    } else {
        format!("{before} {what} already; this trade would make {value}, over the limit {limit}")
    };
    Verdict {
        rule,
        value: value as f64,
        limit: limit as f64,
        comparison: Comparison::AtMost,
        unit: Unit::Count,
        pass,
        detail,
    }
}

/// Runs every rule on `trade` (which must have passed [`TradeRequest::validate`]) against `snap` and
/// `limits`, returning one verdict per rule in [`Rule::ALL`] order.
pub fn evaluate(trade: &TradeRequest, snap: &Snapshot, limits: &Limits) -> Vec<Verdict> {
    let mut out = Vec::with_capacity(Rule::ALL.len());

    out.push(Verdict {
        rule: Rule::EmergencyShutdown,
        value: if snap.emergency { 1.0 } else { 0.0 },
        limit: 0.0,
        comparison: Comparison::Equal,
        unit: Unit::Flag,
        pass: !snap.emergency,
        detail: if snap.emergency {
            format!(
                "emergency shutdown is on ({}); run `flowrex risk-check reset-emergency --reason TEXT`",
                snap.emergency_reason.as_deref().unwrap_or("no reason recorded")
            )
        } else {
            "off".into()
        },
    });

    let peak = snap.equity_peak.max(snap.equity);
    let drawdown = drawdown_share(snap.equity, snap.equity_peak);
    let dd_pass = !drawdown_trips(drawdown, limits);
    out.push(Verdict {
        rule: Rule::AccountDrawdown,
        value: drawdown * 100.0,
        limit: limits.emergency_drawdown * 100.0,
        comparison: Comparison::Below,
        unit: Unit::Percent,
        pass: dd_pass,
        detail: if dd_pass {
            format!("equity {} vs peak {}", fmt_num(snap.equity), fmt_num(peak))
        } else {
            format!(
                "equity {} is {:.2}% below the peak {}: emergency shutdown",
                fmt_num(snap.equity),
                drawdown * 100.0,
                fmt_num(peak)
            )
        },
    });

    out.push(count_verdict(
        Rule::OpenPositions,
        snap.open_positions,
        limits.max_open_positions,
        "open positions",
    ));
    out.push(count_verdict(
        Rule::TradesToday,
        snap.trades_today,
        limits.max_trades_per_day,
        "trades today",
    ));
    out.push(count_verdict(
        Rule::TradesThisHour,
        snap.trades_this_hour,
        limits.max_trades_per_hour,
        "trades in the last 60 minutes",
    ));

    let size_pass = at_most(trade.size, limits.max_position_lots);
    out.push(Verdict {
        rule: Rule::PositionSize,
        value: trade.size,
        limit: limits.max_position_lots,
        comparison: Comparison::AtMost,
        unit: Unit::Lots,
        pass: size_pass,
        detail: format!("{} lots", fmt_num(trade.size)),
    });

    let risk_amount = trade.risk_amount();
    let risk_share = risk_amount / snap.equity;
    let risk_pass = at_most(risk_share, limits.risk_per_trade);
    out.push(Verdict {
        rule: Rule::RiskPerTrade,
        value: risk_share * 100.0,
        limit: limits.risk_per_trade * 100.0,
        comparison: Comparison::AtMost,
        unit: Unit::Percent,
        pass: risk_pass,
        detail: if risk_pass {
            format!(
                "loses {} of equity {} at the stop",
                fmt_num(risk_amount),
                fmt_num(snap.equity)
            )
        } else {
            let max_size = limits.risk_per_trade * snap.equity
                / (trade.lot_size * (trade.entry - trade.stop).abs());
            format!(
                "loses {} of equity {} at the stop; at most {} lots fit this stop",
                fmt_num(risk_amount),
                fmt_num(snap.equity),
                fmt_num(max_size)
            )
        },
    });

    let rr = trade.reward_risk();
    out.push(Verdict {
        rule: Rule::RewardRisk,
        value: rr,
        limit: limits.min_reward_risk,
        comparison: Comparison::AtLeast,
        unit: Unit::Ratio,
        pass: at_least(rr, limits.min_reward_risk),
        detail: format!(
            "reward {} per risk {}",
            fmt_num((trade.target - trade.entry).abs()),
            fmt_num((trade.entry - trade.stop).abs())
        ),
    });

    out.push(match &snap.strategy {
        None => Verdict {
            rule: Rule::StrategyBudget,
            value: 0.0,
            limit: limits.max_consecutive_losses as f64,
            comparison: Comparison::Below,
            unit: Unit::Count,
            pass: !limits.require_strategy,
            detail: if limits.require_strategy {
                "no strategy given, and [risk] require_strategy = true: name the strategy proposing the trade"
                    .into()
            } else {
                "no strategy given".into()
            },
        },
        Some(b) => {
            let under = b.consecutive_losses < limits.max_consecutive_losses;
            let pass = b.enabled && under;
            let detail = if pass {
                format!("'{}' enabled, {} losses in a row", b.strategy, b.consecutive_losses)
            } else {
                format!(
                    "'{}' is disabled ({}); run `flowrex risk-check enable-strategy {} --reason TEXT`",
                    b.strategy,
                    b.disabled_reason.clone().unwrap_or_else(|| format!(
                        "{} consecutive losses",
                        b.consecutive_losses
                    )),
                    b.strategy
                )
            };
            Verdict {
                rule: Rule::StrategyBudget,
                value: b.consecutive_losses as f64,
                limit: limits.max_consecutive_losses as f64,
                comparison: Comparison::Below,
                unit: Unit::Count,
                pass,
                detail,
            }
        }
    });

    let base = if snap.day_start_balance > 0.0 {
        snap.day_start_balance
    } else {
        snap.equity
    };
    let daily_loss = if snap.daily_pnl < 0.0 {
        -snap.daily_pnl / base
    } else {
        0.0
    };
    let daily_pass = at_most(daily_loss, limits.daily_loss);
    out.push(Verdict {
        rule: Rule::DailyLoss,
        value: daily_loss * 100.0,
        limit: limits.daily_loss * 100.0,
        comparison: Comparison::AtMost,
        unit: Unit::Percent,
        pass: daily_pass,
        detail: format!(
            "P&L today {} on a starting balance of {}",
            fmt_num(snap.daily_pnl),
            fmt_num(base)
        ),
    });

    out
}

/// A number with at most 6 decimals and no trailing zeros.
pub fn fmt_num(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::risk::limits::HARD;

    fn trade() -> TradeRequest {
        // Risk 1 × 1 × 1 = 1 on equity 100 (1%), reward 2 → R:R 2.
        TradeRequest {
            symbol: "TEST".into(),
            side: Side::Long,
            entry: 100.0,
            stop: 99.0,
            target: 102.0,
            size: 1.0,
            lot_size: 1.0,
            strategy: None,
            equity: None,
        }
    }

    fn snap() -> Snapshot {
        Snapshot {
            emergency: false,
            emergency_reason: None,
            equity: 100.0,
            equity_peak: 100.0,
            open_positions: 0,
            trades_today: 0,
            trades_this_hour: 0,
            day_start_balance: 100.0,
            daily_pnl: 0.0,
            strategy: None,
        }
    }

    fn verdict(t: &TradeRequest, s: &Snapshot, rule: Rule) -> Verdict {
        let all = evaluate(t, s, &HARD);
        assert_eq!(all.iter().map(|v| v.rule).collect::<Vec<_>>(), Rule::ALL);
        all.into_iter().find(|v| v.rule == rule).unwrap()
    }

    /// Asserts pass/fail for (just inside, exactly at, just beyond).
    fn boundary(rule: Rule, inside: Verdict, at: Verdict, beyond: Verdict, at_passes: bool) {
        assert!(inside.pass, "{rule} just inside: {inside:?}");
        assert_eq!(at.pass, at_passes, "{rule} exactly at: {at:?}");
        assert!(!beyond.pass, "{rule} just beyond: {beyond:?}");
    }

    #[test]
    fn a_good_trade_passes_every_rule() {
        let v = evaluate(&trade(), &snap(), &HARD);
        assert_eq!(v.len(), 10);
        assert!(v.iter().all(|v| v.pass), "{v:?}");
    }

    #[test]
    fn every_verdict_is_reported_not_only_the_first_failure() {
        let mut s = snap();
        s.emergency = true;
        s.open_positions = 10;
        let mut t = trade();
        t.size = 3.0;
        let v = evaluate(&t, &s, &HARD);
        assert_eq!(v.len(), 10);
        let failed: Vec<Rule> = v.iter().filter(|v| !v.pass).map(|v| v.rule).collect();
        assert_eq!(
            failed,
            [
                Rule::EmergencyShutdown,
                Rule::OpenPositions,
                Rule::PositionSize,
                Rule::RiskPerTrade
            ]
        );
    }

    #[test]
    fn emergency_flag() {
        let mut s = snap();
        assert!(verdict(&trade(), &s, Rule::EmergencyShutdown).pass);
        s.emergency = true;
        let v = verdict(&trade(), &s, Rule::EmergencyShutdown);
        assert!(!v.pass);
        assert!(v.detail.contains("reset-emergency"));
    }

    #[test]
    fn drawdown_boundary_trips_at_15_percent() {
        let with_equity = |e: f64| {
            let mut s = snap();
            s.equity = e;
            s.equity_peak = 1000.0;
            let mut t = trade();
            t.size = 0.1;
            verdict(&t, &s, Rule::AccountDrawdown)
        };
        boundary(
            Rule::AccountDrawdown,
            with_equity(850.01),
            with_equity(850.0),
            with_equity(849.99),
            false,
        );
        assert_eq!(with_equity(850.0).value, 15.0);
    }

    #[test]
    fn open_positions_boundary() {
        let with = |n| {
            verdict(
                &trade(),
                &Snapshot {
                    open_positions: n,
                    ..snap()
                },
                Rule::OpenPositions,
            )
        };
        // 8 open + this = 9 (inside), 9 + 1 = 10 (at: allowed), 10 + 1 = 11 (beyond).
        boundary(Rule::OpenPositions, with(8), with(9), with(10), true);
        assert_eq!(with(9).value, 10.0);
    }

    #[test]
    fn trades_today_boundary() {
        let with = |n| {
            verdict(
                &trade(),
                &Snapshot {
                    trades_today: n,
                    ..snap()
                },
                Rule::TradesToday,
            )
        };
        boundary(Rule::TradesToday, with(18), with(19), with(20), true);
    }

    #[test]
    fn trades_this_hour_boundary() {
        let with = |n| {
            verdict(
                &trade(),
                &Snapshot {
                    trades_this_hour: n,
                    ..snap()
                },
                Rule::TradesThisHour,
            )
        };
        boundary(Rule::TradesThisHour, with(3), with(4), with(5), true);
    }

    #[test]
    fn position_size_boundary() {
        let with = |size| {
            // Large equity so only the size rule is in play.
            let s = Snapshot {
                equity: 1e9,
                equity_peak: 1e9,
                day_start_balance: 1e9,
                ..snap()
            };
            verdict(&TradeRequest { size, ..trade() }, &s, Rule::PositionSize)
        };
        boundary(Rule::PositionSize, with(0.99), with(1.0), with(1.01), true);
    }

    #[test]
    fn risk_per_trade_boundary() {
        // Risk = 2 × 1 × |100 − stop| on equity 100.
        let with = |stop: f64| {
            let t = TradeRequest {
                size: 2.0,
                stop,
                target: 100.0 + 3.0 * (100.0 - stop),
                ..trade()
            };
            verdict(&t, &snap(), Rule::RiskPerTrade)
        };
        boundary(
            Rule::RiskPerTrade,
            with(99.01),
            with(99.0),
            with(98.99),
            true,
        );
        assert_eq!(with(99.0).value, 2.0);
    }

    #[test]
    fn risk_per_trade_exactly_at_survives_decimal_rounding() {
        // 0.2 lots × 100 000 × (1.1000 − 1.0950) = 100 = 2% of 5000, though in f64 the difference is
        // 0.0050000000000001155 and the share 0.020000000000000462.
        let t = TradeRequest {
            symbol: "EURUSD".into(),
            entry: 1.1000,
            stop: 1.0950,
            target: 1.1100,
            size: 0.2,
            lot_size: 100_000.0,
            ..trade()
        };
        let s = Snapshot {
            equity: 5000.0,
            equity_peak: 5000.0,
            day_start_balance: 5000.0,
            ..snap()
        };
        assert!(verdict(&t, &s, Rule::RiskPerTrade).pass);
        let t = TradeRequest { size: 0.201, ..t };
        let v = verdict(&t, &s, Rule::RiskPerTrade);
        assert!(!v.pass);
        assert!(v.detail.contains("at most 0.2 lots"), "{}", v.detail);
    }

    #[test]
    fn reward_risk_boundary() {
        let with = |target| {
            verdict(
                &TradeRequest { target, ..trade() },
                &snap(),
                Rule::RewardRisk,
            )
        };
        // Risk is 1; reward 1.51 (inside), 1.5 (at: allowed), 1.49 (beyond).
        boundary(
            Rule::RewardRisk,
            with(101.51),
            with(101.5),
            with(101.49),
            true,
        );
    }

    #[test]
    fn reward_risk_for_a_short() {
        let t = TradeRequest {
            side: Side::Short,
            entry: 100.0,
            stop: 102.0,
            target: 97.0,
            ..trade()
        };
        t.validate().unwrap();
        let v = verdict(&t, &snap(), Rule::RewardRisk);
        assert_eq!(v.value, 1.5);
        assert!(v.pass);
    }

    #[test]
    fn strategy_budget_boundary() {
        let with = |losses, enabled| {
            let s = Snapshot {
                strategy: Some(StrategyBudget {
                    strategy: "s".into(),
                    enabled,
                    consecutive_losses: losses,
                    disabled_reason: None,
                }),
                ..snap()
            };
            verdict(&trade(), &s, Rule::StrategyBudget)
        };
        // 4 losses in a row is the last that may trade; 5 disables.
        boundary(
            Rule::StrategyBudget,
            with(3, true),
            with(4, true),
            with(5, true),
            true,
        );
        let off = with(0, false);
        assert!(!off.pass);
        assert!(off.detail.contains("enable-strategy s"), "{}", off.detail);
        assert!(verdict(&trade(), &snap(), Rule::StrategyBudget).pass);
    }

    #[test]
    fn daily_loss_boundary() {
        let with = |pnl| {
            let s = Snapshot {
                equity: 1000.0 + pnl,
                equity_peak: 1000.0,
                day_start_balance: 1000.0,
                daily_pnl: pnl,
                ..snap()
            };
            let t = TradeRequest {
                size: 0.1,
                ..trade()
            };
            verdict(&t, &s, Rule::DailyLoss)
        };
        boundary(
            Rule::DailyLoss,
            with(-49.99),
            with(-50.0),
            with(-50.01),
            true,
        );
        assert_eq!(with(-50.0).value, 5.0);
        assert!(with(80.0).pass);
    }

    #[test]
    fn require_strategy_fails_the_budget_rule_of_a_trade_without_one() {
        let limits = Limits {
            require_strategy: true,
            ..HARD
        };
        let v = evaluate(&trade(), &snap(), &limits);
        let failed: Vec<Rule> = v.iter().filter(|v| !v.pass).map(|v| v.rule).collect();
        assert_eq!(failed, [Rule::StrategyBudget]);
        let budget = v.iter().find(|v| v.rule == Rule::StrategyBudget).unwrap();
        assert!(
            budget.detail.contains("require_strategy"),
            "{}",
            budget.detail
        );
        // Naming one passes, and without the option no strategy is needed.
        let named = TradeRequest {
            strategy: Some(StrategyId::parse("strategy", "sma").unwrap()),
            ..trade()
        };
        let s = Snapshot {
            strategy: Some(StrategyBudget {
                strategy: "sma".into(),
                enabled: true,
                consecutive_losses: 0,
                disabled_reason: None,
            }),
            ..snap()
        };
        assert!(evaluate(&named, &s, &limits).iter().all(|v| v.pass));
        assert!(evaluate(&trade(), &snap(), &HARD).iter().all(|v| v.pass));
    }

    #[test]
    fn absurd_prices_sizes_and_equity_are_bad_input() {
        for (t, want) in [
            (
                TradeRequest {
                    equity: Some(1e308),
                    ..trade()
                },
                "equity: 1e308 is more than 1e15",
            ),
            (
                TradeRequest {
                    entry: 2e15,
                    target: 3e15,
                    ..trade()
                },
                "entry: 2000000000000000 is more than 1e15",
            ),
            (
                TradeRequest {
                    lot_size: 1e16,
                    ..trade()
                },
                "lot_size: 1e16 is more than 1e15",
            ),
        ] {
            let err = t.validate().unwrap_err().to_string();
            assert!(err.starts_with(want), "{err}");
        }
        // At the cap itself it is accepted.
        let t = TradeRequest {
            equity: Some(1e15),
            ..trade()
        };
        t.validate().unwrap();
    }

    #[test]
    fn soft_limits_tighten_the_verdicts() {
        let soft = crate::risk::SoftLimits {
            max_trades_per_hour: Some(2),
            ..Default::default()
        };
        let limits = soft.effective().unwrap();
        let s = Snapshot {
            trades_this_hour: 2,
            ..snap()
        };
        let v = evaluate(&trade(), &s, &limits);
        let hour = v.iter().find(|v| v.rule == Rule::TradesThisHour).unwrap();
        assert!(!hour.pass);
        assert_eq!(hour.limit, 2.0);
        assert!(evaluate(&trade(), &s, &HARD).iter().all(|v| v.pass));
    }

    #[test]
    fn malformed_trades_name_the_field() {
        let cases = [
            (
                TradeRequest {
                    entry: 0.0,
                    ..trade()
                },
                "entry: must be a positive number",
            ),
            (
                TradeRequest {
                    stop: -1.0,
                    ..trade()
                },
                "stop: must be a positive number",
            ),
            (
                TradeRequest {
                    target: f64::NAN,
                    ..trade()
                },
                "target: must be a positive number",
            ),
            (
                TradeRequest {
                    size: f64::INFINITY,
                    ..trade()
                },
                "size: must be a positive number",
            ),
            (
                TradeRequest {
                    lot_size: 0.0,
                    ..trade()
                },
                "lot_size: must be a positive number",
            ),
            (
                TradeRequest {
                    equity: Some(-5.0),
                    ..trade()
                },
                "equity: must be a positive number",
            ),
            (
                TradeRequest {
                    stop: 101.0,
                    ..trade()
                },
                "stop: 101 must be below the entry 100 for a long",
            ),
            (
                TradeRequest {
                    stop: 100.0,
                    ..trade()
                },
                "stop: 100 must be below",
            ),
            (
                TradeRequest {
                    target: 99.5,
                    ..trade()
                },
                "target: 99.5 must be above the entry 100",
            ),
            (
                TradeRequest {
                    side: Side::Short,
                    ..trade()
                },
                "stop: 99 must be above the entry 100 for a short",
            ),
            (
                TradeRequest {
                    symbol: " ".into(),
                    ..trade()
                },
                "symbol: must not be empty",
            ),
        ];
        for (t, want) in cases {
            let err = t.validate().unwrap_err();
            assert_eq!(err.exit_code(), 1);
            assert!(
                err.to_string().contains(want),
                "{err} should contain {want}"
            );
        }
        assert!(
            Side::parse_field("side", "sideways")
                .unwrap_err()
                .to_string()
                .contains("side: unknown side 'sideways'")
        );
        assert_eq!(Side::parse_field("side", "SELL").unwrap(), Side::Short);
        assert!(
            parse_number("size", "abc")
                .unwrap_err()
                .to_string()
                .contains("size: 'abc' is not a number")
        );
    }
}
