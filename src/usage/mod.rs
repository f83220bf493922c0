//! Usage and request history: one [`Record`] per model call (metadata only: never prompts or
//! completions), its cost from [`price`], written by a background thread to the SQLite
//! request log in the state folder ([`store`]), so a slow disk never delays a response. The
//! handlers' `CallLog` hands its record over when dropped; `/spend/logs`, `/usage` and
//! `/global/spend/report` read it back.

pub mod metrics;
pub mod price;
pub mod store;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::task::futures::TaskLocalFuture;

pub use store::{LogFilter, ModelTotals, Retention, StoreError};

/// One model call, as the request log keeps it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    /// When the call started, unix milliseconds.
    pub ts_ms: i64,
    pub request_id: String,
    /// `chat`, `messages`, `responses`, `embeddings`, ... (a call's record names its
    /// endpoint, provider and deployment without copying them; records read back own theirs).
    pub endpoint: Cow<'static, str>,
    /// The model name the client asked for.
    pub alias: String,
    pub provider: Cow<'static, str>,
    /// `provider/model` of the deployment that answered, when one did.
    pub deployment: Option<Arc<str>>,
    /// The deployment's id (LiteLLM's `model_info.id`, else a hash: `router::Routed::id`),
    /// what budgets are summed by.
    pub model_id: Option<Arc<str>>,
    pub status: u16,
    pub stream: bool,
    pub latency_ms: f64,
    /// Time to the first streamed chunk.
    pub ttft_ms: Option<f64>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub reasoning_tokens: u64,
    /// USD; `None` when the model's price is unknown.
    pub cost: Option<f64>,
    /// The error the client got or the stream ended with (redacted, at most
    /// [`MAX_ERROR_CHARS`] characters).
    pub error: Option<String>,
    pub user_agent: Option<String>,
}

/// Errors and user agents are cut to this many characters in the log.
pub const MAX_ERROR_CHARS: usize = 500;

/// Cut `text` to `max` characters (on a character boundary), marking the cut.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((i, _)) => format!("{}…", &text[..i]),
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Records waiting for the writer; beyond this the newest are dropped (and counted) rather
/// than making a request wait for the disk.
const QUEUE: usize = 8192;
/// Rows written per transaction at most.
const BATCH: usize = 512;
/// After a record arrives, the writer waits this long for more before writing them in one
/// transaction: at 1,000 calls/s that is 5 commits a second instead of 1,000, and a request
/// handing over its row almost never has to wake the writer (it is asleep, not waiting on
/// the queue). A crash can lose this much of the log.
const BATCH_DELAY: Duration = Duration::from_millis(200);
/// How often the writer applies the retention rules.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// The request log: a handle to its writer thread and the file to read from. Cheap to clone.
#[derive(Clone)]
pub struct UsageLog(Arc<Shared>);

struct Shared {
    path: PathBuf,
    tx: SyncSender<Msg>,
    dropped: AtomicU64,
}

enum Msg {
    Record(Box<Record>),
    /// Answered once everything sent before it is on disk.
    Flush(SyncSender<()>),
}

impl std::fmt::Debug for UsageLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageLog").field("path", &self.0.path).finish()
    }
}

impl UsageLog {
    /// Open (or create) the log at `path` and start its writer thread. Old rows are pruned
    /// at once and then hourly.
    pub fn open(path: &Path, retention: Retention) -> Result<UsageLog, StoreError> {
        let conn = store::open_writer(path)?;
        let (tx, rx) = sync_channel(QUEUE);
        let shown = path.display().to_string();
        std::thread::Builder::new()
            .name("usage-log".into())
            .spawn(move || write_loop(conn, rx, retention, &shown))
            .map_err(|source| StoreError::Folder { path: path.display().to_string(), source })?;
        Ok(UsageLog(Arc::new(Shared { path: path.to_owned(), tx, dropped: AtomicU64::new(0) })))
    }

    pub fn path(&self) -> &Path {
        &self.0.path
    }

    /// Queue a record for writing; never blocks. A full queue drops it (counted, and said in
    /// the log once per thousand).
    pub fn record(&self, record: Record) {
        match self.0.tx.try_send(Msg::Record(Box::new(record))) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let n = self.0.dropped.fetch_add(1, Ordering::Relaxed);
                if n.is_multiple_of(1000) {
                    tracing::warn!(
                        "the request log's writer is behind (disk slow?): {} call records not logged so far",
                        n + 1
                    );
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                self.0.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Records not logged because the writer was behind or gone.
    pub fn dropped(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }

    /// Wait (blocking, up to `timeout`) until every record queued before this call is on
    /// disk. True when it is.
    pub fn flush(&self, timeout: Duration) -> bool {
        let (tx, rx) = sync_channel(1);
        if self.0.tx.send(Msg::Flush(tx)).is_err() {
            return false;
        }
        rx.recv_timeout(timeout).is_ok()
    }

    /// Run `query` on a read-only connection of its own, off the async runtime.
    pub async fn read<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let path = self.0.path.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let conn = store::open_reader(&path)?;
            query(&conn)
                .map_err(|source| StoreError::Sqlite { path: path.display().to_string(), source })
        })
        .await;
        joined.unwrap_or_else(|e| Err(StoreError::Task(e.to_string())))
    }
}

fn write_loop(mut conn: rusqlite::Connection, rx: Receiver<Msg>, retention: Retention, path: &str) {
    let mut last_prune: Option<Instant> = None;
    let mut batch = Vec::with_capacity(BATCH);
    let mut failing = false;
    // The last batch was full: more is waiting, write it without the batching delay.
    let mut behind = false;
    loop {
        if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            match store::prune(&conn, retention, now_ms()) {
                Ok(0) => {}
                Ok(n) => tracing::info!("request log: {n} old calls pruned from {path}"),
                Err(e) => tracing::warn!("request log {path}: pruning failed: {e}"),
            }
            last_prune = Some(Instant::now());
        }
        // Wake at least hourly to prune even when idle.
        let first = match rx.recv_timeout(PRUNE_EVERY) {
            Ok(m) => m,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        };
        // Gather what else comes within the batching delay (a flush is answered at once; a
        // writer that is behind does not wait).
        if matches!(first, Msg::Record(_)) && !behind {
            std::thread::sleep(BATCH_DELAY);
        }
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                Msg::Record(r) => batch.push(*r),
                Msg::Flush(done) => flushes.push(done),
            }
            next = if batch.len() < BATCH { rx.try_recv().ok() } else { None };
        }
        behind = batch.len() >= BATCH;
        if !batch.is_empty() {
            match store::insert(&mut conn, &batch) {
                Ok(()) => {
                    if failing {
                        tracing::info!("request log {path}: writing again");
                        failing = false;
                    }
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(
                            "request log {path}: {} call records not written: {e}",
                            batch.len()
                        );
                        failing = true;
                    }
                }
            }
            batch.clear();
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// The one request log of this process, by path: a gateway rebuilt by a reload (or restarted
/// from the menu) keeps writing through the same thread.
pub fn shared(path: &Path, retention: Retention) -> Result<UsageLog, StoreError> {
    static OPEN: Mutex<Vec<UsageLog>> = Mutex::new(Vec::new());
    let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(log) = open.iter().find(|l| l.path() == path) {
        return Ok(log.clone());
    }
    let log = UsageLog::open(path, retention)?;
    open.push(log.clone());
    Ok(log)
}

tokio::task_local! {
    static CALLER: Caller;
}

/// Who is calling, set per request by the server: where call records go and the client's
/// user agent.
#[derive(Clone, Default)]
pub struct Caller {
    pub log: Option<UsageLog>,
    pub user_agent: Option<String>,
}

/// Run `fut` with `caller` visible to [`caller`].
pub fn with_caller<F: std::future::Future>(caller: Caller, fut: F) -> TaskLocalFuture<Caller, F> {
    CALLER.scope(caller, fut)
}

/// The caller of the request being handled (empty outside one).
pub fn caller() -> Caller {
    CALLER.try_with(Clone::clone).unwrap_or_default()
}

#[cfg(test)]
mod tests;
