//! Client connection limits (`general_settings`, ai-proxy extensions: LiteLLM has no such
//! keys): how long a client may take to send a request head, to keep an idle connection, to
//! pause in a request body, and how many connections may be open at once.

use std::time::Duration;

use serde_yaml_ng::Value as Yaml;

use super::{ConfigError, NumberRange, expect_number, invalid};

/// The `general_settings` keys read here.
pub const KEYS: &[&str] = &[
    "header_read_timeout",
    "keep_alive_timeout",
    "body_read_timeout",
    "max_connections",
    "stream_keep_alive_interval",
];

/// Default seconds for a request head (slowloris clients are cut after this).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default seconds an idle keep-alive connection is kept: longer than the idle time of the
/// common client pools (reqwest/hyper and Go: 90 s; httpx: 5 s; Node: 4 s), so a client never
/// reuses a connection the gateway is closing at that moment.
pub const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(120);
/// Default seconds a stream to a client may stay silent before a keep-alive goes out (an SSE
/// comment; Anthropic's `ping` event): under the 15 s that Claude Code's stream watchdog and
/// common proxy idle timeouts allow a silent stream.
pub const DEFAULT_STREAM_KEEP_ALIVE: Duration = Duration::from_secs(10);
/// Default seconds a request body may pause between two reads.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Connection timeouts: a tenth of a second to a day.
const SECONDS: NumberRange =
    NumberRange { min: 0.1, max: 86_400.0, whole: false, what: "a number of seconds" };
/// `max_connections`.
const CONNECTIONS: NumberRange =
    NumberRange { min: 1.0, max: 1_000_000.0, whole: true, what: "a whole number of connections" };

/// How the server treats client connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// From accept (or the first byte of a following request) to a complete request head.
    pub header_read_timeout: Duration,
    /// An open connection with no request in progress is closed after this.
    pub keep_alive_timeout: Duration,
    /// A request body that sends nothing for this long is answered 408.
    pub body_read_timeout: Duration,
    /// Connections open at once; `None`: derived from the open-file limit at start.
    pub max_connections: Option<usize>,
    /// A stream that sends nothing for this long gets a keep-alive.
    pub stream_keep_alive: Duration,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            keep_alive_timeout: DEFAULT_KEEP_ALIVE_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            max_connections: None,
            stream_keep_alive: DEFAULT_STREAM_KEEP_ALIVE,
        }
    }
}

/// Set one of [`KEYS`] from its YAML value (`path` is `general_settings.<key>`).
pub fn set(
    settings: &mut ConnectionSettings,
    file: &str,
    path: &str,
    key: &str,
    value: &Yaml,
) -> Result<(), ConfigError> {
    match key {
        "header_read_timeout" => settings.header_read_timeout = seconds(file, path, value)?,
        "keep_alive_timeout" => settings.keep_alive_timeout = seconds(file, path, value)?,
        "body_read_timeout" => settings.body_read_timeout = seconds(file, path, value)?,
        "max_connections" => settings.max_connections = Some(count(file, path, value)?),
        "stream_keep_alive_interval" => settings.stream_keep_alive = seconds(file, path, value)?,
        _ => return Err(invalid(file, path, "not a connection setting")),
    }
    Ok(())
}

fn seconds(file: &str, path: &str, value: &Yaml) -> Result<Duration, ConfigError> {
    expect_number(file, path, value, &SECONDS).map(Duration::from_secs_f64)
}

fn count(file: &str, path: &str, value: &Yaml) -> Result<usize, ConfigError> {
    // At most a million: fits every platform's usize.
    expect_number(file, path, value, &CONNECTIONS).map(|n| n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(key: &str, yaml: &str) -> Result<ConnectionSettings, ConfigError> {
        let mut s = ConnectionSettings::default();
        let value: Yaml = serde_yaml_ng::from_str(yaml).expect("yaml");
        set(&mut s, "c.yaml", &format!("general_settings.{key}"), key, &value).map(|()| s)
    }

    #[test]
    fn values_in_range_are_read() {
        assert_eq!(apply("header_read_timeout", "1").expect("ok").header_read_timeout.as_secs(), 1);
        assert_eq!(
            apply("keep_alive_timeout", "\"2.5\"").expect("ok").keep_alive_timeout.as_millis(),
            2500
        );
        assert_eq!(
            apply("body_read_timeout", "0.1").expect("ok").body_read_timeout.as_millis(),
            100
        );
        assert_eq!(apply("max_connections", "8").expect("ok").max_connections, Some(8));
    }

    #[test]
    fn out_of_range_values_name_the_key() {
        for (key, yaml) in [
            ("header_read_timeout", "0"),
            ("header_read_timeout", "-1"),
            ("keep_alive_timeout", ".nan"),
            ("keep_alive_timeout", ".inf"),
            ("body_read_timeout", "1e300"),
            ("body_read_timeout", "soon"),
            ("max_connections", "0"),
            ("max_connections", "-3"),
            ("max_connections", "2.5"),
            ("max_connections", "1e12"),
        ] {
            let err = apply(key, yaml).expect_err(yaml).to_string();
            assert!(err.starts_with(&format!("c.yaml: general_settings.{key}: expected")), "{err}");
        }
    }
}
