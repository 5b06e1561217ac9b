//! `callrecon`: parse the command line, lay the configuration file under it, set up logs and
//! progress, run the command, map the outcome to an exit code.

use callrecon::cli::Cli;
use callrecon::error::{Exit, exit_code, is_broken_pipe};
use callrecon::logging::{self, LogFormat};
use callrecon::progress::{self, Progress};
use clap::{CommandFactory, FromArgMatches};
use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    let matches = match Cli::command().try_get_matches() {
        Ok(matches) => matches,
        Err(e) => return usage(e),
    };
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // The file may choose the log format, so it is read first; its errors are logged in the
    // format the flags and environment chose.
    let config = callrecon::config::merge::load_and_apply(&mut cli, &matches);
    logging::init(cli.log_format, cli.verbose, cli.quiet);
    let config = match config {
        Ok(config) => config,
        Err(err) => return fail(&err),
    };
    // Bars only where someone watches: a terminal, text logs, not --quiet.
    progress::install(Progress::new(
        std::io::stderr().is_terminal() && cli.log_format == LogFormat::Text && !cli.quiet,
    ));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            logging::fail(
                &format!("cannot start the async runtime: {e}"),
                Exit::LocalIo as u8,
            );
            return ExitCode::from(Exit::LocalIo as u8);
        }
    };
    match runtime.block_on(callrecon::app::run(cli.command, config.as_ref())) {
        Ok(()) => ExitCode::SUCCESS,
        // `callrecon report --out - | head` closes the pipe early: not an error (ripgrep #1966).
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

/// clap's refusal of the command line, as one JSON line when JSON logs were asked for: a
/// log shipper must not meet clap's plain text either.
fn usage(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let args: Vec<String> = std::env::args().collect();
    let json = args.iter().any(|a| a == "--log-format=json")
        || args
            .windows(2)
            .any(|w| w[0] == "--log-format" && w[1] == "json")
        || std::env::var("CALLRECON_LOG_FORMAT").is_ok_and(|v| v == "json");
    if !json || matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        e.exit()
    }
    logging::init(LogFormat::Json, 0, false);
    let text = e.render().to_string();
    // The message is the first paragraph; usage and hints follow a blank line.
    let message: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let message = message.join(" ");
    logging::fail(message.trim_start_matches("error: "), Exit::Usage as u8);
    ExitCode::from(Exit::Usage as u8)
}

fn fail(err: &anyhow::Error) -> ExitCode {
    let code = exit_code(err) as u8;
    logging::fail(&format!("{err:#}"), code);
    ExitCode::from(code)
}
