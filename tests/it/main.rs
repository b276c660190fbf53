//! The integration tests: one test binary (it links the library and finds the `flowrex` binary once),
//! one module per area.

mod backtest_engine;
mod backtest_parity;
mod fetch_providers;
mod optimize;
mod risk_check;
mod store;
mod strategies;
