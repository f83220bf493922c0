//! The request log's settings (`general_settings`): LiteLLM's `disable_spend_logs` and
//! `maximum_spend_logs_retention_period`, and ai-proxy's `max_spend_logs_size_mb` (LiteLLM's
//! log lives in Postgres, with no size bound).

use std::time::Duration;

use serde_yaml_ng::Value as Yaml;

use super::{ConfigError, NumberRange, expect_bool, expect_number, invalid};

/// The `general_settings` keys read here.
pub const KEYS: &[&str] =
    &["disable_spend_logs", "maximum_spend_logs_retention_period", "max_spend_logs_size_mb"];

/// Default: calls are kept 30 days.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// Default: the log file is kept under 100 MB (about half a million calls).
pub const DEFAULT_MAX_MB: f64 = 100.0;

const LOG_MEGABYTES: NumberRange =
    NumberRange { min: 1.0, max: 100_000.0, whole: false, what: "a size in MB" };
/// At most ten years.
const MAX_RETENTION_SECS: f64 = 10.0 * 366.0 * 86_400.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UsageSettings {
    /// Write the request log at all.
    pub enabled: bool,
    pub retention: Duration,
    pub max_mb: f64,
}

impl Default for UsageSettings {
    fn default() -> Self {
        UsageSettings { enabled: true, retention: DEFAULT_RETENTION, max_mb: DEFAULT_MAX_MB }
    }
}

pub fn set(
    s: &mut UsageSettings,
    file: &str,
    path: &str,
    key: &str,
    value: &Yaml,
) -> Result<(), ConfigError> {
    match key {
        "disable_spend_logs" => s.enabled = !expect_bool(file, path, value)?,
        "max_spend_logs_size_mb" => s.max_mb = expect_number(file, path, value, &LOG_MEGABYTES)?,
        "maximum_spend_logs_retention_period" => {
            s.retention = parse_period(value).ok_or_else(|| {
                invalid(
                    file,
                    path,
                    "expected a period such as \"30d\", \"12h\", \"90m\" or a number of seconds (at most ten years)",
                )
            })?
        }
        _ => {}
    }
    Ok(())
}

/// LiteLLM's period strings (`30d`, `12h`, `45m`, `90s`, `2w`, `1mo` taken as 30 days) or
/// plain seconds; from a minute to ten years.
pub fn parse_period(value: &Yaml) -> Option<Duration> {
    let secs = match value {
        Yaml::Number(n) => n.as_f64()?,
        Yaml::String(s) => {
            let s = s.trim();
            let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
                Some(i) => (&s[..i], &s[i..]),
                None => (s, "s"),
            };
            let n: f64 = num.trim().parse().ok()?;
            let per = match unit {
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                "d" => 86_400.0,
                "w" => 7.0 * 86_400.0,
                "mo" => 30.0 * 86_400.0,
                _ => return None,
            };
            n * per
        }
        _ => return None,
    };
    (secs.is_finite() && (60.0..=MAX_RETENTION_SECS).contains(&secs))
        .then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(text: &str) -> Option<Duration> {
        parse_period(&serde_yaml_ng::from_str(text).expect("yaml"))
    }

    #[test]
    fn periods_read_as_litellm_writes_them() {
        assert_eq!(period("30d"), Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(period("\"12h\""), Some(Duration::from_secs(12 * 3600)));
        assert_eq!(period("90m"), Some(Duration::from_secs(5400)));
        assert_eq!(period("2w"), Some(Duration::from_secs(14 * 86_400)));
        assert_eq!(period("3600"), Some(Duration::from_secs(3600)));
        assert_eq!(period("\"7200\""), Some(Duration::from_secs(7200)));
        assert_eq!(period("1mo"), Some(Duration::from_secs(30 * 86_400)));
        for bad in ["30x", "d", "-1d", "1mon", "mo", "10s", "nan", "[1]", "99999w", "1.5.2d"] {
            assert_eq!(period(bad), None, "{bad}");
        }
    }
}
