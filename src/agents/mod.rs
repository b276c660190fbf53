//! The agents: `paper-trade run`'s pipeline of deterministic stages — Supervisor → Strategy → Risk →
//! Execution — that trades playbooks forward on paper, one cycle per newly closed bar, recording every
//! decision with its reason. No language model: each stage is a small function with a written rule.
//!
//! - [`settings`]: which playbooks trade and their `[paper]` sizing rule.
//! - [`risk_stage`]: the Risk stage's sizing and trade request, shared with `backtest --risk-gate`
//!   ([`gate`]).

pub mod gate;
pub mod risk_stage;
pub mod settings;

pub use gate::{GateMarket, GateReport, RiskGate};
pub use risk_stage::{Proposal, RiskDesk};
pub use settings::Selected;
pub mod health;
pub mod log;
pub mod run;
pub mod stages;
pub mod state;
