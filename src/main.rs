//! The `flowrex` binary: parse arguments, run, map the outcome to an exit code. The command line lives
//! here (`cli/`), not in the library.

mod cli;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    cli::init_logging(&cli.global);
    let result = cli::run(cli);
    let code = cli::exit_code(&result);
    if let (Err(e), 1..) = (&result, code) {
        eprintln!("error: {e}");
    }
    std::process::exit(code);
}
