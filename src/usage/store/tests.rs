//! The SQLite request log: records written and read back with filters, totals, retention.

use super::*;

fn record(ts_ms: i64, alias: &str, status: u16, tokens: (u64, u64), cost: Option<f64>) -> Record {
    Record {
        ts_ms,
        request_id: format!("req_{ts_ms}"),
        endpoint: "chat".into(),
        alias: alias.into(),
        provider: "azure".into(),
        deployment: Some("azure/gpt-4.1".into()),
        status,
        stream: false,
        latency_ms: 12.5,
        ttft_ms: None,
        prompt_tokens: tokens.0,
        completion_tokens: tokens.1,
        cost,
        error: (status >= 400).then(|| format!("upstream said {status}")),
        ..Default::default()
    }
}

fn fresh() -> (tempfile::TempDir, std::path::PathBuf, Connection) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state/usage.sqlite3");
    let conn = open_writer(&path).expect("open");
    (dir, path, conn)
}

#[test]
fn records_round_trip_and_read_back_newest_first_with_filters() {
    let (_dir, path, mut conn) = fresh();
    let rows = vec![
        record(1_000, "gpt", 200, (10, 5), Some(0.001)),
        record(2_000, "gemini", 429, (0, 0), None),
        Record {
            stream: true,
            ttft_ms: Some(80.0),
            user_agent: Some("ua/1".into()),
            ..record(3_000, "gpt", 200, (7, 3), None)
        },
    ];
    insert(&mut conn, &rows).expect("insert");
    let reader = open_reader(&path).expect("reader");
    let all = logs(&reader, &LogFilter { limit: 10, ..Default::default() }).expect("logs");
    assert_eq!(all.iter().map(|r| r.ts_ms).collect::<Vec<_>>(), vec![3_000, 2_000, 1_000]);
    assert_eq!(all[0], rows[2]);
    assert_eq!(all[2], rows[0]);

    let gpt =
        logs(&reader, &LogFilter { alias: Some("gpt".into()), limit: 10, ..Default::default() })
            .expect("logs");
    assert_eq!(gpt.len(), 2);
    let failed = logs(&reader, &LogFilter { failed_only: true, limit: 10, ..Default::default() })
        .expect("logs");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].error.as_deref(), Some("upstream said 429"));
    let window = logs(
        &reader,
        &LogFilter {
            since_ms: Some(1_500),
            until_ms: Some(3_000),
            limit: 10,
            ..Default::default()
        },
    )
    .expect("logs");
    assert_eq!(window.len(), 1);
    let one = logs(
        &reader,
        &LogFilter { request_id: Some("req_1000".into()), limit: 10, ..Default::default() },
    )
    .expect("logs");
    assert_eq!(one.len(), 1);
    let limited = logs(&reader, &LogFilter { limit: 1, ..Default::default() }).expect("logs");
    assert_eq!(limited.len(), 1);
}

#[test]
fn totals_sum_per_model_and_keep_unknown_cost_unknown() {
    let (_dir, path, mut conn) = fresh();
    insert(
        &mut conn,
        &[
            record(1_000, "gpt", 200, (100, 50), Some(0.002)),
            record(2_000, "gpt", 200, (10, 5), Some(0.001)),
            record(2_500, "gpt", 500, (0, 0), None),
            record(3_000, "qwen", 200, (40, 2), None),
            record(9_000, "gpt", 200, (1, 1), Some(5.0)),
        ],
    )
    .expect("insert");
    let reader = open_reader(&path).expect("reader");
    let t = totals(&reader, 0, 5_000).expect("totals");
    assert_eq!(t.len(), 2);
    let gpt = &t[0];
    assert_eq!((gpt.model.as_str(), gpt.requests, gpt.failed_requests), ("gpt", 3, 1));
    assert_eq!((gpt.prompt_tokens, gpt.completion_tokens, gpt.total_tokens), (110, 55, 165));
    assert!((gpt.cost_usd.expect("priced") - 0.003).abs() < 1e-12);
    assert_eq!(gpt.unpriced_requests, 0, "a failed call with no tokens has nothing to price");
    assert_eq!(
        gpt.last_error.as_deref(),
        Some("upstream said 500"),
        "the last call in range failed"
    );
    let later = totals(&reader, 0, 10_000).expect("totals");
    assert_eq!(later[0].last_error, None, "a later success clears it");
    let qwen = &t[1];
    assert_eq!(qwen.cost_usd, None, "no call of qwen had a price: unknown, not 0");
    assert_eq!(qwen.unpriced_requests, 1);
}

#[test]
fn retention_deletes_by_age_and_by_size_oldest_first() {
    let (_dir, _path, mut conn) = fresh();
    let now = 100 * 86_400_000;
    let old = record(now - 31 * 86_400_000, "gpt", 200, (1, 1), None);
    let recent: Vec<_> = (0..2000)
        .map(|i| {
            let mut r = record(now - 1000 + i, "gpt", 200, (1, 1), None);
            r.user_agent = Some("x".repeat(200));
            r
        })
        .collect();
    insert(&mut conn, &[old]).expect("insert");
    insert(&mut conn, &recent).expect("insert");
    let keep_all = Retention { max_age_ms: 30 * 86_400_000, max_bytes: u64::MAX };
    assert_eq!(prune(&conn, keep_all, now).expect("prune"), 1);

    let before = size_bytes(&conn).expect("size");
    let bound = before / 2;
    let deleted =
        prune(&conn, Retention { max_age_ms: keep_all.max_age_ms, max_bytes: bound }, now)
            .expect("prune");
    assert!(deleted > 0);
    assert!(size_bytes(&conn).expect("size") <= bound, "the file is under its bound after pruning");
    let left: i64 = conn.query_row("SELECT min(ts_ms) FROM calls", [], |r| r.get(0)).expect("min");
    assert!(left > now - 1000, "the oldest rows went first");
}

#[test]
fn a_newer_schema_is_refused_with_what_to_do() {
    let (_dir, path, conn) = fresh();
    conn.pragma_update(None, "user_version", 99).expect("set");
    drop(conn);
    let err = open_writer(&path).expect_err("refused").to_string();
    assert!(err.contains("newer ai-proxy") && err.contains("move it aside"), "{err}");
}

#[test]
fn an_unwritable_folder_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").expect("write");
    let err = open_writer(&file.join("usage.sqlite3")).expect_err("refused").to_string();
    assert!(err.contains("not-a-dir"), "{err}");
}

#[cfg(unix)]
#[test]
fn the_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, path, _conn) = fresh();
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn dates_and_times_come_back_in_the_expected_forms() {
    let (_dir, _path, conn) = fresh();
    assert_eq!(iso_time(&conn, 0).expect("iso"), "1970-01-01T00:00:00.000Z");
    assert_eq!(iso_time(&conn, 1_733_344_867_123).expect("iso"), "2024-12-04T20:41:07.123Z");
    assert!(local_date_ms(&conn, "2026-12-04").expect("date").is_some());
    assert_eq!(local_date_ms(&conn, "2026-13-04").expect("date"), None);
    assert_eq!(local_date_ms(&conn, "yesterday").expect("date"), None);
    let today = local_day_start_ms(&conn, 0).expect("today");
    let week = local_day_start_ms(&conn, 6).expect("week");
    assert!(
        today <= crate::usage::now_ms() && crate::usage::now_ms() - today < 86_400_000 + 3_600_000
    );
    assert!(
        (today - week) >= 6 * 86_400_000 - 3_600_000
            && (today - week) <= 6 * 86_400_000 + 3_600_000
    );
}

/// Start-up opens the log: a file already at the current schema is not written to (no WAL
/// frame, so no fsync before the listener opens).
#[test]
fn opening_a_current_file_writes_nothing() {
    let (_dir, path, conn) = fresh();
    let vacuum: i64 = conn.pragma_query_value(None, "auto_vacuum", |r| r.get(0)).expect("v");
    assert_eq!(vacuum, 2, "a new file vacuums incrementally");
    drop(conn);
    let wal = path.with_file_name("usage.sqlite3-wal");
    let wal_len = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    let before = std::fs::read(&path).expect("read");
    let conn = open_writer(&path).expect("reopens");
    assert_eq!(wal_len(), 0, "the reopen wrote to the WAL");
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).expect("v");
    assert_eq!(version, SCHEMA_VERSION);
    drop(conn);
    assert_eq!(std::fs::read(&path).expect("read"), before, "the file changed");
}

#[test]
fn a_version_1_file_gains_model_id_and_keeps_its_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("usage.sqlite3");
    {
        // The version-1 table as 0.x wrote it: no model_id.
        let conn = Connection::open(&path).expect("open");
        let v1 = SCHEMA.replace(",\n    model_id          TEXT\n", "\n");
        assert!(!v1.contains("model_id"), "the v1 schema is the current one without model_id");
        conn.execute_batch(&v1).expect("v1 schema");
        conn.execute(
            "INSERT INTO calls (ts_ms, request_id, endpoint, alias, provider, status, stream,
                latency_ms, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost)
             VALUES (5, 'req_old', 'chat', 'gpt', 'azure', 200, 0, 1.0, 1, 1, 0, 0, 0.5)",
            [],
        )
        .expect("v1 row");
        conn.pragma_update(None, "user_version", 1).expect("v1");
    }
    let mut conn = open_writer(&path).expect("migrates");
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).expect("v");
    assert_eq!(version, SCHEMA_VERSION);
    insert(
        &mut conn,
        &[Record { model_id: Some("dep-1".into()), ..record(9, "gpt", 200, (1, 1), Some(0.25)) }],
    )
    .expect("insert after migration");
    let all =
        logs(&open_reader(&path).expect("reader"), &LogFilter { limit: 10, ..Default::default() })
            .expect("logs");
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].model_id.as_deref(), Some("dep-1"));
    assert_eq!((all[1].request_id.as_str(), all[1].model_id.as_deref()), ("req_old", None));
    // Opening again does not try to add the column twice.
    drop(conn);
    open_writer(&path).expect("reopens");
}

#[test]
fn spend_is_summed_per_slot_for_one_deployment_since_a_time() {
    let (_dir, path, mut conn) = fresh();
    let at = |ts, id: &str, cost| Record {
        model_id: Some(id.into()),
        ..record(ts, "gpt", 200, (1, 1), cost)
    };
    insert(
        &mut conn,
        &[
            at(500, "a", Some(9.0)),   // before `since`
            at(1_000, "a", Some(1.0)), // slot 1
            at(1_900, "a", Some(2.0)), // slot 1
            at(2_100, "a", Some(4.0)), // slot 2
            at(2_200, "a", None),      // unpriced
            at(2_300, "b", Some(8.0)), // another deployment
        ],
    )
    .expect("insert");
    let reader = open_reader(&path).expect("reader");
    let mut slots = spend_by_slot(&reader, "a", 1_000, 1_000).expect("query");
    slots.sort_by_key(|s| s.0);
    assert_eq!(slots, vec![(1, 3.0), (2, 4.0)]);
    assert!(spend_by_slot(&reader, "none", 0, 1_000).expect("query").is_empty());
}

/// A record whose every field depends on `i` differently, so a value bound to the wrong
/// column or row cannot read back equal.
fn varied(i: usize) -> Record {
    let n = i as u64;
    Record {
        ts_ms: 10_000 + i as i64,
        request_id: format!("req_{i:04}"),
        endpoint: ["chat", "messages", "responses"][i % 3].into(),
        alias: format!("alias-{}", i % 7),
        provider: ["azure", "vertex", ""][i % 3].into(),
        deployment: i.is_multiple_of(2).then(|| format!("dep/{i}").into()),
        status: [200, 429, 500, 200][i % 4],
        stream: i % 3 == 1,
        latency_ms: 0.5 + i as f64,
        ttft_ms: (!i.is_multiple_of(5)).then_some(0.25 * i as f64),
        prompt_tokens: 3 * n + 1,
        completion_tokens: 5 * n + 2,
        cached_tokens: 7 * n,
        reasoning_tokens: 11 * n,
        cost: (i % 4 != 1).then_some(i as f64 / 1000.0),
        error: (i % 6 == 5).then(|| format!("error {i}")),
        user_agent: (i % 2 == 1).then(|| format!("ua/{i}")),
        model_id: (i % 3 != 2).then(|| format!("model-{i}").into()),
    }
}

#[test]
fn every_batch_size_reads_back_exactly_what_was_written() {
    // Below, at and around multiples of the rows one statement writes.
    for n in
        [0, 1, ROWS_PER_INSERT - 1, ROWS_PER_INSERT, ROWS_PER_INSERT + 1, 2 * ROWS_PER_INSERT + 5]
    {
        let (_dir, path, mut conn) = fresh();
        let rows: Vec<Record> = (0..n).map(varied).collect();
        insert(&mut conn, &rows).expect("insert");
        // A second batch lands after the first.
        insert(&mut conn, &[varied(n)]).expect("insert");
        let reader = open_reader(&path).expect("reader");
        let mut back =
            logs(&reader, &LogFilter { limit: 1_000, ..Default::default() }).expect("logs");
        back.reverse();
        let expected: Vec<Record> = (0..=n).map(varied).collect();
        assert_eq!(back, expected, "batch of {n}");
    }
}

#[test]
fn a_batch_that_fails_midway_writes_none_of_its_rows() {
    let (_dir, path, mut conn) = fresh();
    conn.execute_batch(
        "CREATE TRIGGER refuse_40 BEFORE INSERT ON calls WHEN NEW.request_id = 'req_0040'
         BEGIN SELECT RAISE(ABORT, 'refused'); END;",
    )
    .expect("trigger");
    let rows: Vec<Record> = (0..2 * ROWS_PER_INSERT + 3).map(varied).collect();
    assert!(insert(&mut conn, &rows).is_err());
    let reader = open_reader(&path).expect("reader");
    let back = logs(&reader, &LogFilter { limit: 1_000, ..Default::default() }).expect("logs");
    assert!(back.is_empty(), "{} rows of a failed batch were kept", back.len());
}
