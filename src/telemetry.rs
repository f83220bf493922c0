//! Logging setup: human-readable lines on stderr, level from `RUST_LOG` (default `info`).

use tracing_subscriber::EnvFilter;

/// Where log lines go, for the start-up line.
pub fn describe_destination() -> String {
    "stderr".to_owned()
}

/// Install the global subscriber once; later calls are no-ops.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
