//! Router settings as LiteLLM reads them: fallback lists, cooldowns, the routing strategy
//! and parallel-request limits, from `router_settings` (and the keys LiteLLM also takes from
//! `litellm_settings`). Shapes, names and defaults follow LiteLLM's `Router`; what ai-proxy
//! does with them is in `router/` and the README's "Routing" section.

use std::time::Duration;

use serde_yaml_ng::Value as Yaml;

use super::{ConfigError, MAX_SECONDS, NumberRange, expect_bool, expect_number, invalid};

/// `router_settings` keys read here.
pub const ROUTER_KEYS: &[&str] = &[
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "default_fallbacks",
    "max_fallbacks",
    "allowed_fails",
    "allowed_fails_policy",
    "cooldown_time",
    "disable_cooldowns",
    "routing_strategy",
    "routing_strategy_args",
    "default_max_parallel_requests",
];

/// The subset LiteLLM also reads from `litellm_settings` (module-level defaults of its
/// `Router`); `router_settings` wins when both are set.
pub const LITELLM_KEYS: &[&str] = &[
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "default_fallbacks",
    "max_fallbacks",
    "allowed_fails",
];

/// LiteLLM's `DEFAULT_COOLDOWN_TIME_SECONDS`.
pub const DEFAULT_COOLDOWN_TIME: Duration = Duration::from_secs(5);
/// LiteLLM's `ROUTER_MAX_FALLBACKS`.
pub const DEFAULT_MAX_FALLBACKS: u32 = 5;
/// LiteLLM's `litellm.allowed_fails` default.
pub const DEFAULT_ALLOWED_FAILS: u32 = 3;

/// Cooldowns: none (0) up to 7 days.
pub const COOLDOWN_SECONDS: NumberRange =
    NumberRange { min: 0.0, max: MAX_SECONDS, whole: false, what: "a number of seconds" };
/// `allowed_fails` and the counts of `allowed_fails_policy`.
pub const FAILURES: NumberRange =
    NumberRange { min: 0.0, max: 10_000.0, whole: true, what: "a whole number of failures" };
/// `max_fallbacks`.
pub const FALLBACK_DEPTH: NumberRange =
    NumberRange { min: 0.0, max: 100.0, whole: true, what: "a whole number of fallbacks" };
/// `max_parallel_requests`, `default_max_parallel_requests`.
pub const PARALLEL: NumberRange =
    NumberRange { min: 1.0, max: 1_000_000.0, whole: true, what: "a whole number of requests" };
/// A deployment's `weight` for `simple-shuffle`.
pub const WEIGHT: NumberRange = NumberRange { min: 0.0, max: 1e9, whole: false, what: "a weight" };
/// A deployment's `order` (lower is tried first).
pub const ORDER: NumberRange =
    NumberRange { min: 0.0, max: 1_000_000.0, whole: true, what: "a whole number (lower first)" };
/// `routing_strategy_args.lowest_latency_buffer`: a fraction of the lowest latency.
pub const LATENCY_BUFFER: NumberRange =
    NumberRange { min: 0.0, max: 100.0, whole: false, what: "a fraction" };

/// How the first deployment of an alias is chosen (`routing_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RoutingStrategy {
    /// `simple-shuffle`: by `weight` (else `rpm`, else `tpm`) when given, else evenly.
    #[default]
    SimpleShuffle,
    /// `least-busy`: the fewest requests in flight.
    LeastBusy,
    /// `latency-based-routing`: the lowest recent latency.
    LatencyBased,
    /// `usage-based-routing-v2`: the fewest tokens used this minute.
    UsageBased,
}

impl RoutingStrategy {
    /// The name as LiteLLM spells it.
    pub fn name(self) -> &'static str {
        match self {
            RoutingStrategy::SimpleShuffle => "simple-shuffle",
            RoutingStrategy::LeastBusy => "least-busy",
            RoutingStrategy::LatencyBased => "latency-based-routing",
            RoutingStrategy::UsageBased => "usage-based-routing-v2",
        }
    }
}

/// `{model_name: [fallback model_names]}`: where a failed `model` goes next, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FallbackRule {
    /// The alias (or `*` for any alias without a rule of its own).
    pub model: String,
    pub fallbacks: Vec<String>,
}

/// `allowed_fails_policy`: failures of one kind a deployment may have before it cools down,
/// overriding `allowed_fails` for that kind. Kinds that never cool a deployment by default
/// (400, 401, 404, content filter) do once they are named here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AllowedFailsPolicy {
    pub bad_request: Option<u32>,
    pub authentication: Option<u32>,
    pub timeout: Option<u32>,
    pub rate_limit: Option<u32>,
    pub content_policy_violation: Option<u32>,
    pub internal_server: Option<u32>,
    pub bad_gateway: Option<u32>,
    pub service_unavailable: Option<u32>,
    pub not_found: Option<u32>,
}

impl AllowedFailsPolicy {
    /// LiteLLM's field names, each with the slot it sets.
    fn slot(&mut self, key: &str) -> Option<&mut Option<u32>> {
        Some(match key {
            "BadRequestErrorAllowedFails" => &mut self.bad_request,
            "AuthenticationErrorAllowedFails" => &mut self.authentication,
            "TimeoutErrorAllowedFails" => &mut self.timeout,
            "RateLimitErrorAllowedFails" => &mut self.rate_limit,
            "ContentPolicyViolationErrorAllowedFails" => &mut self.content_policy_violation,
            "InternalServerErrorAllowedFails" => &mut self.internal_server,
            "BadGatewayErrorAllowedFails" => &mut self.bad_gateway,
            "ServiceUnavailableErrorAllowedFails" => &mut self.service_unavailable,
            "NotFoundErrorAllowedFails" => &mut self.not_found,
            _ => return None,
        })
    }
}

/// Everything the router reads from `router_settings` / `litellm_settings` besides retries
/// and the default timeout.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterSettings {
    /// `fallbacks` (and `default_fallbacks`, kept apart): for any failure a retry on the
    /// same alias did not fix, except client errors.
    pub fallbacks: Vec<FallbackRule>,
    /// `context_window_fallbacks`: for an upstream "prompt too long" error.
    pub context_window_fallbacks: Vec<FallbackRule>,
    /// `content_policy_fallbacks`: for an upstream content-filter refusal.
    pub content_policy_fallbacks: Vec<FallbackRule>,
    /// `default_fallbacks`: for aliases without a `fallbacks` rule (LiteLLM's `{"*": [...]}`).
    pub default_fallbacks: Vec<String>,
    /// At most this many fallback aliases per request.
    pub max_fallbacks: u32,
    /// Counted failures (without a pause of `cooldown_time`) a deployment may have before it
    /// cools down. `None`: LiteLLM's default (a 429 cools at once, other failures after
    /// [`DEFAULT_ALLOWED_FAILS`]).
    pub allowed_fails: Option<u32>,
    pub allowed_fails_policy: AllowedFailsPolicy,
    /// How long a deployment is skipped (`0`: never).
    pub cooldown_time: Duration,
    pub disable_cooldowns: bool,
    pub routing_strategy: RoutingStrategy,
    /// `routing_strategy_args.lowest_latency_buffer`: deployments within this fraction of the
    /// lowest latency are picked at random.
    pub lowest_latency_buffer: f64,
    /// `max_parallel_requests` for deployments that do not set their own.
    pub default_max_parallel_requests: Option<u32>,
}

impl Default for RouterSettings {
    fn default() -> Self {
        RouterSettings {
            fallbacks: Vec::new(),
            context_window_fallbacks: Vec::new(),
            content_policy_fallbacks: Vec::new(),
            default_fallbacks: Vec::new(),
            max_fallbacks: DEFAULT_MAX_FALLBACKS,
            allowed_fails: None,
            allowed_fails_policy: AllowedFailsPolicy::default(),
            cooldown_time: DEFAULT_COOLDOWN_TIME,
            disable_cooldowns: false,
            routing_strategy: RoutingStrategy::default(),
            lowest_latency_buffer: 0.0,
            default_max_parallel_requests: None,
        }
    }
}

/// Set one of [`ROUTER_KEYS`] from its YAML value (`path` is `<section>.<key>`). Values
/// that are accepted but change nothing add a line to `warnings`.
pub fn set(
    settings: &mut RouterSettings,
    file: &str,
    path: &str,
    key: &str,
    value: &Yaml,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    match key {
        "fallbacks" => settings.fallbacks = rules(file, path, value)?,
        "context_window_fallbacks" => settings.context_window_fallbacks = rules(file, path, value)?,
        "content_policy_fallbacks" => settings.content_policy_fallbacks = rules(file, path, value)?,
        "default_fallbacks" => settings.default_fallbacks = names(file, path, value)?,
        "max_fallbacks" => {
            settings.max_fallbacks = expect_number(file, path, value, &FALLBACK_DEPTH)? as u32
        }
        "allowed_fails" => {
            settings.allowed_fails = Some(expect_number(file, path, value, &FAILURES)? as u32)
        }
        "allowed_fails_policy" => {
            settings.allowed_fails_policy = policy(file, path, value, warnings)?;
        }
        "cooldown_time" => {
            settings.cooldown_time =
                Duration::from_secs_f64(expect_number(file, path, value, &COOLDOWN_SECONDS)?)
        }
        "disable_cooldowns" => settings.disable_cooldowns = expect_bool(file, path, value)?,
        "routing_strategy" => {
            settings.routing_strategy = strategy(file, path, value, warnings)?;
        }
        "routing_strategy_args" => {
            settings.lowest_latency_buffer = strategy_args(file, path, value, warnings)?
        }
        "default_max_parallel_requests" => {
            settings.default_max_parallel_requests =
                Some(expect_number(file, path, value, &PARALLEL)? as u32)
        }
        _ => return Err(invalid(file, path, "not a router setting")),
    }
    Ok(())
}

const RULES_SHAPE: &str = "expected a list of {model_name: [fallback model_names]} entries, e.g. [{\"gpt-4o\": [\"gpt-4o-mini\"]}]";

/// `[{"a": ["b", "c"]}, {"d": ["e"]}]`. Also accepted, as LiteLLM does or as configs write
/// it: a bare model name in the list (a fallback for every alias, `*`), one mapping instead
/// of a list, a single name instead of a list of names, and the whole value as a JSON string.
fn rules(file: &str, path: &str, value: &Yaml) -> Result<Vec<FallbackRule>, ConfigError> {
    let mut out = Vec::new();
    match value {
        Yaml::Null => {}
        Yaml::String(text) => {
            let parsed: Yaml =
                serde_yaml_ng::from_str(text).map_err(|_| invalid(file, path, RULES_SHAPE))?;
            if matches!(parsed, Yaml::String(_)) {
                out.push(FallbackRule { model: "*".into(), fallbacks: vec![text.trim().into()] });
            } else {
                return rules(file, path, &parsed);
            }
        }
        Yaml::Mapping(map) => push_mapping(file, path, map, &mut out)?,
        Yaml::Sequence(items) => {
            for item in items {
                match item {
                    Yaml::Mapping(map) => push_mapping(file, path, map, &mut out)?,
                    Yaml::String(name) if !name.trim().is_empty() => out.push(FallbackRule {
                        model: "*".into(),
                        fallbacks: vec![name.trim().into()],
                    }),
                    _ => return Err(invalid(file, path, RULES_SHAPE)),
                }
            }
        }
        _ => return Err(invalid(file, path, RULES_SHAPE)),
    }
    Ok(out)
}

fn push_mapping(
    file: &str,
    path: &str,
    map: &serde_yaml_ng::Mapping,
    out: &mut Vec<FallbackRule>,
) -> Result<(), ConfigError> {
    for (k, v) in map {
        let Some(model) = k.as_str().map(str::trim).filter(|m| !m.is_empty()) else {
            return Err(invalid(file, path, RULES_SHAPE));
        };
        let fallbacks = names(file, path, v).map_err(|_| invalid(file, path, RULES_SHAPE))?;
        out.push(FallbackRule { model: model.to_owned(), fallbacks });
    }
    Ok(())
}

/// A list of model names (or one name).
fn names(file: &str, path: &str, value: &Yaml) -> Result<Vec<String>, ConfigError> {
    let shape = || invalid(file, path, "expected a list of model names");
    let list = match value {
        Yaml::Null => Vec::new(),
        Yaml::String(s) => vec![s.clone()],
        Yaml::Sequence(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(shape))
            .collect::<Result<_, _>>()?,
        _ => return Err(shape()),
    };
    Ok(list.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
}

fn policy(
    file: &str,
    path: &str,
    value: &Yaml,
    warnings: &mut Vec<String>,
) -> Result<AllowedFailsPolicy, ConfigError> {
    let mut out = AllowedFailsPolicy::default();
    let map = match value {
        Yaml::Null => return Ok(out),
        Yaml::Mapping(map) => map,
        _ => {
            return Err(invalid(
                file,
                path,
                "expected a mapping such as {RateLimitErrorAllowedFails: 10, TimeoutErrorAllowedFails: 2}",
            ));
        }
    };
    for (k, v) in map {
        let key = k.as_str().unwrap_or_default();
        let key_path = format!("{path}.{key}");
        match out.slot(key) {
            Some(slot) => *slot = Some(expect_number(file, &key_path, v, &FAILURES)? as u32),
            None => warnings.push(format!(
                "{file}: {key_path} is not a LiteLLM allowed_fails_policy field and is ignored"
            )),
        }
    }
    Ok(out)
}

fn strategy(
    file: &str,
    path: &str,
    value: &Yaml,
    warnings: &mut Vec<String>,
) -> Result<RoutingStrategy, ConfigError> {
    let name = value.as_str().map(str::trim).unwrap_or_default();
    Ok(match name {
        "simple-shuffle" => RoutingStrategy::SimpleShuffle,
        "least-busy" => RoutingStrategy::LeastBusy,
        "latency-based-routing" => RoutingStrategy::LatencyBased,
        "usage-based-routing-v2" => RoutingStrategy::UsageBased,
        "usage-based-routing" => {
            warnings.push(format!(
                "{file}: {path}: usage-based-routing is LiteLLM's older name; ai-proxy runs usage-based-routing-v2 (local counters)"
            ));
            RoutingStrategy::UsageBased
        }
        "cost-based-routing" => {
            warnings.push(format!(
                "{file}: {path}: cost-based-routing is not supported by ai-proxy (it keeps no prices); simple-shuffle is used"
            ));
            RoutingStrategy::SimpleShuffle
        }
        _ => {
            return Err(invalid(
                file,
                path,
                "expected simple-shuffle, least-busy, latency-based-routing or usage-based-routing-v2",
            ));
        }
    })
}

fn strategy_args(
    file: &str,
    path: &str,
    value: &Yaml,
    warnings: &mut Vec<String>,
) -> Result<f64, ConfigError> {
    let mut buffer = 0.0;
    let map = match value {
        Yaml::Null => return Ok(buffer),
        Yaml::Mapping(map) => map,
        _ => {
            return Err(invalid(
                file,
                path,
                "expected a mapping such as {lowest_latency_buffer: 0.5}",
            ));
        }
    };
    for (k, v) in map {
        let key = k.as_str().unwrap_or_default();
        let key_path = format!("{path}.{key}");
        if key == "lowest_latency_buffer" {
            buffer = expect_number(file, &key_path, v, &LATENCY_BUFFER)?;
        } else {
            warnings
                .push(format!("{file}: {key_path} is not supported by ai-proxy and is ignored"));
        }
    }
    Ok(buffer)
}

/// One warning per fallback rule that names a model no alias serves (the rule is kept: a
/// reload may add the alias; at request time unknown names are skipped).
pub fn check_references(
    settings: &RouterSettings,
    serves: impl Fn(&str) -> bool,
    file: &str,
    warnings: &mut Vec<String>,
) {
    let lists = [
        ("fallbacks", &settings.fallbacks),
        ("context_window_fallbacks", &settings.context_window_fallbacks),
        ("content_policy_fallbacks", &settings.content_policy_fallbacks),
    ];
    let mut unknown: Vec<(String, &str)> = Vec::new();
    for (key, rules) in lists {
        for rule in rules.iter() {
            let names = std::iter::once(&rule.model).filter(|m| *m != "*").chain(&rule.fallbacks);
            for name in names {
                if !serves(name) && !unknown.iter().any(|(n, k)| n == name && *k == key) {
                    unknown.push((name.clone(), key));
                }
            }
        }
    }
    for name in &settings.default_fallbacks {
        if !serves(name) {
            unknown.push((name.clone(), "default_fallbacks"));
        }
    }
    for (name, key) in unknown {
        warnings.push(format!(
            "{file}: {key} names `{name}`, which no model_list entry serves; it is skipped"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(key: &str, yaml: &str) -> (Result<RouterSettings, ConfigError>, Vec<String>) {
        let mut s = RouterSettings::default();
        let mut w = Vec::new();
        let value: Yaml = serde_yaml_ng::from_str(yaml).expect("yaml");
        let r = set(&mut s, "c.yaml", &format!("router_settings.{key}"), key, &value, &mut w);
        (r.map(|()| s), w)
    }

    fn ok(key: &str, yaml: &str) -> RouterSettings {
        let (r, w) = apply(key, yaml);
        assert!(w.is_empty(), "{w:?}");
        r.expect("accepted")
    }

    fn rule(model: &str, fallbacks: &[&str]) -> FallbackRule {
        FallbackRule {
            model: model.into(),
            fallbacks: fallbacks.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn fallback_lists_in_litellm_shapes() {
        let s = ok("fallbacks", r#"[{"gpt-4o": ["gpt-4o-mini", "qwen-max"]}, {"b": ["c"]}]"#);
        assert_eq!(
            s.fallbacks,
            vec![rule("gpt-4o", &["gpt-4o-mini", "qwen-max"]), rule("b", &["c"])]
        );
        // Block style, a single name, one mapping, a JSON string, a bare name (any alias).
        let s = ok("fallbacks", "- gpt-4o:\n    - mini\n- b: c\n");
        assert_eq!(s.fallbacks, vec![rule("gpt-4o", &["mini"]), rule("b", &["c"])]);
        let s = ok("context_window_fallbacks", "{a: [b], c: [d]}");
        assert_eq!(s.context_window_fallbacks, vec![rule("a", &["b"]), rule("c", &["d"])]);
        let s = ok("content_policy_fallbacks", r#"'[{"a": ["b"]}]'"#);
        assert_eq!(s.content_policy_fallbacks, vec![rule("a", &["b"])]);
        let s = ok("fallbacks", "[backup]");
        assert_eq!(s.fallbacks, vec![rule("*", &["backup"])]);
        let s = ok("default_fallbacks", "[x, y]");
        assert_eq!(s.default_fallbacks, vec!["x", "y"]);
    }

    #[test]
    fn wrong_fallback_shapes_say_what_is_expected() {
        for yaml in ["1", "[1]", "[{a: 1}]", "[{a: [1]}]", "[[a]]", "'[{'"] {
            let err = apply("fallbacks", yaml).0.expect_err(yaml).to_string();
            assert!(
                err.starts_with("c.yaml: router_settings.fallbacks: expected a list of {model_name: [fallback model_names]}"),
                "{yaml}: {err}"
            );
        }
        let err = apply("default_fallbacks", "{a: b}").0.expect_err("mapping").to_string();
        assert!(err.contains("expected a list of model names"), "{err}");
    }

    #[test]
    fn cooldown_settings_and_the_policy() {
        let s = ok("allowed_fails", "2");
        assert_eq!(s.allowed_fails, Some(2));
        assert_eq!(ok("cooldown_time", "0.5").cooldown_time, Duration::from_millis(500));
        assert_eq!(ok("cooldown_time", "0").cooldown_time, Duration::ZERO);
        assert!(ok("disable_cooldowns", "true").disable_cooldowns);
        let s = ok(
            "allowed_fails_policy",
            "{RateLimitErrorAllowedFails: 10, TimeoutErrorAllowedFails: 0, ContentPolicyViolationErrorAllowedFails: 1}",
        );
        assert_eq!(s.allowed_fails_policy.rate_limit, Some(10));
        assert_eq!(s.allowed_fails_policy.timeout, Some(0));
        assert_eq!(s.allowed_fails_policy.content_policy_violation, Some(1));
        assert_eq!(s.allowed_fails_policy.internal_server, None);
        let (r, w) = apply("allowed_fails_policy", "{MadeUpErrorAllowedFails: 1}");
        assert!(r.is_ok());
        assert_eq!(
            w,
            [
                "c.yaml: router_settings.allowed_fails_policy.MadeUpErrorAllowedFails is not a LiteLLM allowed_fails_policy field and is ignored"
            ]
        );
        let err = apply("allowed_fails_policy", "{RateLimitErrorAllowedFails: -1}").0;
        let err = err.expect_err("negative").to_string();
        assert!(
            err.contains("router_settings.allowed_fails_policy.RateLimitErrorAllowedFails: expected a whole number of failures from 0 to 10000, got -1"),
            "{err}"
        );
    }

    #[test]
    fn strategies_by_litellm_name() {
        for (name, want) in [
            ("simple-shuffle", RoutingStrategy::SimpleShuffle),
            ("least-busy", RoutingStrategy::LeastBusy),
            ("latency-based-routing", RoutingStrategy::LatencyBased),
            ("usage-based-routing-v2", RoutingStrategy::UsageBased),
        ] {
            assert_eq!(ok("routing_strategy", name).routing_strategy, want);
            assert_eq!(want.name(), name);
        }
        let (r, w) = apply("routing_strategy", "usage-based-routing");
        assert_eq!(r.expect("accepted").routing_strategy, RoutingStrategy::UsageBased);
        assert_eq!(w.len(), 1, "{w:?}");
        let (r, w) = apply("routing_strategy", "cost-based-routing");
        assert_eq!(r.expect("accepted").routing_strategy, RoutingStrategy::SimpleShuffle);
        assert!(w[0].contains("not supported"), "{w:?}");
        let err = apply("routing_strategy", "fastest").0.expect_err("unknown").to_string();
        assert!(err.contains("expected simple-shuffle, least-busy"), "{err}");
        let s = ok("routing_strategy_args", "{lowest_latency_buffer: 0.5}");
        assert_eq!(s.lowest_latency_buffer, 0.5);
        let (_, w) = apply("routing_strategy_args", "{ttl: 60}");
        assert!(w[0].contains("routing_strategy_args.ttl is not supported"), "{w:?}");
    }

    #[test]
    fn references_to_unknown_models_are_warned_about_once() {
        let s = RouterSettings {
            fallbacks: vec![rule("a", &["b", "nope"]), rule("*", &["nope"])],
            context_window_fallbacks: vec![rule("ghost", &["b"])],
            default_fallbacks: vec!["b".into()],
            ..RouterSettings::default()
        };
        let mut w = Vec::new();
        check_references(&s, |m| m == "a" || m == "b", "c.yaml", &mut w);
        assert_eq!(
            w,
            [
                "c.yaml: fallbacks names `nope`, which no model_list entry serves; it is skipped",
                "c.yaml: context_window_fallbacks names `ghost`, which no model_list entry serves; it is skipped",
            ]
        );
    }
}
