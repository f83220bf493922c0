//! ai-proxy: a local LLM gateway that reads LiteLLM's config format.
//!
//! A request runs left to right: `server → router → translate → providers → egress`.
//!
//! - `auth`: upstream token sources and their shared cache; tokens are `Secret`s.
//! - `cli`: command-line types and one file per subcommand; never holds business logic.
//! - `config`: YAML as written (`raw`), then the resolved `Config`; never does network IO.
//! - `secrets`: `Secret<T>`, which cannot be printed; the only way secrets leave is `expose`.
//! - `wire`: serde types per dialect; no logic.
//! - `translate`: pure request/response/stream translation; no IO, no clocks.
//! - `providers`: one module per upstream; never renders client-facing errors.
//! - `egress`: the only place outbound HTTP clients are built (proxy per deployment, NO_PROXY,
//!   TLS roots plus corporate CAs, connect-failure messages); never reads `std::env`.
//! - `router`: alias → deployment, load balancing, rate limits, retries, cooldowns, fallbacks;
//!   never acts after the first byte reached the client.
//! - `server`: axum app, client auth, errors in the caller's dialect; handlers stay thin.
//! - `redact`: masks credentials in every text that leaves the process (errors, logs,
//!   `/model/info`, `doctor`); pure but for the list of secret values seen.
//! - `files`: files we write are 0600 in 0700 folders, replaced atomically.
//! - `setup`: the setup wizard's answers and the config.yaml / .env it writes (pure rendering).
//! - `telemetry`: logging setup (stderr and a size-rotated file); never logs secrets.
//! - `gateway`: start/stop one gateway in-process (used by `serve` and the tray).
//! - `fdlimit`: the open-file limit raised to the usable maximum at start; nothing else.
//! - `instance`: one instance at a time (lock file) and who holds a busy port.
//! - `service`: launch at login (launchd / systemd --user); commands behind a `Runner`.
//! - `tray`: the menu-bar app: pure menu model, controller, thin toolkit glue (feature `tray`).
//! - `paths`: per-user folders (logs, state, LaunchAgents, systemd units); pure.
//! - `memory`: allocator tuning at start-up (big buffers go back to the OS when freed).
//! - `silence`: "nothing happened for a while" (stream idle limits, keep-alives) with one timer
//!   per stream instead of one per read.

pub mod auth;
pub mod cli;
pub mod config;
pub mod egress;
pub mod fdlimit;
pub mod files;
pub mod gateway;
pub mod instance;
pub mod memory;
pub mod paths;
pub mod providers;
pub mod redact;
pub mod router;
pub mod secrets;
pub mod server;
pub mod service;
pub mod setup;
pub mod silence;
pub mod telemetry;
pub mod translate;
pub mod tray;
pub mod usage;
pub mod utc;
pub mod wire;
