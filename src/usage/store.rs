//! The request log on disk: one SQLite file (WAL) in the state folder, one row per model call,
//! pruned by age and size. Only [`super::writer`] writes; readers open their own read-only
//! connection per query. SQL stays in this file.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;
use std::sync::LazyLock;

use rusqlite::{Connection, OpenFlags, Statement, ToSql, params};

use super::Record;

/// Why the request log could not be opened, written or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the folder {path} for the request log: {source}")]
    Folder { path: String, source: std::io::Error },
    #[error("the request log {path}: {source}")]
    Sqlite { path: String, source: rusqlite::Error },
    #[error("reading the request log failed: {0}")]
    Task(String),
    #[error(
        "the request log {path} was written by a newer ai-proxy (schema {found}, this one knows {known}): move it aside or upgrade"
    )]
    Schema { path: String, found: i64, known: i64 },
}

/// 1: the first. 2: `model_id` (the deployment's id, for budgets).
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS calls (
    id                INTEGER PRIMARY KEY,
    ts_ms             INTEGER NOT NULL,
    request_id        TEXT NOT NULL,
    endpoint          TEXT NOT NULL,
    alias             TEXT NOT NULL,
    provider          TEXT NOT NULL,
    deployment        TEXT,
    status            INTEGER NOT NULL,
    stream            INTEGER NOT NULL,
    latency_ms        REAL NOT NULL,
    ttft_ms           REAL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cached_tokens     INTEGER NOT NULL,
    reasoning_tokens  INTEGER NOT NULL,
    cost              REAL,
    error             TEXT,
    user_agent        TEXT,
    model_id          TEXT
);
CREATE INDEX IF NOT EXISTS calls_ts ON calls (ts_ms);
CREATE INDEX IF NOT EXISTS calls_request_id ON calls (request_id);
";

fn sql_err(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Sqlite { path: path.display().to_string(), source }
}

/// Open (creating when missing) the log for writing: WAL, `synchronous=NORMAL` (a crash can
/// lose the last calls, never corrupt the file), incremental vacuum so pruning gives space
/// back, the file readable by its owner only.
pub fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|source| StoreError::Folder { path: dir.display().to_string(), source })?;
    }
    let conn = Connection::open(path).map_err(sql_err(path))?;
    restrict_permissions(path);
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(sql_err(path))?;
    // auto_vacuum only takes effect before the first table exists. Setting it writes the
    // header even when unchanged, so it is set only when it is not incremental (2) yet.
    let vacuum: i64 =
        conn.pragma_query_value(None, "auto_vacuum", |r| r.get(0)).map_err(sql_err(path))?;
    if vacuum != 2 {
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;").map_err(sql_err(path))?;
    }
    conn.pragma_update(None, "journal_mode", "WAL").map_err(sql_err(path))?;
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(sql_err(path))?;
    let found: i64 =
        conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(sql_err(path))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::Schema {
            path: path.display().to_string(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    conn.execute_batch(SCHEMA).map_err(sql_err(path))?;
    if found == 1 {
        // A version-1 file: its table predates `model_id` (CREATE TABLE IF NOT EXISTS left it).
        conn.execute_batch("ALTER TABLE calls ADD COLUMN model_id TEXT;").map_err(sql_err(path))?;
    }
    // Written only when it changes: a write at every start would be a WAL commit, and the
    // first one in a new WAL is synced to disk (two fsyncs before the listener opens).
    if found != SCHEMA_VERSION {
        conn.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(sql_err(path))?;
    }
    Ok(conn)
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) {}

/// A read-only connection for one query.
pub fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql_err(path))?;
    conn.busy_timeout(std::time::Duration::from_secs(2)).map_err(sql_err(path))?;
    Ok(conn)
}

/// The columns a record fills, in the order [`bind_row`] binds them.
const COLUMNS: &str = "ts_ms, request_id, endpoint, alias, provider, deployment, status, stream, \
    latency_ms, ttft_ms, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost, \
    error, user_agent, model_id";
const PER_ROW: usize = 18;

/// Rows one `INSERT` writes while a batch has that many left: a statement's own work (its
/// start, opening the table and its two indexes, its end) is done once for them, not per row.
/// 32 × 18 parameters is far below SQLite's limit (32,766).
const ROWS_PER_INSERT: usize = 32;

/// `INSERT INTO calls (…) VALUES (?, …), …` for `rows` rows.
fn insert_sql(rows: usize) -> String {
    let row = format!("({})", vec!["?"; PER_ROW].join(", "));
    format!("INSERT INTO calls ({COLUMNS}) VALUES {}", vec![row; rows].join(", "))
}

/// Write a batch of records in one transaction: `ROWS_PER_INSERT` rows per statement, the
/// rest one by one.
pub fn insert(conn: &mut Connection, records: &[Record]) -> rusqlite::Result<()> {
    static MANY: LazyLock<String> = LazyLock::new(|| insert_sql(ROWS_PER_INSERT));
    static ONE: LazyLock<String> = LazyLock::new(|| insert_sql(1));
    let tx = conn.transaction()?;
    {
        let mut chunks = records.chunks_exact(ROWS_PER_INSERT);
        if records.len() >= ROWS_PER_INSERT {
            let mut stmt = tx.prepare_cached(&MANY)?;
            for chunk in &mut chunks {
                for (i, r) in chunk.iter().enumerate() {
                    bind_row(&mut stmt, i * PER_ROW, r)?;
                }
                stmt.raw_execute()?;
            }
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut stmt = tx.prepare_cached(&ONE)?;
            for r in rest {
                bind_row(&mut stmt, 0, r)?;
                stmt.raw_execute()?;
            }
        }
    }
    tx.commit()
}

/// Bind one record to the parameters after the first `before` of `stmt`, in [`COLUMNS`] order.
fn bind_row(stmt: &mut Statement<'_>, before: usize, r: &Record) -> rusqlite::Result<()> {
    let values: [&dyn ToSql; PER_ROW] = [
        &r.ts_ms,
        &r.request_id,
        &r.endpoint,
        &r.alias,
        &r.provider,
        &r.deployment,
        &r.status,
        &r.stream,
        &r.latency_ms,
        &r.ttft_ms,
        &to_i64(r.prompt_tokens),
        &to_i64(r.completion_tokens),
        &to_i64(r.cached_tokens),
        &to_i64(r.reasoning_tokens),
        &r.cost,
        &r.error,
        &r.user_agent,
        &r.model_id,
    ];
    for (i, value) in values.into_iter().enumerate() {
        stmt.raw_bind_parameter(before + i + 1, value)?;
    }
    Ok(())
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// How much of the log to keep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retention {
    /// Rows older than this many milliseconds are deleted.
    pub max_age_ms: i64,
    /// When the file is larger, the oldest rows are deleted until it is not.
    pub max_bytes: u64,
}

/// Delete what `retention` no longer keeps and give the space back. Returns the rows deleted.
pub fn prune(conn: &Connection, retention: Retention, now_ms: i64) -> rusqlite::Result<usize> {
    let mut deleted =
        conn.execute("DELETE FROM calls WHERE ts_ms < ?1", [now_ms - retention.max_age_ms])?;
    // Over the size bound: drop the oldest tenth of the rows at a time (a row is ~200 bytes,
    // so a few rounds at most).
    for _ in 0..10 {
        if size_bytes(conn)? <= retention.max_bytes {
            break;
        }
        let rows: i64 = conn.query_row("SELECT count(*) FROM calls", [], |r| r.get(0))?;
        if rows == 0 {
            break;
        }
        deleted += conn.execute(
            "DELETE FROM calls WHERE id IN (SELECT id FROM calls ORDER BY ts_ms LIMIT ?1)",
            [(rows / 10).max(1)],
        )?;
        conn.execute_batch("PRAGMA incremental_vacuum;")?;
    }
    if deleted > 0 {
        conn.execute_batch("PRAGMA incremental_vacuum;")?;
    }
    Ok(deleted)
}

/// The file's size in use: pages in use times the page size.
pub fn size_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(u64::try_from((pages - free).max(0) * size).unwrap_or(0))
}

/// Totals of one model (alias) over a time range.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ModelTotals {
    pub model: String,
    pub requests: u64,
    pub failed_requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub reasoning_tokens: u64,
    pub total_tokens: u64,
    /// The sum of the calls whose price is known; `None` when none was.
    pub cost_usd: Option<f64>,
    /// Calls with tokens but no known price (their cost is not in `cost_usd`).
    pub unpriced_requests: u64,
    /// The last failed call's error, when the last call of the model failed.
    pub last_error: Option<String>,
}

/// Per-alias totals of calls that started in `[since_ms, until_ms)`, busiest first.
pub fn totals(
    conn: &Connection,
    since_ms: i64,
    until_ms: i64,
) -> rusqlite::Result<Vec<ModelTotals>> {
    let mut stmt = conn.prepare_cached(
        "SELECT alias, count(*),
                sum(CASE WHEN status >= 400 OR error IS NOT NULL THEN 1 ELSE 0 END),
                sum(prompt_tokens), sum(completion_tokens), sum(cached_tokens),
                sum(reasoning_tokens), sum(cost), count(cost),
                sum(CASE WHEN cost IS NULL AND prompt_tokens + completion_tokens > 0 THEN 1 ELSE 0 END),
                (SELECT c2.error FROM calls c2 WHERE c2.alias = calls.alias
                    AND c2.ts_ms >= ?1 AND c2.ts_ms < ?2 ORDER BY c2.ts_ms DESC, c2.id DESC LIMIT 1)
         FROM calls WHERE ts_ms >= ?1 AND ts_ms < ?2
         GROUP BY alias ORDER BY count(*) DESC, alias",
    )?;
    let rows = stmt.query_map([since_ms, until_ms], |r| {
        let u = |i: usize| -> rusqlite::Result<u64> {
            Ok(u64::try_from(r.get::<_, Option<i64>>(i)?.unwrap_or(0)).unwrap_or(0))
        };
        let priced = u(8)?;
        let (prompt, completion) = (u(3)?, u(4)?);
        Ok(ModelTotals {
            model: r.get(0)?,
            requests: u(1)?,
            failed_requests: u(2)?,
            prompt_tokens: prompt,
            completion_tokens: completion,
            cached_tokens: u(5)?,
            reasoning_tokens: u(6)?,
            total_tokens: prompt + completion,
            cost_usd: if priced > 0 { r.get::<_, Option<f64>>(7)? } else { None },
            unpriced_requests: u(9)?,
            last_error: r.get(10)?,
        })
    })?;
    rows.collect()
}

/// What `GET /spend/logs` filters on.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub alias: Option<String>,
    pub request_id: Option<String>,
    pub failed_only: bool,
    pub limit: usize,
}

/// The newest calls matching `filter`, newest first.
pub fn logs(conn: &Connection, filter: &LogFilter) -> rusqlite::Result<Vec<Record>> {
    let mut stmt = conn.prepare_cached(
        "SELECT ts_ms, request_id, endpoint, alias, provider, deployment, status, stream,
                latency_ms, ttft_ms, prompt_tokens, completion_tokens, cached_tokens,
                reasoning_tokens, cost, error, user_agent, model_id
         FROM calls
         WHERE (?1 IS NULL OR ts_ms >= ?1) AND (?2 IS NULL OR ts_ms < ?2)
           AND (?3 IS NULL OR alias = ?3) AND (?4 IS NULL OR request_id = ?4)
           AND (?5 = 0 OR status >= 400 OR error IS NOT NULL)
         ORDER BY ts_ms DESC, id DESC LIMIT ?6",
    )?;
    let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(
        params![
            filter.since_ms,
            filter.until_ms,
            filter.alias,
            filter.request_id,
            filter.failed_only,
            limit
        ],
        |r| {
            let u = |i: usize| -> rusqlite::Result<u64> {
                Ok(u64::try_from(r.get::<_, i64>(i)?).unwrap_or(0))
            };
            Ok(Record {
                ts_ms: r.get(0)?,
                request_id: r.get(1)?,
                endpoint: Cow::Owned(r.get(2)?),
                alias: r.get(3)?,
                provider: Cow::Owned(r.get(4)?),
                deployment: r.get::<_, Option<String>>(5)?.map(Arc::from),
                status: r.get(6)?,
                stream: r.get(7)?,
                latency_ms: r.get(8)?,
                ttft_ms: r.get(9)?,
                prompt_tokens: u(10)?,
                completion_tokens: u(11)?,
                cached_tokens: u(12)?,
                reasoning_tokens: u(13)?,
                cost: r.get(14)?,
                error: r.get(15)?,
                user_agent: r.get(16)?,
                model_id: r.get::<_, Option<String>>(17)?.map(Arc::from),
            })
        },
    )?;
    rows.collect()
}

/// The priced spend of deployment `model_id` since `since_ms`, summed per slot of `slot_ms`
/// (`ts_ms / slot_ms`): what a budget's window is seeded with.
pub fn spend_by_slot(
    conn: &Connection,
    model_id: &str,
    since_ms: i64,
    slot_ms: i64,
) -> rusqlite::Result<Vec<(i64, f64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT ts_ms / ?3, sum(cost) FROM calls
         WHERE ts_ms >= ?2 AND model_id = ?1 AND cost IS NOT NULL
         GROUP BY 1",
    )?;
    let rows = stmt
        .query_map(params![model_id, since_ms, slot_ms.max(1)], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Per-day, per-alias spend of calls in `[since_ms, until_ms)`: (day `YYYY-MM-DD` in local
/// time, totals), oldest day first.
pub fn daily(
    conn: &Connection,
    since_ms: i64,
    until_ms: i64,
) -> rusqlite::Result<Vec<(String, ModelTotals)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT date(ts_ms / 1000, 'unixepoch', 'localtime') AS day, alias, count(*),
                sum(prompt_tokens), sum(completion_tokens), sum(cost), count(cost)
         FROM calls WHERE ts_ms >= ?1 AND ts_ms < ?2
         GROUP BY day, alias ORDER BY day, alias",
    )?;
    let rows = stmt.query_map([since_ms, until_ms], |r| {
        let u = |i: usize| -> rusqlite::Result<u64> {
            Ok(u64::try_from(r.get::<_, Option<i64>>(i)?.unwrap_or(0)).unwrap_or(0))
        };
        let (prompt, completion) = (u(3)?, u(4)?);
        Ok((
            r.get(0)?,
            ModelTotals {
                model: r.get(1)?,
                requests: u(2)?,
                prompt_tokens: prompt,
                completion_tokens: completion,
                total_tokens: prompt + completion,
                cost_usd: if u(6)? > 0 { r.get(5)? } else { None },
                ..Default::default()
            },
        ))
    })?;
    rows.collect()
}

/// Unix milliseconds of the local midnight that starts the day `days_back` days before today
/// (0: today), as the C library's local time zone says.
pub fn local_day_start_ms(conn: &Connection, days_back: u32) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT CAST(strftime('%s', 'now', 'localtime', 'start of day', ?1, 'utc') AS INTEGER) * 1000",
        [format!("-{days_back} days")],
        |r| r.get(0),
    )
}

/// Unix milliseconds of local midnight starting `YYYY-MM-DD`; `None` for a malformed date.
pub fn local_date_ms(conn: &Connection, date: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT CAST(strftime('%s', ?1, 'utc') AS INTEGER) * 1000 WHERE date(?1) = ?1",
        [date],
        |r| r.get(0),
    )
    .or_else(|e| match e {
        rusqlite::Error::QueryReturnedNoRows => Ok(None),
        e => Err(e),
    })
}

/// An ISO 8601 UTC time (`2026-12-04T20:41:07.123Z`) for unix milliseconds.
pub fn iso_time(conn: &Connection, ms: i64) -> rusqlite::Result<String> {
    conn.query_row("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', ?1 / 1000.0, 'unixepoch')", [ms], |r| {
        r.get(0)
    })
}

#[cfg(test)]
mod tests;
