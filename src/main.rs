//! Binary entry point: parse the command line, hand over to `cli::run`, print errors with
//! their causes. The only place `anyhow` reaches the user.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = ai_proxy::cli::Cli::parse();
    match ai_proxy::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
