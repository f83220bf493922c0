//! Prometheus metrics of model calls, process-wide: calls by model, deployment and status, a
//! latency histogram, tokens, and the request log's dropped rows. Rendered in the text
//! exposition format by [`render`] for `GET /metrics`.

use rustc_hash::FxHashMap;
use std::fmt::Write as _;
use std::sync::{LazyLock, Mutex};

/// Latency bucket bounds in seconds (the last bucket, `+Inf`, is implicit).
const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// At most this many label sets; later ones are counted under `model="(other)"`, so a client
/// sending made-up model names cannot grow the table without bound.
const MAX_SERIES: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    model: String,
    deployment: String,
    status: u16,
    failed: bool,
}

#[derive(Debug, Clone, Default)]
struct Series {
    count: u64,
    buckets: [u64; BUCKETS.len()],
    seconds: f64,
    prompt_tokens: u64,
    completion_tokens: u64,
}

/// One finished call, as the metrics count it.
pub struct Observation<'a> {
    pub model: &'a str,
    /// `provider/model`, or empty when no deployment answered.
    pub deployment: &'a str,
    pub status: u16,
    /// An error status, or a stream that ended with an error event after its 200.
    pub failed: bool,
    pub seconds: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

#[derive(Default)]
pub struct Metrics {
    series: Mutex<Table>,
}

/// The series by model, then by deployment and status. Looked up on every call without
/// building a key: the model by hash (FxHash: the number of series is capped, `MAX_SERIES`,
/// which also bounds what colliding keys could cost), the rest by a short scan (an alias has
/// a few deployments and statuses). Strings are copied only for a new series.
#[derive(Default)]
struct Table {
    by_model: FxHashMap<String, Vec<(Rest, Series)>>,
    len: usize,
}

struct Rest {
    deployment: String,
    status: u16,
    failed: bool,
}

impl Rest {
    fn is(&self, deployment: &str, status: u16, failed: bool) -> bool {
        self.status == status && self.failed == failed && self.deployment == deployment
    }
}

impl Table {
    /// The series of `o`, made if new; past the cap, a new series is counted under
    /// `model="(other)"`.
    fn series(&mut self, o: &Observation<'_>) -> &mut Series {
        let find = |list: &[(Rest, Series)], deployment: &str| {
            list.iter().position(|(r, _)| r.is(deployment, o.status, o.failed))
        };
        let found = self.by_model.get(o.model).and_then(|list| find(list, o.deployment));
        let past_cap = found.is_none() && self.len >= MAX_SERIES;
        let (model, deployment) = if past_cap { ("(other)", "") } else { (o.model, o.deployment) };
        if found.is_none() && !self.by_model.contains_key(model) {
            self.by_model.insert(model.to_owned(), Vec::new());
        }
        let list = self.by_model.get_mut(model).expect("present or inserted above");
        // A new series past the cap may be one of `(other)`'s already.
        let at = if past_cap { find(list, deployment) } else { found };
        let i = match at {
            Some(i) => i,
            None => {
                self.len += 1;
                let rest =
                    Rest { deployment: deployment.to_owned(), status: o.status, failed: o.failed };
                list.push((rest, Series::default()));
                list.len() - 1
            }
        };
        &mut list[i].1
    }
}

static GLOBAL: LazyLock<Metrics> = LazyLock::new(Metrics::default);

/// The process's metrics.
pub fn global() -> &'static Metrics {
    &GLOBAL
}

impl Metrics {
    pub fn observe(&self, o: &Observation<'_>) {
        let mut table = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let s = table.series(o);
        s.count += 1;
        s.seconds += o.seconds;
        s.prompt_tokens += o.prompt_tokens;
        s.completion_tokens += o.completion_tokens;
        if let Some(i) = BUCKETS.iter().position(|b| o.seconds <= *b) {
            s.buckets[i] += 1;
        }
    }

    /// The text exposition format (version 0.0.4). `dropped`: request-log rows not written.
    pub fn render(&self, dropped: Option<u64>) -> String {
        let table = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let mut rows: Vec<(Key, &Series)> = table
            .by_model
            .iter()
            .flat_map(|(model, list)| {
                list.iter().map(move |(r, s)| {
                    let key = Key {
                        model: model.clone(),
                        deployment: r.deployment.clone(),
                        status: r.status,
                        failed: r.failed,
                    };
                    (key, s)
                })
            })
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = String::new();
        let labels = |k: &Key| {
            format!(
                "model=\"{}\",deployment=\"{}\",status=\"{}\",result=\"{}\"",
                escape(&k.model),
                escape(&k.deployment),
                k.status,
                if k.failed { "error" } else { "ok" }
            )
        };
        out.push_str("# HELP ai_proxy_requests_total Model calls by model (alias), deployment, HTTP status and result (error: an error status, or a stream that failed after its 200).\n");
        out.push_str("# TYPE ai_proxy_requests_total counter\n");
        for (k, s) in &rows {
            let _ = writeln!(out, "ai_proxy_requests_total{{{}}} {}", labels(k), s.count);
        }
        out.push_str("# HELP ai_proxy_request_duration_seconds Time from request to the last byte of the answer.\n");
        out.push_str("# TYPE ai_proxy_request_duration_seconds histogram\n");
        for (k, s) in &rows {
            let l = labels(k);
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += s.buckets[i];
                let _ = writeln!(
                    out,
                    "ai_proxy_request_duration_seconds_bucket{{{l},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "ai_proxy_request_duration_seconds_bucket{{{l},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(out, "ai_proxy_request_duration_seconds_sum{{{l}}} {}", s.seconds);
            let _ = writeln!(out, "ai_proxy_request_duration_seconds_count{{{l}}} {}", s.count);
        }
        out.push_str(
            "# HELP ai_proxy_tokens_total Tokens by model, deployment, status and direction.\n",
        );
        out.push_str("# TYPE ai_proxy_tokens_total counter\n");
        for (k, s) in &rows {
            let l = labels(k);
            let _ =
                writeln!(out, "ai_proxy_tokens_total{{{l},type=\"prompt\"}} {}", s.prompt_tokens);
            let _ = writeln!(
                out,
                "ai_proxy_tokens_total{{{l},type=\"completion\"}} {}",
                s.completion_tokens
            );
        }
        if let Some(d) = dropped {
            out.push_str("# HELP ai_proxy_request_log_dropped_total Calls the request log could not keep (its writer was behind).\n");
            out.push_str("# TYPE ai_proxy_request_log_dropped_total counter\n");
            let _ = writeln!(out, "ai_proxy_request_log_dropped_total {d}");
        }
        out
    }
}

/// A label value as the exposition format needs it: `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs<'a>(model: &'a str, status: u16, seconds: f64) -> Observation<'a> {
        Observation {
            model,
            deployment: "azure/gpt-4.1",
            status,
            failed: status >= 400,
            seconds,
            prompt_tokens: 10,
            completion_tokens: 5,
        }
    }

    #[test]
    fn counters_histograms_and_tokens_render_in_the_exposition_format() {
        let m = Metrics::default();
        m.observe(&obs("gpt", 200, 0.02));
        m.observe(&obs("gpt", 200, 0.7));
        m.observe(&obs("gpt", 429, 40.0));
        let text = m.render(Some(3));
        let l = "model=\"gpt\",deployment=\"azure/gpt-4.1\"";
        assert!(
            text.contains(&format!(
                "ai_proxy_requests_total{{{l},status=\"200\",result=\"ok\"}} 2\n"
            )),
            "{text}"
        );
        assert!(text.contains(&format!(
            "ai_proxy_requests_total{{{l},status=\"429\",result=\"error\"}} 1\n"
        )));
        let b = |le: &str, n: u64| {
            format!(
                "ai_proxy_request_duration_seconds_bucket{{{l},status=\"200\",result=\"ok\",le=\"{le}\"}} {n}\n"
            )
        };
        assert!(text.contains(&b("0.01", 0)) && text.contains(&b("0.025", 1)));
        assert!(
            text.contains(&b("0.5", 1))
                && text.contains(&b("1", 2))
                && text.contains(&b("+Inf", 2))
        );
        // Slower than the last bound: only in +Inf.
        assert!(text.contains(&format!(
            "ai_proxy_request_duration_seconds_bucket{{{l},status=\"429\",result=\"error\",le=\"30\"}} 0\n"
        )));
        assert!(text.contains(&format!(
            "ai_proxy_tokens_total{{{l},status=\"200\",result=\"ok\",type=\"prompt\"}} 20\n"
        )));
        assert!(text.contains("ai_proxy_request_log_dropped_total 3\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap_or_default();
            assert!(value.parse::<f64>().is_ok(), "each sample ends with a number: {line}");
        }
    }

    /// Each call counts in its own series only (model, deployment, status and result all
    /// tell series apart), and series are written in order whatever order they came in.
    #[test]
    fn calls_count_in_their_own_series_listed_in_order() {
        let m = Metrics::default();
        let at = |model, deployment, status| Observation {
            model,
            deployment,
            status,
            failed: status >= 400,
            seconds: 0.1,
            prompt_tokens: 1,
            completion_tokens: 1,
        };
        for o in [
            at("b", "x/2", 200),
            at("a", "x/1", 200),
            at("b", "x/2", 200),
            at("b", "x/1", 200),
            at("b", "x/2", 500),
            at("b", "x/2", 200),
        ] {
            m.observe(&o);
        }
        let lines: Vec<String> = m
            .render(None)
            .lines()
            .filter(|l| l.starts_with("ai_proxy_requests_total{"))
            .map(str::to_owned)
            .collect();
        let want = [
            "model=\"a\",deployment=\"x/1\",status=\"200\",result=\"ok\"} 1",
            "model=\"b\",deployment=\"x/1\",status=\"200\",result=\"ok\"} 1",
            "model=\"b\",deployment=\"x/2\",status=\"200\",result=\"ok\"} 3",
            "model=\"b\",deployment=\"x/2\",status=\"500\",result=\"error\"} 1",
        ]
        .map(|l| format!("ai_proxy_requests_total{{{l}"));
        assert_eq!(lines, want);
    }

    #[test]
    fn label_values_are_escaped_and_series_are_bounded() {
        let m = Metrics::default();
        m.observe(&obs("we\"ird\\\nname", 400, 0.001));
        assert!(m.render(None).contains("model=\"we\\\"ird\\\\\\nname\""));
        for i in 0..(MAX_SERIES + 50) {
            m.observe(&obs(&format!("made-up-{i}"), 400, 0.001));
        }
        let text = m.render(None);
        let series = text.lines().filter(|l| l.starts_with("ai_proxy_requests_total{")).count();
        assert_eq!(series, MAX_SERIES + 1, "the cap plus the (other) series");
        assert!(text.contains("ai_proxy_requests_total{model=\"(other)\",deployment=\"\",status=\"400\",result=\"error\"} 51\n"));
    }
}
