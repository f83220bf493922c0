//! Where a request goes when an alias could not answer it (LiteLLM's fallbacks): which
//! failures move it on, which list applies, and the order the fallback aliases are tried
//! in (depth-first: a fallback's own fallbacks come before the rest of the list, as
//! LiteLLM's recursion has it), bounded by `max_fallbacks`. Pure.

use crate::config::RouterSettings;
use crate::config::routing::FallbackRule;
use crate::providers::ProviderError;

use super::RouteError;

/// Why a request moves to a fallback alias, and so which list applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The prompt is longer than the model takes: `context_window_fallbacks`.
    ContextWindow,
    /// The upstream's content filter refused: `content_policy_fallbacks`.
    ContentPolicy,
    /// Anything else a retry did not fix, client errors excepted: `fallbacks`.
    Failure,
}

/// The fallback a failure calls for (`None`: the client's own mistake, or a request that no
/// other model would treat differently).
pub fn trigger(err: &RouteError) -> Option<Trigger> {
    match err {
        RouteError::Provider { err } => provider_trigger(err),
        RouteError::Unavailable { .. }
        | RouteError::RateLimited { .. }
        | RouteError::OverBudget { .. }
        | RouteError::Busy { .. } => Some(Trigger::Failure),
        RouteError::UnknownModel { .. }
        | RouteError::UnsupportedParams { .. }
        | RouteError::InvalidDefaults { .. } => None,
    }
}

fn provider_trigger(err: &ProviderError) -> Option<Trigger> {
    if is_context_window(err) {
        return Some(Trigger::ContextWindow);
    }
    if is_content_policy(err) {
        return Some(Trigger::ContentPolicy);
    }
    match err {
        ProviderError::Upstream { status: 400 | 413 | 422, .. }
        | ProviderError::InvalidRequest { .. } => None,
        _ => Some(Trigger::Failure),
    }
}

/// Texts upstreams use for a prompt over the context window (OpenAI, Azure, DashScope,
/// Gemini, vLLM), compared in lower case.
const CONTEXT_PHRASES: &[&str] = &[
    "context length",
    "context_length_exceeded",
    "context window",
    "maximum context",
    "prompt is too long",
    "input is too long",
    "too many tokens",
    "exceeds the maximum number of tokens",
    "input token count",
    "range of input length",
    "reduce the length of the messages",
];

/// An upstream's "the prompt is too long for this model" answer.
pub fn is_context_window(err: &ProviderError) -> bool {
    let (message, code) = match err {
        ProviderError::Upstream { status: 400 | 413 | 422, message, code, .. } => {
            (message, code.as_deref())
        }
        ProviderError::InvalidRequest { message, .. } => (message, None),
        _ => return false,
    };
    code == Some("context_length_exceeded") || contains_any(message, CONTEXT_PHRASES)
}

/// Codes upstreams give a content-filter refusal: Azure and ai-proxy's Vertex mapping
/// (`content_filter`), OpenAI (`content_policy_violation`), DashScope
/// (`data_inspection_failed`).
const CONTENT_CODES: &[&str] = &[
    "content_filter",
    "content_policy_violation",
    "data_inspection_failed",
    "DataInspectionFailed",
];

const CONTENT_PHRASES: &[&str] = &[
    "content management policy",
    "content_policy_violation",
    "responsibleaipolicyviolation",
    "inappropriate content",
    "safety system",
];

/// An upstream's content-filter refusal (a 400 from Azure, OpenAI, DashScope or Vertex).
pub fn is_content_policy(err: &ProviderError) -> bool {
    let ProviderError::Upstream { status: 400 | 403 | 422, message, code, details, .. } = err
    else {
        return false;
    };
    code.as_deref().is_some_and(|c| CONTENT_CODES.contains(&c))
        || contains_any(message, CONTENT_PHRASES)
        || details.as_ref().is_some_and(|d| d.to_string().contains("ResponsibleAIPolicyViolation"))
}

fn contains_any(text: &str, phrases: &[&str]) -> bool {
    let lower = text.to_ascii_lowercase();
    phrases.iter().any(|p| lower.contains(p))
}

/// The configured list for `alias` after `trigger`: its own rule, else the `*` rule, else
/// (for failures) `default_fallbacks`.
pub fn configured<'a>(
    settings: &'a RouterSettings,
    alias: &str,
    trigger: Trigger,
) -> Option<&'a [String]> {
    let rules = match trigger {
        Trigger::ContextWindow => &settings.context_window_fallbacks,
        Trigger::ContentPolicy => &settings.content_policy_fallbacks,
        Trigger::Failure => &settings.fallbacks,
    };
    let find = |model: &str| -> Option<&'a [String]> {
        rules.iter().find(|r: &&FallbackRule| r.model == model).map(|r| r.fallbacks.as_slice())
    };
    find(alias)
        .or_else(|| find("*"))
        .or_else(|| {
            (trigger == Trigger::Failure && !settings.default_fallbacks.is_empty())
                .then_some(settings.default_fallbacks.as_slice())
        })
        .filter(|list| !list.is_empty())
}

/// The fallback aliases still to try for one request.
#[derive(Debug)]
pub struct Chain<'a> {
    /// The alias the request asked for (never tried again as a fallback).
    requested: &'a str,
    /// Lists being walked, innermost (most recent failure) last, each with its next position.
    stack: Vec<(Vec<String>, usize)>,
    /// Fallback aliases already started: never tried twice.
    tried: Vec<String>,
    /// The request's own `fallbacks`, which replace the configured ones of the requested
    /// alias (for failures).
    request: Option<&'a [String]>,
    disabled: bool,
    max: u32,
}

impl<'a> Chain<'a> {
    /// `max`: `max_fallbacks`; `request`: the body's `fallbacks`; `disabled`: the body's
    /// `disable_fallbacks`. Allocates nothing until a fallback is needed.
    pub fn new(
        requested: &'a str,
        request: Option<&'a [String]>,
        disabled: bool,
        max: u32,
    ) -> Chain<'a> {
        Chain { requested, stack: Vec::new(), tried: Vec::new(), request, disabled, max }
    }

    /// `alias` could not answer because of `trigger`: its fallbacks go before the rest.
    pub fn failed(&mut self, settings: &RouterSettings, alias: &str, trigger: Trigger) {
        if self.disabled {
            return;
        }
        let own = (trigger == Trigger::Failure && alias == self.requested)
            .then_some(self.request)
            .flatten();
        if let Some(list) = own.or_else(|| configured(settings, alias, trigger)) {
            self.stack.push((list.to_vec(), 0));
        }
    }

    /// The next alias to try: untried, accepted by `usable` (it exists and has a deployment
    /// that can serve), within `max_fallbacks`.
    pub fn next(&mut self, usable: impl Fn(&str) -> bool) -> Option<String> {
        if self.started() >= self.max {
            self.stack.clear();
            return None;
        }
        while let Some((list, pos)) = self.stack.last_mut() {
            let Some(name) = list.get(*pos).cloned() else {
                self.stack.pop();
                continue;
            };
            *pos += 1;
            if name == self.requested || self.tried.contains(&name) || !usable(&name) {
                continue;
            }
            self.tried.push(name.clone());
            return Some(name);
        }
        None
    }

    /// Whether a fallback could still follow if `alias` failed now, whatever the failure:
    /// false only when [`Chain::failed`] then [`Chain::next`] cannot give one. It does not
    /// look at which aliases are usable or tried, so a true may still end with none.
    pub fn may_follow(&self, settings: &RouterSettings, alias: &str) -> bool {
        if self.started() >= self.max {
            return false;
        }
        if self.stack.iter().any(|(list, pos)| *pos < list.len()) {
            return true;
        }
        if self.disabled {
            return false;
        }
        let own = (alias == self.requested).then_some(self.request).flatten();
        let on_failure = match own {
            Some(list) => !list.is_empty(),
            None => configured(settings, alias, Trigger::Failure).is_some(),
        };
        on_failure
            || configured(settings, alias, Trigger::ContextWindow).is_some()
            || configured(settings, alias, Trigger::ContentPolicy).is_some()
    }

    /// Fallback aliases started so far (`x-litellm-attempted-fallbacks`).
    pub fn started(&self) -> u32 {
        self.tried.len() as u32
    }
}

/// Whether `alias` has a configured fallback for failures (then its last healthy deployment
/// may cool down: requests have somewhere else to go).
pub fn has_fallback(settings: &RouterSettings, alias: &str) -> bool {
    configured(settings, alias, Trigger::Failure).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(status: u16, code: Option<&str>, message: &str) -> ProviderError {
        ProviderError::Upstream {
            status,
            message: message.into(),
            kind: None,
            code: code.map(str::to_owned),
            param: None,
            retry_after: None,
            details: None,
        }
    }

    fn rule(model: &str, fallbacks: &[&str]) -> FallbackRule {
        FallbackRule {
            model: model.into(),
            fallbacks: fallbacks.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn context_window_errors_are_recognised_across_upstreams() {
        for (status, code, message) in [
            (400, Some("context_length_exceeded"), "too long"),
            (
                400,
                None,
                "This model's maximum context length is 8192 tokens. However, you requested 9000",
            ),
            (
                400,
                None,
                "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
            ),
            (400, Some("InvalidParameter"), "Range of input length should be [1, 30720]"),
            (413, None, "Prompt is too long"),
        ] {
            let e = upstream(status, code, message);
            assert!(is_context_window(&e), "{message}");
            assert_eq!(trigger(&RouteError::Provider { err: e }), Some(Trigger::ContextWindow));
        }
        assert!(!is_context_window(&upstream(400, None, "Invalid value for 'temperature'")));
        assert!(!is_context_window(&upstream(500, None, "context length")), "only client errors");
    }

    #[test]
    fn content_filter_refusals_are_recognised() {
        let azure = ProviderError::Upstream {
            status: 400,
            message: "The response was filtered".into(),
            kind: None,
            code: None,
            param: None,
            retry_after: None,
            details: Some(serde_json::json!({"code": "ResponsibleAIPolicyViolation"})),
        };
        for e in [
            azure,
            upstream(400, Some("content_filter"), "blocked"),
            upstream(
                400,
                Some("data_inspection_failed"),
                "Input data may contain inappropriate content.",
            ),
            upstream(400, None, "The prompt triggered Azure OpenAI's content management policy."),
        ] {
            assert!(is_content_policy(&e), "{e:?}");
            assert_eq!(trigger(&RouteError::Provider { err: e }), Some(Trigger::ContentPolicy));
        }
    }

    #[test]
    fn client_errors_do_not_fall_back_upstream_failures_do() {
        let t = |e: ProviderError| trigger(&RouteError::Provider { err: e });
        assert_eq!(t(upstream(400, None, "bad temperature")), None);
        assert_eq!(t(upstream(422, None, "unprocessable")), None);
        for s in [401, 403, 404, 408, 429, 500, 502, 503, 504] {
            assert_eq!(t(upstream(s, None, "x")), Some(Trigger::Failure), "{s}");
        }
        assert_eq!(t(ProviderError::Connect { message: "refused".into() }), Some(Trigger::Failure));
        let busy = RouteError::Busy { model: "m".into(), limit: 1 };
        assert_eq!(trigger(&busy), Some(Trigger::Failure));
        let unknown = RouteError::UnknownModel { model: "m".into(), available: vec![] };
        assert_eq!(trigger(&unknown), None);
    }

    #[test]
    fn lists_by_trigger_with_wildcard_and_default() {
        let s = RouterSettings {
            fallbacks: vec![rule("a", &["b"]), rule("*", &["star"])],
            context_window_fallbacks: vec![rule("a", &["big"])],
            default_fallbacks: vec!["dflt".into()],
            ..RouterSettings::default()
        };
        let names = |l: Option<&[String]>| l.map(|l| l.join(","));
        assert_eq!(names(configured(&s, "a", Trigger::Failure)).as_deref(), Some("b"));
        assert_eq!(names(configured(&s, "z", Trigger::Failure)).as_deref(), Some("star"));
        assert_eq!(names(configured(&s, "a", Trigger::ContextWindow)).as_deref(), Some("big"));
        assert_eq!(configured(&s, "z", Trigger::ContextWindow), None, "no default for these");
        assert_eq!(configured(&s, "a", Trigger::ContentPolicy), None);
        let s = RouterSettings { fallbacks: vec![], ..s };
        assert_eq!(names(configured(&s, "z", Trigger::Failure)).as_deref(), Some("dflt"));
        assert!(has_fallback(&s, "anything"));
        assert!(!has_fallback(&RouterSettings::default(), "a"));
    }

    #[test]
    fn chains_are_depth_first_skip_tried_and_unusable_and_stop_at_max() {
        let s = RouterSettings {
            fallbacks: vec![rule("a", &["b", "c", "a", "gone"]), rule("b", &["d", "c"])],
            ..RouterSettings::default()
        };
        let usable = |m: &str| m != "gone";
        let mut chain = Chain::new("a", None, false, 5);
        chain.failed(&s, "a", Trigger::Failure);
        assert_eq!(chain.next(usable).as_deref(), Some("b"));
        chain.failed(&s, "b", Trigger::Failure);
        assert_eq!(chain.next(usable).as_deref(), Some("d"), "b's own fallbacks first");
        chain.failed(&s, "d", Trigger::Failure);
        assert_eq!(chain.next(usable).as_deref(), Some("c"));
        chain.failed(&s, "c", Trigger::Failure);
        assert_eq!(chain.next(usable), None, "a was tried, gone is unusable");
        assert_eq!(chain.started(), 3);

        let mut chain = Chain::new("a", None, false, 1);
        chain.failed(&s, "a", Trigger::Failure);
        assert_eq!(chain.next(usable).as_deref(), Some("b"));
        chain.failed(&s, "b", Trigger::Failure);
        assert_eq!(chain.next(usable), None, "max_fallbacks: 1");

        let mut chain = Chain::new("a", None, true, 5);
        chain.failed(&s, "a", Trigger::Failure);
        assert_eq!(chain.next(usable), None, "disable_fallbacks");
    }

    #[test]
    fn the_request_fallbacks_replace_the_requested_alias_list() {
        let s = RouterSettings {
            fallbacks: vec![rule("a", &["b"]), rule("x", &["y"])],
            context_window_fallbacks: vec![rule("a", &["big"])],
            ..RouterSettings::default()
        };
        let own = vec!["x".to_owned()];
        let mut chain = Chain::new("a", Some(&own), false, 5);
        chain.failed(&s, "a", Trigger::Failure);
        assert_eq!(chain.next(|_| true).as_deref(), Some("x"));
        chain.failed(&s, "x", Trigger::Failure);
        assert_eq!(chain.next(|_| true).as_deref(), Some("y"), "x keeps its configured list");
        let mut chain = Chain::new("a", Some(&own), false, 5);
        chain.failed(&s, "a", Trigger::ContextWindow);
        assert_eq!(chain.next(|_| true).as_deref(), Some("big"), "only failures use the body's");
    }
    /// `may_follow` false must mean no fallback follows whatever fails next; on a fresh
    /// chain with every alias usable it is exactly whether one does.
    #[test]
    fn may_follow_is_false_only_when_no_fallback_can_follow() {
        let settings = [
            RouterSettings::default(),
            RouterSettings { fallbacks: vec![rule("a", &["b"])], ..RouterSettings::default() },
            RouterSettings { fallbacks: vec![rule("*", &["b"])], ..RouterSettings::default() },
            RouterSettings { fallbacks: vec![rule("a", &[])], ..RouterSettings::default() },
            RouterSettings { default_fallbacks: vec!["b".into()], ..RouterSettings::default() },
            RouterSettings {
                context_window_fallbacks: vec![rule("a", &["big"])],
                ..RouterSettings::default()
            },
            RouterSettings {
                content_policy_fallbacks: vec![rule("*", &["safe"])],
                ..RouterSettings::default()
            },
            RouterSettings {
                fallbacks: vec![rule("a", &["b", "c"]), rule("b", &["a"])],
                ..RouterSettings::default()
            },
        ];
        let own_lists: [Option<Vec<String>>; 3] = [None, Some(vec![]), Some(vec!["x".into()])];
        let triggers = [Trigger::Failure, Trigger::ContextWindow, Trigger::ContentPolicy];
        let mut checked = 0;
        for s in &settings {
            for own in &own_lists {
                for disabled in [false, true] {
                    for max in [0, 1, 5] {
                        // Fresh, and after the requested alias fell back once.
                        for history in 0..2 {
                            for first in triggers {
                                let mut chain = Chain::new("a", own.as_deref(), disabled, max);
                                let mut alias = "a".to_owned();
                                if history == 1 {
                                    chain.failed(s, "a", first);
                                    match chain.next(|_| true) {
                                        Some(next) => alias = next,
                                        None => continue,
                                    }
                                }
                                let may = chain.may_follow(s, &alias);
                                for t in triggers {
                                    let mut probe = Chain {
                                        stack: chain.stack.clone(),
                                        tried: chain.tried.clone(),
                                        ..Chain::new("a", own.as_deref(), disabled, max)
                                    };
                                    probe.failed(s, &alias, t);
                                    let next = probe.next(|_| true);
                                    if !may {
                                        assert_eq!(
                                            next, None,
                                            "{s:?} {own:?} {disabled} {max} {t:?}"
                                        );
                                    }
                                    checked += 1;
                                }
                                if history == 0 {
                                    let any = triggers.iter().any(|&t| {
                                        let mut probe =
                                            Chain::new("a", own.as_deref(), disabled, max);
                                        probe.failed(s, "a", t);
                                        probe.next(|_| true).is_some()
                                    });
                                    assert_eq!(may, any, "{s:?} {own:?} {disabled} {max}");
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 500, "{checked}");
    }
}
