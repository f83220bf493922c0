//! Binary entry point: parse the command line, hand over to `cli::run`, print errors with
//! their causes (redacted). The only place `anyhow` reaches the user.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    ai_proxy::memory::return_big_buffers_to_the_os();
    let args = ai_proxy::cli::tray::launch_args(
        std::env::args_os().collect(),
        std::env::current_exe().ok(),
    );
    let cli = ai_proxy::cli::Cli::parse_from(args);
    match ai_proxy::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", ai_proxy::redact::redact(&format!("{err:#}")));
            ExitCode::FAILURE
        }
    }
}
