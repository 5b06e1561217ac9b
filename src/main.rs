//! `callrecon`: parse the command line, run the command, map the outcome to an exit code.

use callrecon::cli::Cli;
use callrecon::error::{Exit, exit_code, is_broken_pipe};
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("callrecon: cannot start the async runtime: {e}");
            return ExitCode::from(Exit::LocalIo as u8);
        }
    };
    match runtime.block_on(callrecon::app::run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        // `callrecon report --out - | head` closes the pipe early: not an error (ripgrep #1966).
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("callrecon: {err:#}");
            ExitCode::from(exit_code(&err) as u8)
        }
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
}
