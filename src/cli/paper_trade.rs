//! `flowrex paper-trade`: the paper account, orders, fills and positions; placing and cancelling
//! orders; processing the bars that arrived since the last run; reset and mode. Arguments and rendering
//! only; the logic is in [`flowrex::execution`] and [`flowrex::paper`].

use chrono::{DateTime, Utc};
use serde::Serialize;
use tabled::Tabled;

use super::output::{print_json, print_text, table, table_of};
use super::table_fit::Cells;
use super::{Context, Outcome};
use flowrex::agents::state::TradingState;
use flowrex::candles::time::parse_cli_flag;
use flowrex::candles::{Interval, TimeRange};
use flowrex::engine::StopPolicy;
use flowrex::error::{Error, Result};
use flowrex::execution::store::{self, Mode, OrderFilter};
use flowrex::execution::{
    Desk, ExitRequest, Order, OrderKind, OrderRequest, OrderState, OrderType, Placed, TimeInForce,
};
use flowrex::home::Home;
use flowrex::paper::{self, Account, FillModel, PaperConfig, Position};
use flowrex::risk::validator::{fmt_num, parse_number};
use flowrex::risk::{Decision, Limits};
use flowrex::trade::Side;

const AFTER_HELP: &str = "\
Exit codes: 0 done; 1 bad input (the message names the field; nothing is recorded), I/O or database \
error; 2 usage error; 3 an order denied by the risk rules (the verdicts are printed), or `account \
--verify` found a problem.

Orders fill only in autonomous mode and only when bars are processed:
  flowrex paper-trade mode autonomous --reason \"forward test of sma 10/20\"
  flowrex paper-trade order --symbol GOOG --interval 1d --side long --units 10 \\
      --stop-loss 780 --take-profit 850
  flowrex paper-trade process          # after new bars arrived (e.g. from cron after `fetch`)
  flowrex paper-trade account
From cron, every hour at minute 5:
  5 * * * * cd /path/to/home && flowrex fetch --provider binance --symbol BTCUSDT --interval 1h -q \
      && flowrex paper-trade process -q";

/// Arguments of `flowrex paper-trade`.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct PaperTradeArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
    /// Pretend the time is this (RFC 3339 / ISO, UTC); for tests and replays.
    #[arg(long, global = true, hide = true, value_name = "TIME")]
    pub now: Option<String>,
}

/// The `paper-trade` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Balance, equity, margin, P&L, trades (derived from the fill ledger).
    Account {
        /// Re-fold the whole ledger and check every stored total, order and position (exit 3 on a
        /// problem).
        #[arg(long)]
        verify: bool,
    },
    /// Open positions with their marks and brackets.
    Positions,
    /// Orders, newest last.
    Orders(OrdersArgs),
    /// Place an order (an entry passes the risk rules; `--exit` reduces an open position).
    Order(Box<OrderArgs>),
    /// The event log of one order.
    Events {
        /// Order id.
        id: i64,
    },
    /// Cancel a working order.
    Cancel {
        /// Order id.
        id: i64,
        /// Why.
        #[arg(long, default_value = "cancelled by request")]
        reason: String,
    },
    /// The fill ledger (requested price, fill price, slippage, commission), newest last.
    Fills {
        /// The newest N fills.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Closed trades, as the backtest records them, newest last.
    Trades {
        /// The newest N trades.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Match working orders against the closed bars that arrived since the last run.
    Process(Box<ProcessArgs>),
    /// Start a new account (audited); refuses while positions are open unless --close-positions.
    Reset {
        /// The new account's balance (default: [paper] initial_balance).
        #[arg(long, allow_hyphen_values = true)]
        balance: Option<String>,
        /// Why.
        #[arg(long)]
        reason: String,
        /// Close open positions at their last close first.
        #[arg(long)]
        close_positions: bool,
    },
    /// Trade playbooks on paper: one Supervisor → Strategy → Risk → Execution cycle per newly closed
    /// bar of each selected playbook (exit 3 when the trading state is halted).
    Run(super::paper_run::RunArgs),
    /// The decision log: the newest cycles.
    Cycles(super::paper_run::CyclesArgs),
    /// The decision log: every stage's decision and message in one cycle.
    Decisions {
        /// Cycle id.
        #[arg(long)]
        cycle: i64,
    },
    /// Each stage's health over the last cycles: runs, errors, last heartbeat, slowest time.
    Health,
    /// Recompute the decision log's hash chains (exit 3 naming the first row changed since written).
    VerifyLog,
    /// Stop trading: no new orders (cancels and protective exits still work). Audited.
    Halt {
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Only exits and cancels from now on. Audited.
    Reduce {
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Back to active trading. Audited.
    Resume {
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Show the mode and its history, or change it: guide (previews only) or autonomous (fills on
    /// paper). `live` is refused: there is no live broker.
    Mode {
        /// The new mode.
        mode: Option<String>,
        /// Why (required to change the mode).
        #[arg(long)]
        reason: Option<String>,
    },
}

/// Filters of `paper-trade orders`.
#[derive(Debug, clap::Args)]
pub struct OrdersArgs {
    /// Only orders in these states (comma-separated; `working` = submitted, triggered, partially
    /// filled).
    #[arg(long, value_delimiter = ',')]
    pub status: Vec<String>,
    /// Only this symbol.
    #[arg(long)]
    pub symbol: Option<String>,
    /// The newest N orders.
    #[arg(long, default_value_t = 50, conflicts_with = "all")]
    pub limit: usize,
    /// Every order.
    #[arg(long)]
    pub all: bool,
}

/// Arguments of `paper-trade order`.
#[derive(Debug, clap::Args)]
#[command(
    allow_negative_numbers = true,
    // clap does not wrap the usage line; the generated one is 83 characters.
    override_usage = "flowrex paper-trade order [OPTIONS] --symbol SYMBOL --interval I"
)]
pub struct OrderArgs {
    /// Instrument.
    #[arg(long)]
    pub symbol: String,
    /// The bar series that matches the order.
    #[arg(long)]
    pub interval: String,
    /// long (buy) or short (sell); not with --exit.
    #[arg(long, required_unless_present = "exit")]
    pub side: Option<String>,
    /// Units to trade.
    #[arg(long, conflicts_with = "lots", allow_hyphen_values = true)]
    pub units: Option<String>,
    /// Lots to trade ([instruments.SYMBOL] lot_size units each).
    #[arg(long, allow_hyphen_values = true)]
    pub lots: Option<String>,
    /// market, limit, stop or stop-limit.
    #[arg(long = "type", default_value = "market")]
    pub order_type: String,
    /// Limit price (limit, stop-limit).
    #[arg(long, allow_hyphen_values = true)]
    pub limit_price: Option<String>,
    /// Stop (trigger) price (stop, stop-limit).
    #[arg(long, allow_hyphen_values = true)]
    pub stop_price: Option<String>,
    /// The bracket's stop loss (required for entries).
    #[arg(long, allow_hyphen_values = true)]
    pub stop_loss: Option<String>,
    /// The bracket's take profit (required for entries).
    #[arg(long, allow_hyphen_values = true)]
    pub take_profit: Option<String>,
    /// gtc, ioc or day.
    #[arg(long, default_value = "gtc")]
    pub tif: String,
    /// The book (strategy) the order trades in.
    #[arg(long)]
    pub strategy: Option<String>,
    /// The price the risk check measures from (default: the limit or stop price; for market orders the
    /// last closed bar's close in the store).
    #[arg(long, allow_hyphen_values = true)]
    pub price: Option<String>,
    /// Reduce-only: close (all, or --units/--lots of) the open position of the book.
    #[arg(long, conflicts_with_all = ["side", "stop_loss", "take_profit", "price"])]
    pub exit: bool,
    /// Idempotency key: the same order again under it returns the first order (nothing new); a
    /// different order under it is refused naming the first parameter that differs.
    #[arg(long)]
    pub client_id: Option<String>,
    /// Latency override (ms).
    #[arg(long)]
    pub latency_ms: Option<i64>,
}

/// Arguments of `paper-trade process`: which market, and fill-model overrides of `[paper]`.
#[derive(Debug, clap::Args)]
#[command(allow_negative_numbers = true)]
pub struct ProcessArgs {
    /// Only this symbol (with --interval).
    #[arg(long, requires = "interval")]
    pub symbol: Option<String>,
    /// Only this interval (with --symbol).
    #[arg(long, requires = "symbol")]
    pub interval: Option<String>,
    /// Fixed adverse slippage in basis points (market and stop fills).
    #[arg(long)]
    pub slippage_bps: Option<f64>,
    /// Fixed adverse slippage in pips.
    #[arg(long)]
    pub slippage_pips: Option<f64>,
    /// Seeded random slippage part, up to this many basis points.
    #[arg(long)]
    pub random_slippage_bps: Option<f64>,
    /// Seeded random slippage part, up to this many pips.
    #[arg(long)]
    pub random_slippage_pips: Option<f64>,
    /// Commission as a fraction of traded value per side.
    #[arg(long)]
    pub commission: Option<f64>,
    /// Commission per lot per side.
    #[arg(long)]
    pub commission_per_lot: Option<f64>,
    /// Spread as a fraction of price, on entries.
    #[arg(long)]
    pub spread: Option<f64>,
    /// Probability that a limit or stop touched inside a bar fills on that bar.
    #[arg(long)]
    pub fill_probability: Option<f64>,
    /// Largest share of a bar's volume one order may take.
    #[arg(long)]
    pub max_volume_share: Option<f64>,
    /// pessimistic or optimistic: which bracket leg a bar reaching both fills.
    #[arg(long)]
    pub stop_policy: Option<String>,
    /// Seed of the random parts.
    #[arg(long)]
    pub seed: Option<u64>,
}

/// Runs `flowrex paper-trade`.
pub fn run(ctx: &Context, args: PaperTradeArgs) -> Result<Outcome> {
    let start = || {
        Ok::<_, Error>((
            resolve_now(args.now.as_deref())?,
            ctx.config.risk.effective()?,
            ctx.home()?,
        ))
    };
    let (now, limits, home) = match start() {
        Ok(started) => started,
        Err(e) => {
            if let Action::Run(a) = &args.action {
                super::paper_run::failed_before_start(&ctx.home_path, a);
            }
            return Err(e);
        }
    };
    let pinned = args.now.is_some().then(|| now.timestamp_millis());
    match args.action {
        Action::Account { verify } => show_account(ctx, verify),
        Action::Positions => {
            let inst = &ctx.config.instruments;
            let rows = ctx.db()?.read(|tx| paper::account::positions(tx, inst))?;
            show_positions(ctx, &rows)?;
            Ok(Outcome::Done)
        }
        Action::Orders(a) => show_orders(ctx, a),
        Action::Order(a) => place_order(ctx, &home, limits, *a, now),
        Action::Events { id } => show_events(ctx, id),
        Action::Cancel { id, reason } => cancel(ctx, id, &reason, now),
        Action::Fills { limit } => show_fills(ctx, limit),
        Action::Trades { limit } => show_trades(ctx, limit),
        Action::Process(a) => process(ctx, &home, limits, *a, now),
        Action::Reset {
            balance,
            reason,
            close_positions,
        } => reset(ctx, limits, balance, &reason, close_positions, now),
        Action::Mode { mode, reason } => set_or_show_mode(ctx, mode, reason, now),
        Action::Run(a) => super::paper_run::run(ctx, &home, a, pinned),
        Action::Cycles(a) => super::paper_run::cycles(ctx, a),
        Action::Decisions { cycle } => super::paper_run::decisions(ctx, cycle),
        Action::Health => super::paper_run::health(ctx),
        Action::VerifyLog => super::paper_run::verify_log(ctx),
        Action::Halt { reason } => super::paper_run::set_state(
            ctx,
            &home,
            TradingState::Halted,
            &reason,
            now.timestamp_millis(),
        ),
        Action::Reduce { reason } => super::paper_run::set_state(
            ctx,
            &home,
            TradingState::Reducing,
            &reason,
            now.timestamp_millis(),
        ),
        Action::Resume { reason } => super::paper_run::set_state(
            ctx,
            &home,
            TradingState::Active,
            &reason,
            now.timestamp_millis(),
        ),
    }
}

fn show_events(ctx: &Context, id: i64) -> Result<Outcome> {
    let events = ctx.db()?.read(|tx| {
        store::order(tx, id)?.ok_or_else(|| Error::invalid(format!("order: no order {id}")))?;
        store::order_events(tx, id)
    })?;
    if ctx.json {
        #[derive(Serialize)]
        struct Out<'a> {
            order_id: i64,
            events: &'a [store::OrderEventRecord],
        }
        print_json(&Out {
            order_id: id,
            events: &events,
        })?;
    } else {
        print_text(&table(events.iter().map(|e| EventLine {
            time: e.ts.clone(),
            event: e.event.clone(),
            from: e.from_state.clone().unwrap_or_default(),
            to: e.to_state.clone(),
            price: e.price.map(fmt_num).unwrap_or_default(),
            quantity: e.quantity.map(fmt_num).unwrap_or_default(),
            reason: e.reason.clone().unwrap_or_default(),
        })))?;
    }
    Ok(Outcome::Done)
}

fn cancel(ctx: &Context, id: i64, reason: &str, now: DateTime<Utc>) -> Result<Outcome> {
    let o = ctx
        .db()?
        .write(|tx| flowrex::execution::cancel(tx, id, reason, now))?;
    if ctx.json {
        print_json(&o)?;
    } else {
        print_text(&format!("order {} cancelled ({})", o.id, reason.trim()))?;
    }
    Ok(Outcome::Done)
}

fn show_fills(ctx: &Context, limit: usize) -> Result<Outcome> {
    let rows = ctx
        .db()?
        .read(|tx| paper::account::fills(tx, Some(limit)))?;
    if ctx.json {
        print_json(&Named::Fills { fills: &rows })?;
    } else if rows.is_empty() {
        print_text("no fills")?;
    } else {
        let cells = Cells::of(rows.iter().map(FillLine::from));
        let optional = ["requested", "slippage_bps", "commission", "effect"];
        print_text(&table_of(cells.optional(&optional)))?;
    }
    Ok(Outcome::Done)
}

fn show_trades(ctx: &Context, limit: usize) -> Result<Outcome> {
    let mut rows = ctx.db()?.read(paper::account::trades)?;
    let skip = rows.len().saturating_sub(limit);
    rows.drain(..skip);
    if ctx.json {
        print_json(&Named::Trades { trades: &rows })?;
    } else if rows.is_empty() {
        print_text("no closed trades")?;
    } else {
        let cells = Cells::of(rows.iter().map(TradeLine::from));
        print_text(&table_of(cells.optional(&["entered", "return_pct"])))?;
    }
    Ok(Outcome::Done)
}

fn reset(
    ctx: &Context,
    limits: Limits,
    balance: Option<String>,
    reason: &str,
    close_positions: bool,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let model = ctx.config.paper.resolve()?;
    let balance = match balance {
        Some(b) => parse_number("balance", &b)?,
        None => model.initial_balance,
    };
    let desk = desk(ctx, limits, &model);
    let out = ctx.db()?.write(|tx| {
        paper::account::reset(
            tx,
            &desk,
            model.costs(),
            balance,
            reason,
            close_positions,
            now,
        )
    })?;
    if ctx.json {
        return print_json(&out).map(|_| Outcome::Done);
    }
    let previous = out
        .previous
        .as_ref()
        .map(|p| {
            format!(
                "; account {} ended with equity {}",
                p.account_id,
                fmt_num(p.equity)
            )
        })
        .unwrap_or_default();
    print_text(&format!(
        "account {} opened with balance {} ({} position(s) closed, {} order(s) cancelled{previous})",
        out.account.account_id,
        fmt_num(out.account.balance),
        out.closed_positions,
        out.cancelled_orders,
    ))?;
    Ok(Outcome::Done)
}

fn resolve_now(now: Option<&str>) -> Result<DateTime<Utc>> {
    match now {
        None => Ok(Utc::now()),
        Some(s) => {
            let ms = parse_cli_flag("now", s)?.first;
            DateTime::from_timestamp_millis(ms)
                .ok_or_else(|| Error::invalid(format!("now: '{s}' is out of range")))
        }
    }
}

fn desk<'a>(ctx: &'a Context, limits: Limits, model: &FillModel) -> Desk<'a> {
    Desk {
        limits,
        instruments: &ctx.config.instruments,
        latency_ms: model.latency_ms,
        initial_balance: model.initial_balance,
    }
}

fn number(field: &str, v: &Option<String>) -> Result<Option<f64>> {
    v.as_deref().map(|t| parse_number(field, t)).transpose()
}

fn place_order(
    ctx: &Context,
    home: &Home,
    limits: Limits,
    a: OrderArgs,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let mut cfg = ctx.config.paper.clone();
    if let Some(l) = a.latency_ms {
        cfg.latency_ms = Some(l);
    }
    let model = cfg.resolve()?;
    let interval: Interval = a.interval.parse()?;
    let otype = OrderType::parse_field("type", &a.order_type)?;
    let kind = OrderKind::from_parts(
        otype,
        number("limit_price", &a.limit_price)?,
        number("stop_price", &a.stop_price)?,
    )?;
    let tif = TimeInForce::parse_field("tif", &a.tif)?;
    let lot = ctx.config.instruments.get(&a.symbol).lot_size;
    let units = match (number("units", &a.units)?, number("lots", &a.lots)?) {
        (Some(u), _) => Some(u),
        (None, Some(l)) => Some(l * lot),
        (None, None) => None,
    };
    let desk = desk(ctx, limits, &model);
    let placed = if a.exit {
        let req = ExitRequest {
            symbol: a.symbol.clone(),
            interval,
            strategy: a.strategy.clone(),
            kind,
            tif,
            units,
            client_id: a.client_id.clone(),
        };
        ctx.db()?
            .write(|tx| flowrex::execution::place_exit(tx, &desk, &req, now))?
    } else {
        let units = units.ok_or_else(|| Error::usage("--units or --lots is required"))?;
        let side = Side::parse_field("side", a.side.as_deref().unwrap_or_default())?;
        let reference = match (number("price", &a.price)?, kind) {
            (Some(p), _) => Some(p),
            (None, OrderKind::Market) => Some(last_close(home, &a.symbol, interval, now)?),
            (None, _) => None,
        };
        let req = OrderRequest {
            symbol: a.symbol.clone(),
            interval,
            strategy: a.strategy.clone(),
            side,
            kind,
            tif,
            units,
            stop_loss: number("stop_loss", &a.stop_loss)?,
            take_profit: number("take_profit", &a.take_profit)?,
            reference_price: reference,
            client_id: a.client_id.clone(),
        };
        ctx.db()?
            .write(|tx| flowrex::execution::place(tx, &desk, &req, now))?
    };
    show_placed(ctx, &placed)?;
    Ok(match placed {
        Placed::Denied(..) => Outcome::Refused,
        _ => Outcome::Done,
    })
}

/// The close of the last bar of `symbol`/`interval` closed by `now`: a market order's reference price.
fn last_close(home: &Home, symbol: &str, interval: Interval, now: DateTime<Utc>) -> Result<f64> {
    let all = home.store().load(symbol, interval, &TimeRange::ALL)?;
    let closed = paper::closed_bars(&all, interval, now.timestamp_millis());
    closed.close.last().copied().ok_or_else(|| {
        Error::invalid(format!(
            "price: no closed {symbol} {interval} bar in the store by {}; pass --price",
            now.to_rfc3339()
        ))
    })
}

fn process(
    ctx: &Context,
    home: &Home,
    limits: Limits,
    a: ProcessArgs,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let over = PaperConfig {
        slippage_bps: a.slippage_bps,
        slippage_pips: a.slippage_pips,
        random_slippage_bps: a.random_slippage_bps,
        random_slippage_pips: a.random_slippage_pips,
        commission: a.commission,
        commission_per_lot: a.commission_per_lot,
        spread: a.spread,
        fill_probability: a.fill_probability,
        max_volume_share: a.max_volume_share,
        stop_policy: a
            .stop_policy
            .as_deref()
            .map(|p| {
                p.parse::<StopPolicy>().map_err(|_| {
                    Error::invalid(format!(
                        "stop_policy: unknown policy '{p}'; expected pessimistic or optimistic"
                    ))
                })
            })
            .transpose()?,
        seed: a.seed,
        ..PaperConfig::default()
    };
    let model = ctx.config.paper.overlay(&over).resolve()?;
    let markets = match (a.symbol, a.interval) {
        (Some(s), Some(i)) => Some(vec![(s, i.parse::<Interval>()?)]),
        _ => None,
    };
    let report = {
        let mut db = ctx.db()?;
        paper::process_store(
            &mut db,
            &home.store(),
            &model,
            &ctx.config.instruments,
            limits,
            markets,
            now.timestamp_millis(),
        )?
    };
    if ctx.json {
        let inst = &ctx.config.instruments;
        let account = ctx.db()?.read(|tx| paper::account::account(tx, inst))?;
        #[derive(Serialize)]
        struct Out<'a> {
            processed: &'a paper::ProcessReport,
            settings: &'a FillModel,
            account: Option<Account>,
        }
        print_json(&Out {
            processed: &report,
            settings: &model,
            account,
        })?;
    } else if !ctx.quiet {
        let s = &report.summary;
        print_text(&format!(
            "processed {} bar(s) of {} in {} transaction(s): {} fill(s){}",
            s.bars,
            if report.markets.is_empty() {
                "no market (no working orders or open positions)".to_string()
            } else {
                report.markets.join(", ")
            },
            s.transactions,
            s.fills,
            s.run_id
                .map(|r| format!(" (run {r}, seed {})", model.seed))
                .unwrap_or_default()
        ))?;
    }
    Ok(Outcome::Done)
}

fn show_account(ctx: &Context, verify: bool) -> Result<Outcome> {
    let inst = &ctx.config.instruments;
    let (account, check) = ctx.db()?.read(|tx| {
        let a = paper::account::account(tx, inst)?;
        let v = if verify {
            Some(paper::account::verify(tx)?)
        } else {
            None
        };
        Ok((a, v))
    })?;
    let bad = check.as_ref().is_some_and(|v| !v.problems.is_empty());
    if ctx.json {
        #[derive(Serialize)]
        struct Out<'a> {
            account: &'a Option<Account>,
            verify: &'a Option<paper::account::Verification>,
        }
        print_json(&Out {
            account: &account,
            verify: &check,
        })?;
    } else {
        match &account {
            None => print_text(&format!(
                "no paper account yet: the first order opens one with {} ([paper] initial_balance)",
                fmt_num(ctx.config.paper.resolve()?.initial_balance)
            ))?,
            Some(a) => print_text(&render_account(a))?,
        }
        if let Some(v) = &check {
            if v.problems.is_empty() {
                print_text(&format!(
                    "verified: {} fill(s) re-folded, {} order(s) checked, no problem",
                    v.fills, v.orders
                ))?;
            } else {
                print_text(&format!("VERIFY FAILED:\n{}", v.problems.join("\n")))?;
            }
        }
    }
    Ok(if bad { Outcome::Refused } else { Outcome::Done })
}

/// `{"<name>": [...]}` documents with the field order kept.
#[derive(Serialize)]
#[serde(untagged)]
enum Named<'a> {
    Fills {
        fills: &'a [paper::account::Fill],
    },
    Trades {
        trades: &'a [paper::account::PaperTrade],
    },
    Positions {
        positions: &'a [Position],
    },
    Orders {
        orders: &'a [Order],
    },
}

#[derive(Tabled)]
struct KeyValue {
    field: &'static str,
    value: String,
}

fn render_account(a: &Account) -> String {
    let kv = |field, value: String| KeyValue { field, value };
    table([
        kv("account", format!("{} (opened {})", a.account_id, a.opened)),
        kv("mode", a.mode.as_str().into()),
        kv("initial balance", fmt_num(a.initial_balance)),
        kv("balance", fmt_num(a.balance)),
        kv("equity", fmt_num(a.equity)),
        kv("unrealized P&L", fmt_num(a.unrealized_pnl)),
        kv("realized P&L", fmt_num(a.realized_pnl)),
        kv("total P&L", fmt_num(a.total_pnl)),
        kv("commission", fmt_num(a.commission)),
        kv("margin used", fmt_num(a.margin_used)),
        kv("margin available", fmt_num(a.margin_available)),
        kv("open positions", a.open_positions.to_string()),
        kv(
            "trades (won)",
            format!("{} ({})", a.total_trades, a.winning_trades),
        ),
        kv("fills", a.fills.to_string()),
    ])
}

#[derive(Tabled)]
struct PositionLine {
    id: i64,
    market: String,
    book: String,
    side: &'static str,
    quantity: String,
    entry: String,
    current: String,
    unrealized: String,
    stop_loss: String,
    take_profit: String,
    #[tabled(display = "super::table_fit::short_time")]
    opened: String,
}

fn show_positions(ctx: &Context, rows: &[Position]) -> Result<()> {
    if ctx.json {
        return print_json(&Named::Positions { positions: rows });
    }
    if rows.is_empty() {
        return print_text("no open positions");
    }
    let cells = Cells::of(rows.iter().map(|p| PositionLine {
        id: p.id,
        market: format!("{} {}", p.symbol, p.interval),
        book: p.strategy.clone(),
        side: p.side.as_str(),
        quantity: fmt_num(p.quantity),
        entry: fmt_num(p.entry_price),
        current: fmt_num(p.current_price),
        unrealized: fmt_num(p.unrealized_pnl),
        stop_loss: p.stop_loss.map(fmt_num).unwrap_or_default(),
        take_profit: p.take_profit.map(fmt_num).unwrap_or_default(),
        opened: p.opened.clone(),
    }));
    print_text(&table_of(cells.optional(&["book", "opened"])))
}

fn show_orders(ctx: &Context, a: OrdersArgs) -> Result<Outcome> {
    let mut states = Vec::new();
    for s in &a.status {
        if s.trim().eq_ignore_ascii_case("working") {
            states.extend([
                OrderState::Submitted,
                OrderState::Triggered,
                OrderState::PartiallyFilled,
            ]);
        } else {
            states.push(OrderState::parse_field("status", s)?);
        }
    }
    let filter = OrderFilter {
        states,
        symbol: a.symbol,
        limit: (!a.all).then_some(a.limit),
    };
    let rows = ctx.db()?.read(|tx| match store::current_account(tx)? {
        Some(acc) => store::orders(tx, acc.id, &filter),
        None => Ok(Vec::new()),
    })?;
    if ctx.json {
        print_json(&Named::Orders { orders: &rows })?;
    } else if rows.is_empty() {
        print_text("no orders match")?;
    } else {
        let cells = Cells::of(rows.iter().map(OrderLine::from));
        print_text(&table_of(cells.optional(&[
            "tif",
            "book",
            "avg_price",
            "filled",
        ])))?;
    }
    Ok(Outcome::Done)
}

#[derive(Tabled)]
struct OrderLine {
    id: i64,
    market: String,
    book: String,
    role: &'static str,
    side: &'static str,
    order: String,
    tif: &'static str,
    quantity: String,
    filled: String,
    avg_price: String,
    state: &'static str,
    reason: String,
}

fn order_text(k: &OrderKind) -> String {
    match *k {
        OrderKind::Market => "market".into(),
        OrderKind::Limit { limit } => format!("limit {}", fmt_num(limit)),
        OrderKind::Stop { stop } => format!("stop {}", fmt_num(stop)),
        OrderKind::StopLimit { stop, limit } => {
            format!("stop {} limit {}", fmt_num(stop), fmt_num(limit))
        }
    }
}

impl From<&Order> for OrderLine {
    fn from(o: &Order) -> Self {
        OrderLine {
            id: o.id,
            market: format!("{} {}", o.symbol, o.interval),
            book: o.strategy.clone(),
            role: o.role.as_str(),
            side: o.side.as_str(),
            order: order_text(&o.kind),
            tif: o.tif.as_str(),
            quantity: fmt_num(o.quantity),
            filled: fmt_num(o.filled_quantity),
            avg_price: o.avg_fill_price.map(fmt_num).unwrap_or_default(),
            state: o.state.as_str(),
            reason: o.reason.clone().unwrap_or_default(),
        }
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

fn show_placed(ctx: &Context, p: &Placed) -> Result<()> {
    #[derive(Serialize)]
    struct Out<'a> {
        result: &'static str,
        order: &'a Order,
        #[serde(skip_serializing_if = "Option::is_none")]
        decision: Option<&'a Decision>,
    }
    let (result, decision) = match p {
        Placed::Submitted(_) => ("submitted", None),
        Placed::Previewed(_) => ("previewed", None),
        Placed::Existing(_) => ("existing", None),
        Placed::Denied(_, d) => ("denied", Some(d)),
    };
    let o = p.order();
    if ctx.json {
        return print_json(&Out {
            result,
            order: o,
            decision,
        });
    }
    let mut text = format!(
        "{} order {}: {} {} {} {} {} units ({}){}",
        result.to_uppercase(),
        o.id,
        o.symbol,
        o.interval,
        o.side,
        order_text(&o.kind),
        fmt_num(o.quantity),
        o.tif,
        match p {
            Placed::Previewed(_) => " · guide mode: recorded as a preview, it will not fill",
            Placed::Existing(_) => " · this client id was placed before; nothing new recorded",
            _ => "",
        }
    );
    if let Some(d) = decision {
        text.push('\n');
        text.push_str(&table(d.verdicts.iter().map(|v| VerdictLine {
            rule: v.rule.to_string(),
            value: fmt_num(v.value),
            limit: format!("{} {}", v.comparison.as_str(), fmt_num(v.limit)),
            result: if v.pass { "pass" } else { "FAIL" },
            detail: v.detail.clone(),
        })));
    }
    print_text(&text)
}

#[derive(Tabled)]
struct EventLine {
    #[tabled(display = "super::table_fit::short_time")]
    time: String,
    event: String,
    from: String,
    to: String,
    price: String,
    quantity: String,
    reason: String,
}

#[derive(Tabled)]
struct FillLine {
    id: i64,
    #[tabled(display = "super::table_fit::short_time")]
    time: String,
    order: i64,
    market: String,
    side: &'static str,
    effect: String,
    quantity: String,
    requested: String,
    price: String,
    slippage_bps: String,
    commission: String,
    realized: String,
}

impl From<&paper::account::Fill> for FillLine {
    fn from(f: &paper::account::Fill) -> Self {
        FillLine {
            id: f.id,
            time: f.time.clone(),
            order: f.order_id,
            market: format!("{} {}", f.symbol, f.interval),
            side: f.side.as_str(),
            effect: f.effect.clone(),
            quantity: fmt_num(f.quantity),
            requested: fmt_num(f.requested_price),
            price: fmt_num(f.price),
            slippage_bps: format!("{:.2}", f.slippage_bps),
            commission: fmt_num(f.commission),
            realized: fmt_num(f.realized),
        }
    }
}

#[derive(Tabled)]
struct TradeLine {
    id: i64,
    market: String,
    side: &'static str,
    size: String,
    entry: String,
    exit: String,
    pnl: String,
    return_pct: String,
    #[tabled(display = "super::table_fit::short_time")]
    entered: String,
    #[tabled(display = "super::table_fit::short_time")]
    exited: String,
    reason: &'static str,
}

impl From<&paper::account::PaperTrade> for TradeLine {
    fn from(t: &paper::account::PaperTrade) -> Self {
        TradeLine {
            id: t.id,
            market: format!("{} {}", t.symbol, t.interval),
            side: Side::of_size(t.size).as_str(),
            size: fmt_num(t.size.abs()),
            entry: fmt_num(t.entry_price),
            exit: fmt_num(t.exit_price),
            pnl: fmt_num(t.pnl),
            return_pct: format!("{:.2}", t.return_pct),
            entered: store::ts_text(t.entry_ms),
            exited: store::ts_text(t.exit_ms),
            reason: t.exit_reason.as_str(),
        }
    }
}

fn set_or_show_mode(
    ctx: &Context,
    mode: Option<String>,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let mut db = ctx.db()?;
    match mode {
        None => {
            let (current, history) =
                db.read(|tx| Ok((store::mode(tx)?, store::mode_changes(tx)?)))?;
            if ctx.json {
                #[derive(Serialize)]
                struct Out<'a> {
                    mode: Mode,
                    changes: &'a [store::ModeChange],
                }
                print_json(&Out {
                    mode: current,
                    changes: &history,
                })?;
            } else {
                let mut text = format!("mode: {}", current.as_str());
                if !history.is_empty() {
                    text.push('\n');
                    text.push_str(&table(history.iter().map(|c| ModeLine {
                        time: c.ts.clone(),
                        from: c.old_mode.clone(),
                        to: c.new_mode.clone(),
                        reason: c.reason.clone(),
                    })));
                }
                print_text(&text)?;
            }
        }
        Some(m) => {
            let new = Mode::parse(&m)?;
            let reason = reason.ok_or_else(|| {
                Error::usage(
                    "paper-trade mode: changing the mode needs --reason TEXT (it is audited)",
                )
            })?;
            let change =
                db.write(|tx| store::set_mode(tx, new, &reason, now.timestamp_millis()))?;
            if ctx.json {
                print_json(&change)?;
            } else {
                print_text(&format!(
                    "mode: {} → {} ({})",
                    change.old_mode, change.new_mode, change.reason
                ))?;
            }
        }
    }
    Ok(Outcome::Done)
}

#[derive(Tabled)]
struct ModeLine {
    #[tabled(display = "super::table_fit::short_time")]
    time: String,
    from: String,
    to: String,
    reason: String,
}
