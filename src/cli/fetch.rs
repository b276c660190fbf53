//! `flowrex fetch`: import CSV files, generate synthetic data, list and verify the store.

use super::Context;
use crate::error::Result;

/// Arguments of `flowrex fetch`.
#[derive(Debug, clap::Args)]
pub struct FetchArgs {}

/// Runs `flowrex fetch`.
pub fn run(_ctx: &Context, _args: FetchArgs) -> Result<i32> {
    Ok(0)
}
