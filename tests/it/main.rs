//! The integration tests: one test binary (it links the library and finds the `flowrex` binary once),
//! one module per area, and `support` with what they share (homes, the `flowrex` runner, candles).

mod agents;
mod backtest_engine;
mod backtest_parity;
mod brackets;
mod conventions;
mod csv_options;
mod examples;
mod exports;
mod fetch_providers;
mod home;
mod journal;
mod limits;
mod live_review;
mod metrics_file;
mod optimize;
mod optimize_fast;
mod outputs;
mod paper;
mod paper_journal;
mod playbooks;
mod report;
mod report_browser;
mod resample;
mod review;
mod risk_check;
mod shard_merge;
mod signals;
mod slurm;
mod state_seal;
mod store;
mod strategies;
mod support;
mod surprises;
mod time_window;
mod walk_forward;
