//! `flowrex risk-check`: gate a trade against the risk limits (exit 0 approved, 3 rejected), read and
//! change the risk state, list the limits and the audit log. Arguments and rendering only; the logic is
//! in [`flowrex::risk`].

use std::io::BufRead;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tabled::Tabled;

use super::output::{print_json, print_text, table, table_of};
use super::table_fit::Cells;
use super::{Context, Outcome};
use flowrex::candles::time::parse_cli_flag;
use flowrex::db::Db;
use flowrex::db::audit::Verification;
use flowrex::error::{Error, Result};
use flowrex::risk::book::{AuditEntry, AuditKind, DecisionFilter, RecordOutcome, RiskState};
use flowrex::risk::validator::{fmt_num, parse_number};
use flowrex::risk::{Comparison, Decision, RiskBook, StrategyId, TradeRequest, Unit, Verdict};
use flowrex::trade::Side;

const AFTER_HELP: &str = "\
Exit codes: 0 approved (or the subcommand succeeded); 1 bad input (a price that is zero, negative, not \
a number or beyond 1e15, a stop or target on the wrong side, an unknown side), I/O or database error; \
2 usage error; 3 rejected by a risk rule, or `verify` found the audit log tampered with, or the live \
state (risk state, budgets, trades, paper cursors) was changed outside flowrex: every check and record \
refuses it until `reseal --reason TEXT`.

Gate an order from a shell script:
  flowrex risk-check --symbol EURUSD --side long --entry 1.1000 --stop 1.0950 --target 1.1100 \\
      --size 0.2 --lot-size 100000 --strategy sma && place-order ...
Then record what happened:
  flowrex risk-check record fill --symbol EURUSD --strategy sma
  flowrex risk-check record close --symbol EURUSD --strategy sma --pnl -42.5";

/// Arguments of `flowrex risk-check`.
#[derive(Debug, clap::Args)]
#[command(
    subcommand_negates_reqs = true,
    allow_negative_numbers = true,
    after_help = AFTER_HELP
)]
pub struct RiskCheckArgs {
    /// State, limits, audit log, records and resets.
    #[command(subcommand)]
    pub action: Option<Action>,
    /// Instrument of the proposed trade.
    #[arg(long, required_unless_present = "stdin")]
    pub symbol: Option<String>,
    /// long (buy) or short (sell).
    #[arg(long, required_unless_present = "stdin")]
    pub side: Option<String>,
    /// Entry price.
    #[arg(long, required_unless_present = "stdin", allow_hyphen_values = true)]
    pub entry: Option<String>,
    /// Stop-loss price (below the entry for a long, above for a short).
    #[arg(long, required_unless_present = "stdin", allow_hyphen_values = true)]
    pub stop: Option<String>,
    /// Take-profit price (above the entry for a long, below for a short).
    #[arg(long, required_unless_present = "stdin", allow_hyphen_values = true)]
    pub target: Option<String>,
    /// Position size in lots.
    #[arg(long, required_unless_present = "stdin", allow_hyphen_values = true)]
    pub size: Option<String>,
    /// Units per lot: risk = size × lot size × |entry − stop|.
    #[arg(long, default_value = "1", allow_hyphen_values = true)]
    pub lot_size: String,
    /// Strategy proposing the trade (its budget is checked).
    #[arg(long)]
    pub strategy: Option<String>,
    /// Equity for this check instead of the stored balance.
    #[arg(long, allow_hyphen_values = true)]
    pub equity: Option<String>,
    /// Read one JSON trade per line from stdin, write one JSON verdict per line to stdout.
    #[arg(long, conflicts_with_all = ["symbol", "side", "entry", "stop", "target", "size", "strategy", "equity"])]
    pub stdin: bool,
    /// Pretend the time is this (RFC 3339 / ISO, UTC); for tests and replays.
    #[arg(long, global = true, hide = true, value_name = "TIME")]
    pub now: Option<String>,
}

impl RiskCheckArgs {
    fn has_trade_flags(&self) -> bool {
        self.symbol.is_some()
            || self.side.is_some()
            || self.entry.is_some()
            || self.stop.is_some()
            || self.target.is_some()
            || self.size.is_some()
            || self.lot_size != "1"
            || self.strategy.is_some()
            || self.equity.is_some()
            || self.stdin
    }
}

/// The `risk-check` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Show the risk state (balance, drawdown, today's figures, emergency flag, strategies).
    State {
        /// Set the balance first: a deposit, a withdrawal, or re-basing the account after a drawdown. It
        /// restarts the equity peak and the day's starting balance (audited, with --reason).
        #[arg(long, allow_hyphen_values = true)]
        balance: Option<String>,
        /// Why the balance is set (recorded in the settings audit).
        #[arg(long, requires = "balance")]
        reason: Option<String>,
    },
    /// Show the hard limits and the effective ones (tightened by `[risk]` in flowrex.toml).
    Limits,
    /// Show the audit log: checks, emergency trips, auto-disables, resets, re-enables.
    Decisions(DecisionsArgs),
    /// Record a fill (a trade opened) or a close (a trade closed, with its P&L).
    Record {
        /// Fill or close.
        #[command(subcommand)]
        what: RecordAction,
    },
    /// Switch an active emergency shutdown off (audited). The equity peak does not move: while the
    /// drawdown is still at the limit this is refused; re-base first with `state --balance X --reason …`.
    ResetEmergency {
        /// Why it is safe to trade again.
        #[arg(long)]
        reason: String,
    },
    /// Start a new trading day now: daily P&L and today's trade count to zero (audited).
    ResetDaily {
        /// Why (required; recorded in the audit log).
        #[arg(long)]
        reason: String,
    },
    /// Recompute the hash chains of the audit log and of the risk trades, check their guards, and compare
    /// the live state (risk state, budgets, trades, paper cursors) with its seal: exit 0 intact, 3
    /// tampered (the first bad row, or the changed table, row and field, is named).
    Verify,
    /// Accept the live state as it is now after `verify` found it changed outside flowrex: seal it again
    /// (audited in the settings audit with what was found). Until then every check and record refuses.
    Reseal {
        /// Why the state as it is now is right (required; recorded with what was found).
        #[arg(long)]
        reason: String,
    },
    /// Re-enable a strategy disabled after consecutive losses, clearing its streak (audited).
    EnableStrategy {
        /// The strategy.
        name: String,
        /// Why it may trade again.
        #[arg(long)]
        reason: String,
    },
}

/// What `risk-check record` records.
#[derive(Debug, clap::Subcommand)]
#[command(allow_negative_numbers = true)]
pub enum RecordAction {
    /// A fill that opened a trade: counts toward trades today / this hour and open positions.
    Fill {
        /// Instrument.
        #[arg(long)]
        symbol: String,
        /// Strategy that opened it.
        #[arg(long)]
        strategy: Option<String>,
    },
    /// A closed trade: its realized P&L moves balance, daily P&L, drawdown and the strategy's streak.
    Close {
        /// Realized P&L in account currency (negative for a loss).
        #[arg(long, allow_hyphen_values = true)]
        pnl: String,
        /// Instrument.
        #[arg(long)]
        symbol: Option<String>,
        /// Strategy that traded it.
        #[arg(long)]
        strategy: Option<String>,
    },
}

/// Kinds of audit rows, for `decisions --kind`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum KindArg {
    /// Trade validations.
    Check,
    /// Emergency shutdowns tripped by drawdown.
    #[value(alias = "emergency_trip")]
    EmergencyTrip,
    /// Strategies disabled after consecutive losses.
    #[value(alias = "strategy_disabled")]
    StrategyDisabled,
    /// Emergency resets.
    #[value(alias = "reset_emergency")]
    ResetEmergency,
    /// Daily resets.
    #[value(alias = "reset_daily")]
    ResetDaily,
    /// Strategy re-enables.
    #[value(alias = "enable_strategy")]
    EnableStrategy,
}

impl From<KindArg> for AuditKind {
    fn from(k: KindArg) -> AuditKind {
        match k {
            KindArg::Check => AuditKind::Check,
            KindArg::EmergencyTrip => AuditKind::EmergencyTrip,
            KindArg::StrategyDisabled => AuditKind::StrategyDisabled,
            KindArg::ResetEmergency => AuditKind::ResetEmergency,
            KindArg::ResetDaily => AuditKind::ResetDaily,
            KindArg::EnableStrategy => AuditKind::EnableStrategy,
        }
    }
}

/// Filters of `risk-check decisions`.
#[derive(Debug, clap::Args)]
pub struct DecisionsArgs {
    /// Only this kind of entry.
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
    /// Only checks of this symbol.
    #[arg(long)]
    pub symbol: Option<String>,
    /// Only entries about this strategy.
    #[arg(long)]
    pub strategy: Option<String>,
    /// Only approved checks.
    #[arg(long, conflicts_with = "rejected")]
    pub approved: bool,
    /// Only rejected checks.
    #[arg(long)]
    pub rejected: bool,
    /// Only entries at or after this time (as --start: a date, datetime or epoch; UTC).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only entries before this time.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// The newest N entries (listed oldest first).
    #[arg(long, default_value_t = 50, conflicts_with = "all")]
    pub limit: usize,
    /// Every matching entry.
    #[arg(long)]
    pub all: bool,
}

/// Runs `flowrex risk-check`.
pub fn run(ctx: &Context, args: RiskCheckArgs) -> Result<Outcome> {
    if args.action.is_some() && args.has_trade_flags() {
        return Err(Error::usage(
            "trade flags (--symbol, --side, --entry, --stop, --target, --size, --lot-size, --strategy, \
             --equity, --stdin) go without a subcommand",
        ));
    }
    let now = resolve_now(args.now.as_deref())?;
    let limits = ctx.config.risk.effective()?;
    // Setting the balance is the one verb that may create the home. Every other one reads the risk
    // state and refuses a missing home: a mistyped --home must never approve trades against a fresh,
    // empty state while the real one has the emergency shutdown on.
    let balance = match &args.action {
        Some(Action::State {
            balance: Some(b), ..
        }) => Some(parse_number("balance", b)?),
        _ => None,
    };
    if balance.is_some() {
        ctx.create_home()?;
    }
    // Commands that only read open the database read-only: no write access to the home is needed.
    let reads_only = match &args.action {
        Some(Action::State { balance, .. }) => balance.is_none(),
        Some(Action::Limits | Action::Decisions(_) | Action::Verify) => true,
        _ => false,
    };
    let mut db = if reads_only {
        ctx.db_read()?
    } else {
        ctx.db()?
    };
    let mut book = RiskBook::new(&mut *db, limits);
    match args.action {
        None if args.stdin => run_stdin(&mut book, now),
        None => {
            let trade = trade_from_flags(&args)?;
            let decision = book.check(&trade, now)?;
            let out = CheckOutput::new(&trade, &decision, None);
            if ctx.json {
                print_json(&out)?;
            } else {
                print_text(&render_check(&trade, &decision))?;
            }
            Ok(if decision.approved {
                Outcome::Done
            } else {
                Outcome::Refused
            })
        }
        Some(Action::State { reason, .. }) => {
            let state = match balance {
                Some(b) => book.set_balance(b, reason.as_deref(), now)?,
                None => book.state(now)?,
            };
            show_state(ctx, &state)?;
            Ok(Outcome::Done)
        }
        Some(Action::Limits) => {
            let rows = book.limits().rows();
            let require_strategy = book.limits().require_strategy;
            if ctx.json {
                print_json(
                    &serde_json::json!({ "limits": rows, "require_strategy": require_strategy }),
                )?;
            } else {
                let mut text = table(rows.iter().map(|r| LimitLine {
                    rule: r.rule.to_string(),
                    hard: limit_text(r.comparison, r.hard, r.unit),
                    effective: limit_text(r.comparison, r.effective, r.unit),
                    config_key: format!("[risk] {}", r.config_key),
                }));
                text.push_str(&format!(
                    "\na check must name a strategy: {} ([risk] require_strategy)",
                    if require_strategy { "yes" } else { "no" }
                ));
                print_text(&text)?;
            }
            Ok(Outcome::Done)
        }
        Some(Action::Decisions(d)) => {
            let since_ms = d
                .since
                .as_deref()
                .map(|s| parse_when("since", s))
                .transpose()?;
            let until_ms = d
                .until
                .as_deref()
                .map(|s| parse_when("until", s))
                .transpose()?;
            if let (Some(s), Some(u)) = (since_ms, until_ms)
                && s >= u
            {
                return Err(Error::usage(format!(
                    "--since {} must be before --until {}",
                    d.since.unwrap_or_default(),
                    d.until.unwrap_or_default()
                )));
            }
            let filter = DecisionFilter {
                kind: d.kind.map(AuditKind::from),
                symbol: d.symbol,
                strategy: d
                    .strategy
                    .as_deref()
                    .map(|s| StrategyId::parse("strategy", s))
                    .transpose()?,
                approved: if d.approved {
                    Some(true)
                } else if d.rejected {
                    Some(false)
                } else {
                    None
                },
                since_ms,
                until_ms,
                limit: (!d.all).then_some(d.limit),
            };
            let entries = book.decisions(&filter)?;
            if ctx.json {
                print_json(&serde_json::json!({ "decisions": entries }))?;
            } else if entries.is_empty() {
                print_text("no audit entries match")?;
            } else {
                print_text(&table(entries.iter().map(DecisionLine::from)))?;
            }
            Ok(Outcome::Done)
        }
        Some(Action::Record { what }) => {
            let (kind, outcome) = match what {
                RecordAction::Fill { symbol, strategy } => {
                    let strategy = strategy_arg(strategy.as_deref())?;
                    ("fill", book.record_fill(&symbol, strategy.as_ref(), now)?)
                }
                RecordAction::Close {
                    pnl,
                    symbol,
                    strategy,
                } => {
                    let pnl = parse_number("pnl", &pnl)?;
                    let strategy = strategy_arg(strategy.as_deref())?;
                    let out = book.record_close(symbol.as_deref(), strategy.as_ref(), pnl, now)?;
                    ("close", out)
                }
            };
            show_record(ctx, kind, &outcome)?;
            Ok(Outcome::Done)
        }
        Some(Action::ResetEmergency { reason }) => {
            let state = book.reset_emergency(&reason, now)?;
            show_state(ctx, &state)?;
            Ok(Outcome::Done)
        }
        Some(Action::ResetDaily { reason }) => {
            let state = book.reset_daily(&reason, now)?;
            show_state(ctx, &state)?;
            Ok(Outcome::Done)
        }
        Some(Action::Verify) => {
            let v = book.verify_audit()?;
            show_verification(ctx, &v)?;
            Ok(if v.intact() {
                Outcome::Done
            } else {
                Outcome::Refused
            })
        }
        Some(Action::Reseal { reason }) => {
            let rows = book.reseal_state(&reason, now)?;
            if ctx.json {
                print_json(&serde_json::json!({"resealed": true, "rows": rows}))?;
            } else {
                print_text(&format!(
                    "live state sealed again as it is now ({rows} row(s)); recorded in the settings audit \
                     as risk.state_seal"
                ))?;
            }
            Ok(Outcome::Done)
        }
        Some(Action::EnableStrategy { name, reason }) => {
            let name = StrategyId::parse("strategy", &name)?;
            let budget = book.enable_strategy(&name, &reason, now)?;
            if ctx.json {
                print_json(&budget)?;
            } else {
                print_text(&format!(
                    "strategy '{}' enabled; consecutive losses reset to 0",
                    budget.strategy
                ))?;
            }
            Ok(Outcome::Done)
        }
    }
}

fn resolve_now(now: Option<&str>) -> Result<DateTime<Utc>> {
    match now {
        None => Ok(Utc::now()),
        Some(s) => {
            let ms = parse_when("now", s)?;
            DateTime::from_timestamp_millis(ms)
                .ok_or_else(|| Error::invalid(format!("now: '{s}' is out of range")))
        }
    }
}

/// The value of the time flag `--flag` as its first millisecond: the formats of `--start` (an ISO date
/// or datetime, `2026`, `20261130`, an epoch); an unparsable value is a usage error naming the flag.
fn parse_when(flag: &str, s: &str) -> Result<i64> {
    Ok(parse_cli_flag(flag, s)?.first)
}

fn strategy_arg(s: Option<&str>) -> Result<Option<StrategyId>> {
    s.map(|s| StrategyId::parse("strategy", s)).transpose()
}

fn trade_from_flags(a: &RiskCheckArgs) -> Result<TradeRequest> {
    // clap guarantees presence (required unless --stdin); keep a clear error anyway.
    let need = |name: &str, v: &Option<String>| -> Result<String> {
        v.clone()
            .ok_or_else(|| Error::usage(format!("--{name} is required")))
    };
    let trade = TradeRequest {
        symbol: need("symbol", &a.symbol)?,
        side: Side::parse_field("side", &need("side", &a.side)?)?,
        entry: parse_number("entry", &need("entry", &a.entry)?)?,
        stop: parse_number("stop", &need("stop", &a.stop)?)?,
        target: parse_number("target", &need("target", &a.target)?)?,
        size: parse_number("size", &need("size", &a.size)?)?,
        lot_size: parse_number("lot_size", &a.lot_size)?,
        strategy: strategy_arg(a.strategy.as_deref())?,
        equity: a
            .equity
            .as_deref()
            .map(|e| parse_number("equity", e))
            .transpose()?,
    };
    trade.validate()?;
    Ok(trade)
}

fn run_stdin(book: &mut RiskBook<&mut Db>, now: DateTime<Utc>) -> Result<Outcome> {
    let stdin = std::io::stdin();
    let mut outcome = Outcome::Done;
    for (i, line) in stdin.lock().lines().enumerate() {
        let line = line.map_err(|e| Error::io("<stdin>", e))?;
        if line.trim().is_empty() {
            continue;
        }
        let n = i + 1;
        let parsed = TradeRequest::from_json_line(&line);
        let result = parsed.and_then(|(trade, id)| {
            let decision = book.check(&trade, now)?;
            Ok((trade, id, decision))
        });
        let text = match result {
            Ok((trade, id, decision)) => {
                if !decision.approved && outcome == Outcome::Done {
                    outcome = Outcome::Refused;
                }
                let out = CheckOutput::new(&trade, &decision, Some((n, id)));
                serde_json::to_string(&out).expect("verdict serializes")
            }
            Err(e @ Error::Invalid(_)) => {
                outcome = Outcome::PartlyFailed;
                #[derive(Serialize)]
                struct LineError {
                    line: usize,
                    #[serde(skip_serializing_if = "Option::is_none")]
                    id: Option<Value>,
                    error: String,
                }
                let out = LineError {
                    line: n,
                    id: TradeRequest::line_id(&line),
                    error: e.to_string(),
                };
                serde_json::to_string(&out).expect("error serializes")
            }
            Err(e) => return Err(e),
        };
        print_text(&text)?;
    }
    Ok(outcome)
}

/// The JSON document of one check.
#[derive(Serialize)]
struct CheckOutput<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<Value>,
    approved: bool,
    decision_id: i64,
    emergency_tripped: bool,
    equity: f64,
    trade: &'a TradeRequest,
    verdicts: &'a [Verdict],
}

impl<'a> CheckOutput<'a> {
    fn new(trade: &'a TradeRequest, d: &'a Decision, line: Option<(usize, Option<Value>)>) -> Self {
        let (line, id) = match line {
            Some((n, id)) => (Some(n), id),
            None => (None, None),
        };
        CheckOutput {
            line,
            id,
            approved: d.approved,
            decision_id: d.decision_id,
            emergency_tripped: d.emergency_tripped,
            equity: d.equity,
            trade,
            verdicts: &d.verdicts,
        }
    }
}

fn value_text(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Percent => format!("{v:.2}%"),
        Unit::Count => format!("{v:.0}"),
        Unit::Lots => fmt_num(v),
        Unit::Ratio => format!("{v:.2}"),
        Unit::Flag => if v != 0.0 { "on" } else { "off" }.into(),
    }
}

fn limit_text(c: Comparison, v: f64, unit: Unit) -> String {
    match unit {
        Unit::Flag => "must be off".into(),
        Unit::Percent => format!("{} {}%", c.as_str(), fmt_num(v)),
        _ => format!("{} {}", c.as_str(), fmt_num(v)),
    }
}

#[derive(Tabled)]
struct VerdictLine {
    rule: String,
    value: String,
    limit: String,
    result: &'static str,
    detail: String,
}

fn render_check(t: &TradeRequest, d: &Decision) -> String {
    let mut s = format!(
        "{}  {} {} {} lots (× {}) @ {}, stop {}, target {}{} · equity {} · decision #{}\n",
        if d.approved { "APPROVED" } else { "REJECTED" },
        t.symbol,
        t.side,
        fmt_num(t.size),
        fmt_num(t.lot_size),
        fmt_num(t.entry),
        fmt_num(t.stop),
        fmt_num(t.target),
        t.strategy
            .as_ref()
            .map(|s| format!(" · strategy {s}"))
            .unwrap_or_default(),
        fmt_num(d.equity),
        d.decision_id
    );
    s.push_str(&table(d.verdicts.iter().map(|v| VerdictLine {
        rule: v.rule.to_string(),
        value: value_text(v.value, v.unit),
        limit: limit_text(v.comparison, v.limit, v.unit),
        result: if v.pass { "pass" } else { "FAIL" },
        detail: v.detail.clone(),
    })));
    if d.emergency_tripped {
        s.push_str("\nEMERGENCY SHUTDOWN switched on: every trade is rejected until `flowrex risk-check reset-emergency --reason TEXT`");
    }
    s
}

#[derive(Tabled)]
struct KeyValue {
    field: &'static str,
    value: String,
}

#[derive(Tabled)]
struct StrategyLine {
    strategy: String,
    enabled: &'static str,
    consecutive_losses: u32,
    note: String,
}

#[derive(Tabled)]
struct LimitLine {
    rule: String,
    hard: String,
    effective: String,
    config_key: String,
}

#[derive(Tabled)]
struct DecisionLine {
    id: i64,
    time: String,
    kind: String,
    symbol: String,
    strategy: String,
    result: &'static str,
    reason: String,
}

impl From<&AuditEntry> for DecisionLine {
    fn from(e: &AuditEntry) -> Self {
        DecisionLine {
            id: e.id,
            time: e.ts.clone(),
            kind: e.kind.clone(),
            symbol: e.symbol.clone().unwrap_or_default(),
            strategy: e.strategy.clone().unwrap_or_default(),
            result: match e.approved {
                Some(true) => "approved",
                Some(false) => "REJECTED",
                None => "",
            },
            reason: e.reason.clone().unwrap_or_default(),
        }
    }
}

fn render_state(s: &RiskState) -> String {
    let rows = vec![
        KeyValue {
            field: "balance",
            value: fmt_num(s.balance),
        },
        KeyValue {
            field: "equity peak",
            value: fmt_num(s.equity_peak),
        },
        KeyValue {
            field: "drawdown",
            value: format!("{:.2}%", s.drawdown_pct),
        },
        KeyValue {
            field: "day (UTC)",
            value: s.day.clone(),
        },
        KeyValue {
            field: "day start balance",
            value: fmt_num(s.day_start_balance),
        },
        KeyValue {
            field: "daily P&L",
            value: fmt_num(s.daily_pnl),
        },
        KeyValue {
            field: "daily loss",
            value: format!("{:.2}%", s.daily_loss_pct),
        },
        KeyValue {
            field: "open positions",
            value: s.open_positions.to_string(),
        },
        KeyValue {
            field: "trades today",
            value: s.trades_today.to_string(),
        },
        KeyValue {
            field: "trades last 60 min",
            value: s.trades_this_hour.to_string(),
        },
        KeyValue {
            field: "emergency shutdown",
            value: if s.emergency {
                format!(
                    "ON since {}: {}",
                    s.emergency_since.as_deref().unwrap_or("?"),
                    s.emergency_reason.as_deref().unwrap_or("")
                )
            } else {
                "off".into()
            },
        },
    ];
    let mut out = table(rows);
    if !s.strategies.is_empty() {
        out.push('\n');
        out.push_str(&table(s.strategies.iter().map(|b| StrategyLine {
            strategy: b.strategy.clone(),
            enabled: if b.enabled { "yes" } else { "NO" },
            consecutive_losses: b.consecutive_losses,
            note: b.disabled_reason.clone().unwrap_or_default(),
        })));
    }
    out
}

fn show_state(ctx: &Context, s: &RiskState) -> Result<()> {
    if ctx.json {
        print_json(s)
    } else {
        print_text(&render_state(s))
    }
}

#[derive(Tabled)]
struct ChainLine {
    table: &'static str,
    rows: u64,
    head: String,
    status: String,
}

fn show_verification(ctx: &Context, v: &Verification) -> Result<()> {
    if ctx.json {
        return print_json(&serde_json::json!({
            "intact": v.intact(),
            "first_fault": v.first_fault(),
            "chains": v.chains,
            "state": v.state,
            "guards": v.guards,
        }));
    }
    let lines = v.chains.iter().map(|c| ChainLine {
        table: c.table,
        rows: c.rows,
        head: c.head.clone(),
        status: match &c.fault {
            None => "intact".into(),
            Some(f) => format!("BROKEN at row {}", f.id.unwrap_or_default()),
        },
    });
    // The 64-character head goes first at 80 columns (--wide shows it), so the status stays: it was
    // the column left out.
    let mut text = table_of(Cells::of(lines).optional(&["head"]));
    text.push('\n');
    match v.first_fault() {
        None => text.push_str(
            "audit log intact: every row matches its hash and chains to the one before; guards in place; \
             the live state matches its last seal (keep the head hashes to detect a later rewrite or \
             removal from the end)",
        ),
        Some(f) => {
            let place = match f.id {
                Some(id) => format!("{} row {id}", f.table),
                None => f.table.to_string(),
            };
            text.push_str(&format!("TAMPERED: {place}: {}", f.problem));
            let also = v.state.iter().chain(&v.guards);
            for g in also.filter(|g| !std::ptr::eq(*g, f)) {
                text.push_str(&format!("\nalso: {}: {}", g.table, g.problem));
            }
        }
    }
    print_text(&text)
}

fn show_record(ctx: &Context, kind: &str, o: &RecordOutcome) -> Result<()> {
    if ctx.json {
        #[derive(Serialize)]
        struct Out<'a> {
            recorded: &'a str,
            #[serde(flatten)]
            outcome: &'a RecordOutcome,
        }
        return print_json(&Out {
            recorded: kind,
            outcome: o,
        });
    }
    let s = &o.state;
    let mut text = format!(
        "recorded {kind} · balance {} · drawdown {:.2}% · daily P&L {} · open positions {} · trades today {} · last 60 min {}",
        fmt_num(s.balance),
        s.drawdown_pct,
        fmt_num(s.daily_pnl),
        s.open_positions,
        s.trades_today,
        s.trades_this_hour
    );
    if o.emergency_tripped {
        text.push_str(&format!(
            "\nEMERGENCY SHUTDOWN switched on ({}): every trade is rejected until `flowrex risk-check reset-emergency --reason TEXT`",
            s.emergency_reason.as_deref().unwrap_or("")
        ));
    }
    if let Some(name) = &o.strategy_disabled {
        text.push_str(&format!(
            "\nstrategy '{name}' DISABLED after {} consecutive losses; re-enable with `flowrex risk-check enable-strategy {name} --reason TEXT`",
            s.strategies
                .iter()
                .find(|b| &b.strategy == name)
                .map(|b| b.consecutive_losses)
                .unwrap_or_default()
        ));
    }
    print_text(&text)
}
