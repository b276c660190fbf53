//! The `flowrex` binary: parse arguments, run, map the outcome to an exit code. The command line lives
//! here (`cli/`), not in the library.

mod cli;

fn main() {
    let cli = cli::parse();
    let logs = match cli::logging::init(&cli.global) {
        Ok(logs) => logs,
        Err(e) => {
            eprintln!("error: --log-file: {e}");
            std::process::exit(e.exit_code());
        }
    };
    let result = cli::run(cli);
    let code = cli::exit_code(&result);
    if let (Err(e), 1..) = (&result, code) {
        logs.final_error(e, code);
    }
    std::process::exit(code);
}
