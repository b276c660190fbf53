//! The integration tests: one test binary (it links the library and finds the `flowrex` binary once),
//! one module per area, and `support` with what they share (homes, the `flowrex` runner, candles).

mod backtest_engine;
mod backtest_parity;
mod fetch_providers;
mod home;
mod limits;
mod optimize;
mod outputs;
mod report_browser;
mod risk_check;
mod store;
mod strategies;
mod support;
