//! Flowrex: a toolkit for quants. Candle store, backtests, optimization, journal, risk checks and paper
//! trading, as a library; `src/main.rs` is a thin command-line front end over it.
//!
//! Data flows one way: store → [`candles::Candles`] → indicators → strategy signals → backtest engine →
//! metrics → playbook / journal. Library code never prints; it returns values and errors.

pub mod agents;
pub mod atomic;
pub mod backtest;
pub mod candles;
pub mod config;
pub mod db;
pub mod engine;
pub mod error;
pub mod execution;
pub mod hex;
pub mod home;
pub mod huge_pages;
pub mod indicators;
pub mod journal;
pub mod json;
pub mod metrics;
pub mod optimize;
pub mod outputs;
pub mod paper;
pub mod playbook;
pub mod prom;
pub mod providers;
pub mod report;
pub mod risk;
pub mod strategy;
pub mod trade;

pub use error::{Error, Result};
