//! The order vocabulary: kinds, time in force, roles, states, the events that move an order between
//! states, and the lifecycle as ONE transition table ([`TRANSITIONS`]). Every state change anywhere in
//! the execution engine goes through [`next_state`], so a change the table does not list is an error,
//! never a silent write.
//!
//! ```text
//!          ┌─ accept ─→ submitted ─ trigger ─→ triggered ─┐
//!   new ───┼─ preview ─→ previewed (guide mode, final)    │ partial_fill / fill
//!          ├─ deny ────→ denied (risk said no, final)     ▼
//!          └─ reject ──→ rejected          submitted / triggered / partially_filled
//!                                            ─ fill → filled, ─ cancel → cancelled,
//!                                            ─ expire → expired, ─ reject → rejected (not once filled)
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::trade::Side;

macro_rules! word_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $v),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$v),+];

            /// The name stored in the database and printed in JSON.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }

            /// Parses the stored name; an unknown one names `field` and lists the valid ones.
            pub fn parse_field(field: &str, text: &str) -> Result<$name> {
                let t = text.trim().to_ascii_lowercase().replace('-', "_");
                $name::ALL.iter().copied().find(|v| v.as_str() == t).ok_or_else(|| {
                    Error::invalid(format!(
                        "{field}: unknown value '{text}'; expected one of {}",
                        $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
                    ))
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

word_enum! {
    /// How an order is priced.
    OrderType {
        /// At the next eligible bar's open (plus slippage).
        Market = "market",
        /// At the limit price or better.
        Limit = "limit",
        /// Becomes a market order when the stop price trades.
        Stop = "stop",
        /// Becomes a limit order when the stop price trades.
        StopLimit = "stop_limit",
    }
}

word_enum! {
    /// How long an order works.
    TimeInForce {
        /// Good till cancelled.
        Gtc = "gtc",
        /// Immediate or cancel: whatever does not fill at the open of its first eligible bar expires.
        Ioc = "ioc",
        /// Until the end of the UTC day it was submitted on.
        Day = "day",
    }
}

word_enum! {
    /// What an order does to a position.
    Role {
        /// Opens a position (after closing any open one of the same book: exclusive orders). Needs a
        /// risk approval.
        Entry = "entry",
        /// Reduces or closes a position (reduce-only); no risk approval.
        Exit = "exit",
        /// The stop-loss leg of a bracket (reduce-only, one-cancels-other with the take profit).
        StopLoss = "stop_loss",
        /// The take-profit leg of a bracket.
        TakeProfit = "take_profit",
    }
}

impl Role {
    /// True for the reduce-only roles.
    pub fn reduces(self) -> bool {
        self != Role::Entry
    }
}

word_enum! {
    /// Where an order is in its lifecycle.
    OrderState {
        /// Created inside the submitting transaction; never seen committed.
        New = "new",
        /// The risk validator said no (final).
        Denied = "denied",
        /// Guide mode: validated and recorded, never sent (final).
        Previewed = "previewed",
        /// Working at the broker.
        Submitted = "submitted",
        /// A stop-limit whose stop traded: now a working limit.
        Triggered = "triggered",
        /// Part of the quantity filled; the rest works.
        PartiallyFilled = "partially_filled",
        /// Completely filled (final).
        Filled = "filled",
        /// Cancelled by a person, one-cancels-other, or its position closing (final).
        Cancelled = "cancelled",
        /// Its time in force ran out (final).
        Expired = "expired",
        /// The broker refused it: no margin, emergency shutdown, nothing to reduce (final).
        Rejected = "rejected",
    }
}

impl OrderState {
    /// True for the states an order never leaves.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            OrderState::New
                | OrderState::Submitted
                | OrderState::Triggered
                | OrderState::PartiallyFilled
        )
    }

    /// True for the states in which an order can still fill.
    pub fn is_working(self) -> bool {
        matches!(
            self,
            OrderState::Submitted | OrderState::Triggered | OrderState::PartiallyFilled
        )
    }

    /// The working states, as stored (for SQL).
    pub const WORKING_SQL: &'static str = "('submitted', 'triggered', 'partially_filled')";
}

word_enum! {
    /// What happens to an order. Each row of the event log names one.
    OrderEvent {
        /// The order row was written (from no state to `new`).
        Create = "create",
        /// Risk approved and the mode is autonomous.
        Accept = "accept",
        /// Risk approved and the mode is guide.
        Preview = "preview",
        /// Risk rejected.
        Deny = "deny",
        /// A stop-limit's stop traded.
        Trigger = "trigger",
        /// Some, not all, of the quantity filled.
        PartialFill = "partial_fill",
        /// The rest of the quantity filled.
        Fill = "fill",
        /// Cancelled.
        Cancel = "cancel",
        /// Time in force ran out.
        Expire = "expire",
        /// Refused by the broker.
        Reject = "reject",
    }
}

use OrderEvent as E;
use OrderState as S;

/// The lifecycle: `(from, event, to)`. The only legal state changes.
pub const TRANSITIONS: &[(OrderState, OrderEvent, OrderState)] = &[
    (S::New, E::Accept, S::Submitted),
    (S::New, E::Preview, S::Previewed),
    (S::New, E::Deny, S::Denied),
    (S::New, E::Reject, S::Rejected),
    (S::Submitted, E::Trigger, S::Triggered),
    (S::Submitted, E::PartialFill, S::PartiallyFilled),
    (S::Submitted, E::Fill, S::Filled),
    (S::Submitted, E::Cancel, S::Cancelled),
    (S::Submitted, E::Expire, S::Expired),
    (S::Submitted, E::Reject, S::Rejected),
    (S::Triggered, E::PartialFill, S::PartiallyFilled),
    (S::Triggered, E::Fill, S::Filled),
    (S::Triggered, E::Cancel, S::Cancelled),
    (S::Triggered, E::Expire, S::Expired),
    (S::Triggered, E::Reject, S::Rejected),
    (S::PartiallyFilled, E::PartialFill, S::PartiallyFilled),
    (S::PartiallyFilled, E::Fill, S::Filled),
    (S::PartiallyFilled, E::Cancel, S::Cancelled),
    (S::PartiallyFilled, E::Expire, S::Expired),
];

/// The state `event` moves an order in `from` to, or an error naming both when the table has no
/// such row.
pub fn next_state(from: OrderState, event: OrderEvent) -> Result<OrderState> {
    TRANSITIONS
        .iter()
        .find(|(f, e, _)| *f == from && *e == event)
        .map(|(_, _, to)| *to)
        .ok_or_else(|| {
            Error::invalid(format!(
                "order: cannot {event} an order that is {from} (allowed from {from}: {})",
                allowed_from(from)
            ))
        })
}

fn allowed_from(from: OrderState) -> String {
    let names: Vec<&str> = TRANSITIONS
        .iter()
        .filter(|(f, _, _)| *f == from)
        .map(|(_, e, _)| e.as_str())
        .collect();
    if names.is_empty() {
        "nothing, it is final".into()
    } else {
        names.join(", ")
    }
}

/// How an order is priced, with its prices.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OrderKind {
    /// At the next eligible open.
    Market,
    /// At `limit` or better.
    Limit {
        /// The limit price.
        limit: f64,
    },
    /// A market order once `stop` trades.
    Stop {
        /// The stop (trigger) price.
        stop: f64,
    },
    /// A limit order at `limit` once `stop` trades.
    StopLimit {
        /// The stop (trigger) price.
        stop: f64,
        /// The limit price after the trigger.
        limit: f64,
    },
}

impl OrderKind {
    /// The kind's name.
    pub fn order_type(&self) -> OrderType {
        match self {
            OrderKind::Market => OrderType::Market,
            OrderKind::Limit { .. } => OrderType::Limit,
            OrderKind::Stop { .. } => OrderType::Stop,
            OrderKind::StopLimit { .. } => OrderType::StopLimit,
        }
    }

    /// The limit price, if any.
    pub fn limit_price(&self) -> Option<f64> {
        match *self {
            OrderKind::Limit { limit } | OrderKind::StopLimit { limit, .. } => Some(limit),
            _ => None,
        }
    }

    /// The stop price, if any.
    pub fn stop_price(&self) -> Option<f64> {
        match *self {
            OrderKind::Stop { stop } | OrderKind::StopLimit { stop, .. } => Some(stop),
            _ => None,
        }
    }

    /// Rebuilds a kind from its stored columns; a missing price names the column.
    pub fn from_parts(t: OrderType, limit: Option<f64>, stop: Option<f64>) -> Result<OrderKind> {
        let need = |v: Option<f64>, name: &str| {
            v.ok_or_else(|| Error::invalid(format!("{name}: required for a {t} order")))
        };
        Ok(match t {
            OrderType::Market => OrderKind::Market,
            OrderType::Limit => OrderKind::Limit {
                limit: need(limit, "limit_price")?,
            },
            OrderType::Stop => OrderKind::Stop {
                stop: need(stop, "stop_price")?,
            },
            OrderType::StopLimit => OrderKind::StopLimit {
                stop: need(stop, "stop_price")?,
                limit: need(limit, "limit_price")?,
            },
        })
    }

    /// Checks the prices are positive and finite; the error names the price.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("limit_price", self.limit_price()),
            ("stop_price", self.stop_price()),
        ] {
            if let Some(v) = v
                && !(v.is_finite() && v > 0.0)
            {
                return Err(Error::invalid(format!(
                    "{name}: must be a positive number, got {v}"
                )));
            }
        }
        Ok(())
    }
}

/// An order as stored: its definition and where it is in its lifecycle. Read-only outside the
/// execution engine: values come from the database, and only the engine writes order rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Order {
    /// Order id (per database, increasing).
    pub id: i64,
    /// The account epoch it belongs to.
    pub account_id: i64,
    /// The caller's idempotency key, if given.
    pub client_id: Option<String>,
    /// Instrument.
    pub symbol: String,
    /// The bar series it is matched on.
    pub interval: String,
    /// The book it trades in (a strategy or playbook name; empty for manual orders).
    pub strategy: String,
    /// Entry, exit or a bracket leg.
    pub role: Role,
    /// Buy (long) or sell (short).
    pub side: Side,
    /// Pricing.
    #[serde(flatten)]
    pub kind: OrderKind,
    /// Time in force.
    pub tif: TimeInForce,
    /// Units ordered.
    pub quantity: f64,
    /// The bracket's stop loss (entries).
    pub stop_loss: Option<f64>,
    /// The bracket's take profit (entries).
    pub take_profit: Option<f64>,
    /// The price the risk check measured from (entries).
    pub reference_price: Option<f64>,
    /// The entry a bracket leg belongs to.
    pub parent_id: Option<i64>,
    /// The risk audit row (entries).
    pub risk_decision_id: Option<i64>,
    /// Submitted at (ms, UTC).
    pub submitted_ms: i64,
    /// Submitted at (RFC 3339).
    pub submitted_ts: String,
    /// Bars opening before this (submit time + latency) are not eligible.
    pub active_from_ms: i64,
    /// Day orders: the end of their UTC day.
    pub expires_ms: Option<i64>,
    /// Lifecycle state.
    pub state: OrderState,
    /// Units filled so far.
    pub filled_quantity: f64,
    /// Average fill price so far.
    pub avg_fill_price: Option<f64>,
    /// The position it opened (entries) or reduces (exits).
    pub position_id: Option<i64>,
    /// The reason code of the last change (a denial's failed rules, `oco`, `insufficient_margin`, …).
    pub reason: Option<String>,
}

impl Order {
    /// Units still to fill.
    pub fn remaining(&self) -> f64 {
        (self.quantity - self.filled_quantity).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_the_lifecycle() {
        // Every working state can fill, cancel and expire; final states go nowhere.
        for s in [S::Submitted, S::Triggered, S::PartiallyFilled] {
            assert!(s.is_working() && !s.is_final());
            for e in [E::Fill, E::Cancel, E::Expire, E::PartialFill] {
                assert!(next_state(s, e).is_ok(), "{s} {e}");
            }
        }
        for s in OrderState::ALL.iter().copied().filter(|s| s.is_final()) {
            for e in OrderEvent::ALL {
                let err = next_state(s, *e).unwrap_err().to_string();
                assert!(err.contains("nothing, it is final"), "{err}");
            }
        }
        // A filled-in-part order is not rejected (it is cancelled with a reason instead), and only a
        // submitted stop-limit triggers.
        assert!(next_state(S::PartiallyFilled, E::Reject).is_err());
        assert!(next_state(S::Triggered, E::Trigger).is_err());
        assert_eq!(next_state(S::New, E::Deny).unwrap(), S::Denied);
        // No two rows for the same (from, event).
        for (i, a) in TRANSITIONS.iter().enumerate() {
            for b in &TRANSITIONS[i + 1..] {
                assert!(!(a.0 == b.0 && a.1 == b.1), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn words_parse_with_dashes_and_case() {
        assert_eq!(
            OrderType::parse_field("type", "Stop-Limit").unwrap(),
            OrderType::StopLimit
        );
        let e = TimeInForce::parse_field("tif", "fok")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "tif: unknown value 'fok'; expected one of gtc, ioc, day");
    }
}
