//! The `flowrex` binary: parse arguments, run, map the outcome to an exit code. The command line lives
//! here (`cli/`), not in the library.

mod cli;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    cli::init_logging(&cli.global);
    let code = match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}
