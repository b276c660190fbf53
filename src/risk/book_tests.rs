//! Tests of the risk book against an in-memory database, with an injected clock.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::risk::limits::HARD;
use crate::risk::validator::Side;
use crate::risk::{Rule, SoftLimits, StrategyId};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap()
}

fn book_with(limits: Limits) -> RiskBook {
    let mut b = RiskBook::new(Db::open_in_memory().unwrap(), limits);
    b.set_balance(10_000.0, None, t0() - Duration::days(1))
        .unwrap();
    b
}

fn book() -> RiskBook {
    book_with(HARD)
}

/// Risk 0.5 × 1 × 100 = 50 on 10 000 (0.5%), R:R 2.
fn trade(strategy: Option<&str>) -> TradeRequest {
    TradeRequest {
        symbol: "BTCUSD".into(),
        side: Side::Long,
        entry: 1000.0,
        stop: 900.0,
        target: 1200.0,
        size: 0.5,
        lot_size: 1.0,
        strategy: strategy.map(id),
        equity: None,
    }
}

fn id(name: &str) -> StrategyId {
    StrategyId::parse("strategy", name).unwrap()
}

/// Records a fill and its close of `pnl`.
fn round_trip(
    b: &mut RiskBook,
    strategy: Option<&str>,
    pnl: f64,
    now: DateTime<Utc>,
) -> RecordOutcome {
    let strategy = strategy.map(id);
    b.record_fill("X", strategy.as_ref(), now).unwrap();
    b.record_close(Some("X"), strategy.as_ref(), pnl, now)
        .unwrap()
}

fn failed(d: &Decision) -> Vec<Rule> {
    d.failed().map(|v| v.rule).collect()
}

#[test]
fn a_good_trade_is_approved_and_audited() {
    let mut b = book();
    let d = b.check(&trade(None), t0()).unwrap();
    assert!(d.approved, "{d:?}");
    assert_eq!(d.verdicts.len(), 10);
    let log = b.decisions(&DecisionFilter::default()).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].kind, "check");
    assert_eq!(log[0].approved, Some(true));
    assert_eq!(log[0].id, d.decision_id);
    assert_eq!(log[0].inputs["trade"]["symbol"], "BTCUSD");
    assert_eq!(log[0].verdicts.as_array().unwrap().len(), 10);
}

#[test]
fn bad_input_is_an_error_and_not_recorded() {
    let mut b = book();
    let bad = TradeRequest {
        stop: 1100.0,
        ..trade(None)
    };
    let err = b.check(&bad, t0()).unwrap_err();
    assert_eq!(err.exit_code(), 1);
    assert!(err.to_string().starts_with("stop:"), "{err}");
    assert!(b.decisions(&DecisionFilter::default()).unwrap().is_empty());
}

#[test]
fn no_balance_is_an_error_unless_equity_is_given() {
    let mut b = RiskBook::new(Db::open_in_memory().unwrap(), HARD);
    let err = b.check(&trade(None), t0()).unwrap_err().to_string();
    assert!(err.contains("state --balance"), "{err}");
    let d = b
        .check(
            &TradeRequest {
                equity: Some(10_000.0),
                ..trade(None)
            },
            t0(),
        )
        .unwrap();
    assert!(d.approved);
    assert_eq!(d.equity, 10_000.0);
}

#[test]
fn drawdown_trips_the_emergency_until_an_audited_reset() {
    let mut b = book();
    let now = t0();
    b.record_fill("BTCUSD", None, now).unwrap();
    b.record_fill("BTCUSD", None, now).unwrap();
    // 14.99%: still fine.
    let out = b.record_close(Some("BTCUSD"), None, -1499.0, now).unwrap();
    assert!(!out.emergency_tripped);
    assert!(
        b.check(
            &TradeRequest {
                size: 0.01,
                ..trade(None)
            },
            now
        )
        .unwrap()
        .verdict(Rule::AccountDrawdown)
        .pass
    );
    // Exactly 15% from the 10 000 peak trips it.
    let out = b.record_close(Some("BTCUSD"), None, -1.0, now).unwrap();
    assert!(out.emergency_tripped);
    assert!(out.state.emergency);
    assert_eq!(out.state.drawdown_pct, 15.0);

    // Every trade is now rejected, however small and whatever the day.
    for later in [now, now + Duration::days(3)] {
        let d = b
            .check(
                &TradeRequest {
                    size: 0.01,
                    ..trade(None)
                },
                later,
            )
            .unwrap();
        assert!(!d.approved);
        assert_eq!(failed(&d)[0], Rule::EmergencyShutdown);
    }
    let trips = b
        .decisions(&DecisionFilter {
            kind: Some(AuditKind::EmergencyTrip),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(trips.len(), 1, "tripped once, not on every check");

    let err = b.reset_emergency("  ", now).unwrap_err().to_string();
    assert!(err.contains("reason"), "{err}");
    // Still 15% below the peak: a reset alone would trip again at the next check. The account is
    // re-based on purpose (audited), then the reset goes through; it moves nothing itself.
    let err = b.reset_emergency("reviewed", now).unwrap_err().to_string();
    assert!(
        err.contains("still 15.00% below its peak 10000") && err.contains("state --balance"),
        "{err}"
    );
    b.set_balance(8500.0, Some("re-based after review"), now)
        .unwrap();
    let st = b
        .reset_emergency("reviewed the losses with the desk", now)
        .unwrap();
    assert!(!st.emergency);
    assert_eq!(st.equity_peak, 8500.0);
    assert_eq!(st.drawdown_pct, 0.0);
    let resets = b
        .decisions(&DecisionFilter {
            kind: Some(AuditKind::ResetEmergency),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(resets.len(), 1);
    assert_eq!(
        resets[0].reason.as_deref(),
        Some("reviewed the losses with the desk")
    );
    assert_eq!(resets[0].inputs["equity_peak"], 8500.0);
    assert_eq!(resets[0].inputs["drawdown_pct"], 0.0);

    let d = b
        .check(
            &TradeRequest {
                size: 0.01,
                ..trade(None)
            },
            now + Duration::days(3),
        )
        .unwrap();
    assert!(d.approved, "{:?}", failed(&d));
}

#[test]
fn a_check_whose_equity_reaches_the_drawdown_trips_the_emergency() {
    let mut b = book();
    let d = b
        .check(
            &TradeRequest {
                size: 0.01,
                equity: Some(8500.0),
                ..trade(None)
            },
            t0(),
        )
        .unwrap();
    assert!(!d.approved);
    assert!(d.emergency_tripped);
    assert_eq!(failed(&d), [Rule::AccountDrawdown]);
    assert!(b.state(t0()).unwrap().emergency);
    let d = b
        .check(
            &TradeRequest {
                size: 0.01,
                ..trade(None)
            },
            t0(),
        )
        .unwrap();
    assert_eq!(failed(&d), [Rule::EmergencyShutdown]);
    assert!(!d.emergency_tripped);
}

#[test]
fn five_consecutive_losses_disable_a_strategy_a_win_resets_enable_re_enables() {
    let mut b = book();
    let now = t0();
    // The trades happen two hours earlier, so the hourly count is not in the way of the checks.
    let earlier = now - Duration::hours(2);
    let lose = |b: &mut RiskBook| round_trip(b, Some("sma"), -10.0, earlier);
    for _ in 0..4 {
        assert!(lose(&mut b).strategy_disabled.is_none());
    }
    // A win in between resets the streak.
    round_trip(&mut b, Some("sma"), 5.0, earlier);
    for _ in 0..4 {
        assert!(lose(&mut b).strategy_disabled.is_none());
    }
    assert!(b.check(&trade(Some("sma")), now).unwrap().approved);
    let out = lose(&mut b);
    assert_eq!(out.strategy_disabled.as_deref(), Some("sma"));
    let sma = &out.state.strategies[0];
    assert!(!sma.enabled);
    assert_eq!(sma.consecutive_losses, 5);

    let d = b.check(&trade(Some("sma")), now).unwrap();
    assert_eq!(failed(&d), [Rule::StrategyBudget]);
    // Other strategies and strategy-less trades are unaffected.
    assert!(b.check(&trade(Some("other")), now).unwrap().approved);
    assert!(b.check(&trade(None), now).unwrap().approved);

    let err = b
        .enable_strategy(&id("smaa"), "typo", now)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no risk budget named 'smaa' (known: sma)"),
        "{err}"
    );
    let sma = b
        .enable_strategy(&id("sma"), "new parameters after review", now)
        .unwrap();
    assert!(sma.enabled);
    assert_eq!(sma.consecutive_losses, 0);
    assert!(b.check(&trade(Some("sma")), now).unwrap().approved);

    let log = b
        .decisions(&DecisionFilter {
            strategy: Some(id("sma")),
            ..Default::default()
        })
        .unwrap();
    let kinds: Vec<&str> = log.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "check",
            "strategy_disabled",
            "check",
            "enable_strategy",
            "check"
        ]
    );
    assert_eq!(
        log[3].reason.as_deref(),
        Some("new parameters after review")
    );
}

#[test]
fn a_breakeven_trade_neither_adds_to_nor_resets_the_streak() {
    let mut b = book();
    for pnl in [-1.0, -1.0, 0.0] {
        round_trip(&mut b, Some("s"), pnl, t0());
    }
    assert_eq!(b.state(t0()).unwrap().strategies[0].consecutive_losses, 2);
}

#[test]
fn hourly_count_rolls_over_after_60_minutes() {
    let mut b = book();
    let start = t0();
    for i in 0..5 {
        b.record_fill("BTCUSD", None, start + Duration::minutes(i))
            .unwrap();
    }
    let at = |m: i64, s: i64| start + Duration::minutes(m) + Duration::seconds(s);
    let d = b.check(&trade(None), at(59, 59)).unwrap();
    assert_eq!(failed(&d), [Rule::TradesThisHour]);
    assert_eq!(d.verdict(Rule::TradesThisHour).value, 6.0);
    // The first fill leaves the 60-minute window at exactly 11:00.
    let d = b.check(&trade(None), at(60, 0)).unwrap();
    assert!(d.approved, "{:?}", failed(&d));
    assert_eq!(d.verdict(Rule::TradesThisHour).value, 5.0);
    assert_eq!(b.state(at(60, 0)).unwrap().trades_this_hour, 4);
}

#[test]
fn daily_count_and_daily_loss_roll_over_at_utc_midnight() {
    let mut b = book_with(
        SoftLimits {
            max_trades_per_day: Some(3),
            ..Default::default()
        }
        .effective()
        .unwrap(),
    );
    let day = Utc.with_ymd_and_hms(2026, 3, 2, 20, 0, 0).unwrap();
    for i in 0..3 {
        b.record_fill("BTCUSD", None, day + Duration::hours(i))
            .unwrap();
        b.record_close(Some("BTCUSD"), None, -200.0, day + Duration::hours(i))
            .unwrap();
    }
    let late = Utc.with_ymd_and_hms(2026, 3, 2, 23, 59, 59).unwrap();
    let d = b.check(&trade(None), late).unwrap();
    assert_eq!(failed(&d), [Rule::TradesToday, Rule::DailyLoss]);
    assert_eq!(d.verdict(Rule::DailyLoss).value, 6.0);
    let st = b.state(late).unwrap();
    assert_eq!((st.trades_today, st.daily_pnl), (3, -600.0));

    let midnight = Utc.with_ymd_and_hms(2026, 3, 3, 0, 0, 0).unwrap();
    let st = b.state(midnight).unwrap();
    assert_eq!(
        (st.trades_today, st.daily_pnl, st.day_start_balance),
        (0, 0.0, 9400.0)
    );
    assert_eq!(st.day, "2026-03-03");
    // The last fill (22:00) is two hours old.
    assert_eq!(st.trades_this_hour, 0);
    let d = b.check(&trade(None), midnight).unwrap();
    assert!(d.approved, "{:?}", failed(&d));
}

#[test]
fn reset_daily_starts_a_new_day_now_and_is_audited() {
    let mut b = book();
    let now = t0();
    for _ in 0..3 {
        b.record_fill("X", None, now).unwrap();
    }
    b.record_close(None, None, -600.0, now).unwrap();
    assert_eq!(
        failed(&b.check(&trade(None), now).unwrap()),
        [Rule::DailyLoss]
    );
    let err = b
        .reset_daily(" ", now + Duration::seconds(1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("reason: must not be empty"), "{err}");
    let st = b
        .reset_daily("new session", now + Duration::seconds(1))
        .unwrap();
    assert_eq!(
        (st.trades_today, st.daily_pnl, st.day_start_balance),
        (0, 0.0, 9400.0)
    );
    assert!(
        b.check(&trade(None), now + Duration::seconds(2))
            .unwrap()
            .approved
    );
    let log = b
        .decisions(&DecisionFilter {
            kind: Some(AuditKind::ResetDaily),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].inputs["daily_pnl_before"], -600.0);
    assert_eq!(log[0].inputs["trades_today_before"], 3);
}

#[test]
fn open_positions_follow_fills_and_closes() {
    let mut b = book();
    for _ in 0..10 {
        b.record_fill("X", None, t0() - Duration::days(2)).unwrap();
    }
    let d = b.check(&trade(None), t0()).unwrap();
    assert_eq!(failed(&d), [Rule::OpenPositions]);
    b.record_close(None, None, 1.0, t0()).unwrap();
    assert!(b.check(&trade(None), t0()).unwrap().approved);
    for _ in 0..9 {
        b.record_close(None, None, 0.0, t0()).unwrap();
    }
    assert_eq!(b.state(t0()).unwrap().open_positions, 0);
}

#[test]
fn a_close_without_an_open_position_is_refused_and_changes_nothing() {
    let mut b = book();
    round_trip(&mut b, Some("s"), -10.0, t0());
    let before = b.state(t0()).unwrap();
    // Five "closes" after one fill would have moved the balance and the streak four more times.
    for _ in 0..4 {
        let err = b
            .record_close(Some("X"), Some(&id("s")), -10.0, t0())
            .unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert!(err.to_string().contains("no open position"), "{err}");
    }
    assert_eq!(b.state(t0()).unwrap(), before);
    assert_eq!(before.balance, 9_990.0);
    assert_eq!(before.strategies[0].consecutive_losses, 1);
}

#[test]
fn a_soft_limit_tightens_the_check() {
    let limits = SoftLimits {
        risk_per_trade_pct: Some(0.4),
        ..Default::default()
    }
    .effective()
    .unwrap();
    let mut b = book_with(limits);
    let d = b.check(&trade(None), t0()).unwrap();
    assert_eq!(failed(&d), [Rule::RiskPerTrade]);
    assert_eq!(d.verdict(Rule::RiskPerTrade).limit, 0.4);
}

#[test]
fn decisions_filter() {
    let mut b = book();
    b.check(&trade(None), t0()).unwrap();
    b.check(
        &TradeRequest {
            size: 5.0,
            ..trade(Some("s"))
        },
        t0() + Duration::minutes(1),
    )
    .unwrap();
    b.check(
        &TradeRequest {
            symbol: "ETHUSD".into(),
            ..trade(None)
        },
        t0() + Duration::minutes(2),
    )
    .unwrap();
    let mut f = |filter: DecisionFilter| {
        b.decisions(&filter)
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(f(DecisionFilter::default()), [1, 2, 3]);
    assert_eq!(
        f(DecisionFilter {
            approved: Some(false),
            ..Default::default()
        }),
        [2]
    );
    assert_eq!(
        f(DecisionFilter {
            approved: Some(true),
            ..Default::default()
        }),
        [1, 3]
    );
    assert_eq!(
        f(DecisionFilter {
            symbol: Some("ETHUSD".into()),
            ..Default::default()
        }),
        [3]
    );
    assert_eq!(
        f(DecisionFilter {
            strategy: Some(id(" S")),
            ..Default::default()
        }),
        [2]
    );
    let since = (t0() + Duration::minutes(1)).timestamp_millis();
    assert_eq!(
        f(DecisionFilter {
            since_ms: Some(since),
            ..Default::default()
        }),
        [2, 3]
    );
    assert_eq!(
        f(DecisionFilter {
            until_ms: Some(since),
            ..Default::default()
        }),
        [1]
    );
    assert_eq!(
        f(DecisionFilter {
            limit: Some(2),
            ..Default::default()
        }),
        [2, 3]
    );
}

#[test]
fn audit_tables_reject_update_and_delete() {
    let mut b = book();
    b.check(&trade(None), t0()).unwrap();
    let conn = b.db().conn();
    for (sql, want) in [
        (
            "UPDATE risk_decisions SET approved = 0",
            "risk_decisions is append-only: UPDATE",
        ),
        (
            "DELETE FROM risk_decisions",
            "risk_decisions is append-only: DELETE",
        ),
        (
            "UPDATE settings_audit SET new_value = 'x'",
            "settings_audit is append-only: UPDATE",
        ),
        (
            "DELETE FROM settings_audit",
            "settings_audit is append-only: DELETE",
        ),
    ] {
        let err = conn.execute(sql, []).unwrap_err().to_string();
        assert!(err.contains(want), "{sql}: {err}");
    }
    let n: i64 = conn
        .query_row("SELECT count(*) FROM risk_decisions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    // The same through a write transaction: the error names the database.
    let err = b
        .db()
        .write(|tx| Ok(tx.execute("DELETE FROM risk_decisions", [])?))
        .unwrap_err()
        .to_string();
    assert!(err.contains("append-only"), "{err}");
}

#[test]
fn settings_audit_records_balance_and_limit_changes() {
    let mut b = book();
    b.check(&trade(None), t0()).unwrap();
    b.check(&trade(None), t0()).unwrap();
    b.set_balance(12_000.0, Some("deposit"), t0()).unwrap();
    let mut b = RiskBook::new(
        std::mem::replace(b.db(), Db::open_in_memory().unwrap()),
        SoftLimits {
            max_open_positions: Some(4),
            ..Default::default()
        }
        .effective()
        .unwrap(),
    );
    b.check(&trade(None), t0()).unwrap();
    let rows: Vec<(String, Option<String>, String, Option<String>)> = b
        .db()
        .conn()
        .prepare("SELECT setting, old_value, new_value, reason FROM settings_audit ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let settings: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        settings,
        [
            "risk.balance",
            "risk.equity_peak",
            "risk.effective_limits",
            "risk.balance",
            "risk.equity_peak",
            "risk.effective_limits"
        ]
    );
    // The first balance has no old value (there was none); the second records the one it replaced,
    // the peak it moved, and why.
    assert_eq!((rows[0].1.as_deref(), rows[0].2.as_str()), (None, "10000"));
    assert_eq!(
        (rows[3].1.as_deref(), rows[3].2.as_str()),
        (Some("10000"), "12000")
    );
    assert_eq!(
        (rows[4].1.as_deref(), rows[4].2.as_str()),
        (Some("10000"), "12000")
    );
    assert_eq!(rows[4].3.as_deref(), Some("deposit"));
    assert!(
        rows[5].2.contains("\"max_open_positions\":4"),
        "{}",
        rows[5].2
    );
}

#[test]
fn absurd_amounts_are_refused_and_nothing_changes() {
    let mut b = book();
    for _ in 0..3 {
        b.record_fill("X", None, t0()).unwrap();
    }
    let before = b.state(t0()).unwrap();
    for pnl in [1.7e308, f64::INFINITY, f64::NAN, -1.000_001e15] {
        let err = b.record_close(None, None, pnl, t0()).unwrap_err();
        assert!(err.to_string().starts_with("pnl: "), "{err}");
    }
    // Within the cap each, but 10 000 + 6e14 + 6e14 = 1.2e15 is beyond it.
    b.record_close(None, None, 6e14, t0()).unwrap();
    let err = b
        .record_close(None, None, 6e14, t0())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("would take the balance from 600000000010000 to 1200000000010000"),
        "{err}"
    );
    let after = b.state(t0()).unwrap();
    assert_eq!(after.balance, 600_000_000_010_000.0);
    assert_eq!(after.open_positions, before.open_positions - 1);
    for bad in [1e16, f64::INFINITY, 0.0] {
        assert!(b.set_balance(bad, None, t0()).is_err());
    }
    let d = b.check(
        &TradeRequest {
            equity: Some(1e308),
            ..trade(None)
        },
        t0(),
    );
    assert!(d.unwrap_err().to_string().starts_with("equity: 1e308"));
}

#[test]
fn a_non_finite_stored_state_is_refused_until_the_balance_is_set_again() {
    let mut b = book();
    b.record_fill("X", None, t0()).unwrap();
    // What an older flowrex could store after `record close --pnl 1.7e308` twice (SQLite keeps inf).
    b.db()
        .conn()
        .execute(
            "UPDATE risk_state SET balance = 9e999, equity_peak = 9e999, daily_pnl = 9e999",
            [],
        )
        .unwrap();
    // Such a state was sealed as it was found when the state-seal migration first opened the database.
    b.db().write(|tx| crate::db::seal::seal_all(tx, 0)).unwrap();
    let err = b.check(&trade(None), t0()).unwrap_err().to_string();
    assert!(err.starts_with("risk state: balance is inf"), "{err}");
    let err = b.record_close(None, None, -1.0, t0()).unwrap_err();
    assert!(err.to_string().contains("state --balance"), "{err}");
    assert!(b.decisions(&DecisionFilter::default()).unwrap().is_empty());
    let st = b.set_balance(10_000.0, Some("repair"), t0()).unwrap();
    assert_eq!(
        (st.balance, st.equity_peak, st.daily_pnl),
        (10_000.0, 10_000.0, 0.0)
    );
    assert!(b.check(&trade(None), t0()).unwrap().approved);
}

#[test]
fn reset_emergency_is_refused_when_none_is_active_and_never_moves_the_peak() {
    let mut b = book();
    let day1 = t0() - Duration::hours(20);
    // −14%: no emergency, and a reset now is refused (it used to restart the peak at 8600).
    round_trip(&mut b, None, -1400.0, day1);
    let err = b.reset_emergency("fresh start", day1).unwrap_err();
    assert_eq!(err.exit_code(), 1);
    assert!(
        err.to_string().contains("no emergency shutdown is active"),
        "{err}"
    );
    // −1200 more: 7400 is 26% below the real peak 10 000 (not 13.95% below 8600): it trips.
    let out = round_trip(&mut b, None, -1200.0, day1);
    assert!(out.emergency_tripped);
    assert_eq!(out.state.equity_peak, 10_000.0);
    assert!(
        b.decisions(&DecisionFilter {
            kind: Some(AuditKind::ResetEmergency),
            ..Default::default()
        })
        .unwrap()
        .is_empty()
    );
}

#[test]
fn every_spelling_of_a_strategy_shares_one_budget() {
    let mut b = book();
    let earlier = t0() - Duration::hours(2);
    for spelling in ["SMA", "sma ", " Sma", "sma", "\tsMA"] {
        round_trip(&mut b, Some(spelling), -10.0, earlier);
    }
    let st = b.state(t0()).unwrap();
    assert_eq!(st.strategies.len(), 1);
    assert_eq!(st.strategies[0].strategy, "sma");
    assert!(!st.strategies[0].enabled);
    for spelling in ["SMA", "sma", " sma "] {
        let d = b.check(&trade(Some(spelling)), t0()).unwrap();
        assert_eq!(failed(&d), [Rule::StrategyBudget], "{spelling:?}");
    }
}
