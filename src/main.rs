//! The `flowrex` binary: parse arguments, run, map errors to exit codes. Nothing else lives here.

use clap::Parser;

fn main() {
    let cli = flowrex::cli::Cli::parse();
    flowrex::cli::init_logging(&cli.global);
    let code = match flowrex::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}
