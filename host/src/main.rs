//! `hutong`: parse the command line and run it; the commands live in
//! [`hutong_host::cli`].

use std::process::ExitCode;

use clap::Parser;
use hutong_host::cli::{self, Cli};

#[tokio::main]
async fn main() -> ExitCode {
    let command_line = Cli::parse();
    let default_filter = command_line.default_log_filter();
    cli::init_tracing(command_line.log_format, default_filter);
    match cli::run(command_line).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The person at the terminal gets the reasons, never a
            // backtrace (also with RUST_BACKTRACE set); the log gets all.
            tracing::debug!(error = ?err, "command failed");
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
