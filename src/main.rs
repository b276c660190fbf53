//! The `flowrex` binary: parse arguments, run, map the outcome to an exit code. The command line lives
//! here (`cli/`), not in the library.

mod cli;

#[global_allocator]
static ALLOC: flowrex::huge_pages::HugePages = flowrex::huge_pages::HugePages;

fn main() {
    let cli = cli::parse();
    let logs = match cli::logging::init(&cli.global) {
        Ok(logs) => logs,
        Err(e) => {
            // Nothing is logged yet; the error still takes the form --log-format asks for.
            let code = e.exit_code();
            let format = cli.global.log_format;
            let time = (format == cli::LogFormat::Json).then(cli::logging::now);
            let message = e.to_string();
            eprintln!("{}", cli::logging::error_line(format, &message, code, time));
            std::process::exit(code);
        }
    };
    let global = cli.global.clone();
    let result = cli::run(cli);
    let code = cli::exit_code(&result);
    if let (Err(e), 1..) = (&result, code) {
        logs.final_error(&cli::pasteable(&global, &e.to_string()), code);
    }
    std::process::exit(code);
}
