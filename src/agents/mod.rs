//! The agents: `paper-trade run`'s pipeline of deterministic stages — Supervisor → Strategy → Risk →
//! Execution — that trades playbooks forward on paper, one cycle per newly closed bar, recording every
//! decision with its reason. No language model: each stage is a small function with a written rule.
//!
//! - [`settings`]: which playbooks trade and their `[paper]` sizing rule.
//! - [`stages`]: the four stages; [`run`]: the cycles of a run, grouped in transactions.
//! - [`risk_stage`]: the Risk stage's sizing and trade request, shared with `backtest --risk-gate`
//!   ([`gate`], which replays the risk book inside the bar loop).
//! - [`state`]: the trading state (active, reducing, halted) and the emergency latch.
//! - [`log`]: the append-only, hash-chained decision log; [`health`]: the stages' health read from it.
//!
//! The agents sit above the execution engine and the paper broker: every order goes through
//! `execution::place`, whose risk validator decides inside the order's transaction.

pub mod gate;
pub mod health;
pub mod log;
pub mod risk_stage;
pub mod run;
pub mod settings;
pub mod stages;
pub mod state;

pub use gate::{GateMarket, GateReport, RiskGate};
pub use risk_stage::{Proposal, RiskDesk};
pub use settings::Selected;
