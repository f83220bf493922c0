//! Benchmark helper, not part of the product: the streaming client of `scripts/bench`.
//!
//! `latency` mode sends streaming requests one after another and records, per request, the
//! time to the first `data:` event and the arrival time of every event (so per-chunk delay
//! and batching can be compared between direct and proxied runs). `hold` mode opens N
//! streams at once, prints `all-open` when every one has received its first event (the caller
//! samples memory then) and reads them to the end. Prints one JSON object on stdout.
//!
//! Usage: bench_streams latency URL BODY REQUESTS [HEADER...]
//!        bench_streams hold URL BODY STREAMS [HEADER...]
//! HEADER is `name: value`. Every request is bounded by a 60 s timeout.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        return Err("usage: bench_streams latency|hold URL BODY N [HEADER...]".into());
    }
    let (mode, url, body) = (args[0].as_str(), args[1].clone(), args[2].clone());
    let n: usize = args[3].parse().map_err(|_| format!("N must be a number: {}", args[3]))?;
    let mut headers = reqwest::header::HeaderMap::new();
    for h in &args[4..] {
        let (k, v) =
            h.split_once(':').ok_or_else(|| format!("header must be `name: value`: {h}"))?;
        headers.insert(
            reqwest::header::HeaderName::from_bytes(k.trim().as_bytes())
                .map_err(|e| e.to_string())?,
            reqwest::header::HeaderValue::from_str(v.trim()).map_err(|e| e.to_string())?,
        );
    }
    headers
        .insert(reqwest::header::CONTENT_TYPE, "application/json".parse().map_err(|_| "header")?);
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .no_proxy()
        .default_headers(headers)
        .pool_max_idle_per_host(usize::MAX)
        .build()
        .map_err(|e| e.to_string())?;
    let out = match mode {
        "latency" => latency(&client, &url, &body, n).await?,
        "hold" => hold(client, url, body, n).await?,
        other => return Err(format!("unknown mode {other}")),
    };
    println!("{out}");
    Ok(())
}

/// One streamed request: (time to first event, arrival time of each event, body reads,
/// and for each chunk the mock stamped, how long it took from the mock's write to our read).
struct Trace {
    ttfb: Duration,
    events: Vec<Duration>,
    reads_with_events: usize,
    transit_ms: Vec<f64>,
}

async fn one(client: &reqwest::Client, url: &str, body: &str) -> Result<Trace, String> {
    let start = Instant::now();
    let resp =
        client.post(url).body(body.to_owned()).send().await.map_err(|e| format!("send: {e}"))?;
    if !resp.status().is_success() {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        return Err(format!("HTTP {status}: {}", text.chars().take(300).collect::<String>()));
    }
    let mut stream = resp.bytes_stream();
    let mut events = Vec::new();
    let mut reads_with_events = 0;
    let mut transit_ms = Vec::new();
    while let Some(item) = stream.next().await {
        let bytes = item.map_err(|e| format!("read: {e}"))?;
        let at = start.elapsed();
        let now = unix_us();
        transit_ms.extend(stamps(&bytes).into_iter().map(|t| (now - t) as f64 / 1000.0));
        let k = count_events(&bytes);
        if k > 0 {
            reads_with_events += 1;
        }
        for _ in 0..k {
            events.push(at);
        }
    }
    let ttfb = *events.first().ok_or("the stream had no data event")?;
    Ok(Trace { ttfb, events, reads_with_events, transit_ms })
}

fn unix_us() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i128)
        .unwrap_or(0)
}

/// The mock's write times (`fp_ts_<16 digits>`, unix µs) in a read.
fn stamps(bytes: &[u8]) -> Vec<i128> {
    const TAG: &[u8] = b"fp_ts_";
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(p) = bytes[i..].windows(TAG.len()).position(|w| w == TAG) {
        let from = i + p + TAG.len();
        let digits = bytes.get(from..from + 16).and_then(|d| std::str::from_utf8(d).ok());
        if let Some(t) = digits.and_then(|d| d.parse::<i128>().ok()) {
            out.push(t);
        }
        i = from;
    }
    out
}

/// `data:` lines in a read (events are one `data:` line each in every dialect used here).
fn count_events(bytes: &[u8]) -> usize {
    bytes.windows(5).filter(|w| w == b"data:").count()
}

async fn latency(
    client: &reqwest::Client,
    url: &str,
    body: &str,
    n: usize,
) -> Result<serde_json::Value, String> {
    // One warm-up request opens the connections.
    tokio::time::timeout(REQUEST_TIMEOUT, one(client, url, body))
        .await
        .map_err(|_| "warm-up timed out")??;
    let mut traces = Vec::with_capacity(n);
    for _ in 0..n {
        let t = tokio::time::timeout(REQUEST_TIMEOUT, one(client, url, body))
            .await
            .map_err(|_| "request timed out")??;
        traces.push(t);
    }
    let mut ttfb: Vec<f64> = traces.iter().map(|t| ms(t.ttfb)).collect();
    let events = traces.iter().map(|t| t.events.len()).min().unwrap_or(0);
    // Median arrival time of event k, per k.
    let arrivals: Vec<f64> = (0..events)
        .map(|k| {
            let mut v: Vec<f64> = traces.iter().map(|t| ms(t.events[k])).collect();
            pct(&mut v, 50.0)
        })
        .collect();
    // Gap between consecutive events inside one request, all requests pooled.
    let mut gaps: Vec<f64> =
        traces.iter().flat_map(|t| t.events.windows(2).map(|w| ms(w[1] - w[0]))).collect();
    let reads: usize = traces.iter().map(|t| t.reads_with_events).sum();
    let mut transit: Vec<f64> = traces.iter().flat_map(|t| t.transit_ms.iter().copied()).collect();
    let evs: usize = traces.iter().map(|t| t.events.len()).sum();
    Ok(json!({
        "requests": n,
        "ttfb_ms_p50": pct(&mut ttfb, 50.0),
        "ttfb_ms_p99": pct(&mut ttfb, 99.0),
        "events_per_request": events,
        "event_arrival_ms_p50": arrivals,
        "gap_ms_p50": pct(&mut gaps, 50.0),
        "gap_ms_min": gaps.iter().cloned().fold(f64::INFINITY, f64::min),
        "events": evs,
        "stamped_chunks": transit.len(),
        "chunk_transit_ms_p50": pct(&mut transit, 50.0),
        "chunk_transit_ms_p99": pct(&mut transit, 99.0),
        "reads_with_events": reads,
    }))
}

async fn hold(
    client: reqwest::Client,
    url: String,
    body: String,
    n: usize,
) -> Result<serde_json::Value, String> {
    let opened = Arc::new(AtomicUsize::new(0));
    let notify = Arc::new(tokio::sync::Notify::new());
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (client, url, body, opened, notify) =
            (client.clone(), url.clone(), body.clone(), opened.clone(), notify.clone());
        tasks.push(tokio::spawn(async move {
            let run = async {
                let resp = client.post(&url).body(body).send().await.map_err(|e| e.to_string())?;
                if !resp.status().is_success() {
                    return Err(format!("HTTP {}", resp.status()));
                }
                let mut stream = resp.bytes_stream();
                let mut first = true;
                let mut events = 0;
                while let Some(item) = stream.next().await {
                    let bytes = item.map_err(|e| e.to_string())?;
                    events += count_events(&bytes);
                    if first && events > 0 {
                        first = false;
                        opened.fetch_add(1, Ordering::SeqCst);
                        notify.notify_one();
                    }
                }
                Ok::<usize, String>(events)
            };
            tokio::time::timeout(REQUEST_TIMEOUT, run).await.map_err(|_| "timed out".to_owned())?
        }));
    }
    // Wait (bounded) until every stream has its first event, then tell the caller.
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    while opened.load(Ordering::SeqCst) < n && Instant::now() < deadline {
        let _ = tokio::time::timeout(Duration::from_millis(50), notify.notified()).await;
    }
    let all_open_ms = ms(start.elapsed());
    let open_now = opened.load(Ordering::SeqCst);
    eprintln!("all-open {open_now}");
    let _ = std::io::stderr().flush();
    let mut ok = 0;
    let mut errors: Vec<String> = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(e.to_string()),
        }
    }
    errors.sort();
    errors.dedup();
    Ok(json!({
        "streams": n,
        "opened": open_now,
        "all_open_ms": all_open_ms,
        "completed": ok,
        "errors": errors.into_iter().take(5).collect::<Vec<_>>(),
    }))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let idx = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    v[idx.min(v.len() - 1)]
}
