//! The request-log writer thread and the shared per-path log handle.

use super::*;

fn retention() -> Retention {
    Retention { max_age_ms: 86_400_000, max_bytes: 100 << 20 }
}

#[test]
fn records_reach_the_file_through_the_writer_thread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("usage.sqlite3");
    let log = UsageLog::open(&path, retention()).expect("open");
    for i in 0..300 {
        log.record(Record {
            ts_ms: now_ms() + i,
            alias: "m".into(),
            status: 200,
            ..Default::default()
        });
    }
    assert!(log.flush(Duration::from_secs(10)), "flushed");
    let conn = store::open_reader(&path).expect("reader");
    let n: i64 = conn.query_row("SELECT count(*) FROM calls", [], |r| r.get(0)).expect("count");
    assert_eq!(n, 300);
    assert_eq!(log.dropped(), 0);
}

#[test]
fn the_shared_log_is_one_per_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = shared(&dir.path().join("a.sqlite3"), retention()).expect("a");
    let a2 = shared(&dir.path().join("a.sqlite3"), retention()).expect("a again");
    let b = shared(&dir.path().join("b.sqlite3"), retention()).expect("b");
    assert!(Arc::ptr_eq(&a.0, &a2.0));
    assert!(!Arc::ptr_eq(&a.0, &b.0));
}

#[tokio::test]
async fn reads_run_off_the_runtime_and_see_flushed_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = UsageLog::open(&dir.path().join("u.sqlite3"), retention()).expect("open");
    log.record(Record {
        ts_ms: now_ms(),
        alias: "m".into(),
        status: 200,
        prompt_tokens: 3,
        ..Default::default()
    });
    let flushed = {
        let log = log.clone();
        tokio::task::spawn_blocking(move || log.flush(Duration::from_secs(10))).await.expect("join")
    };
    assert!(flushed);
    let t = log.read(|c| store::totals(c, 0, i64::MAX)).await.expect("totals");
    assert_eq!(t[0].prompt_tokens, 3);
}

#[test]
fn truncation_cuts_on_characters_and_marks_the_cut() {
    assert_eq!(truncate("short", 10), "short");
    assert_eq!(truncate("日本語のテキスト", 3), "日本語…");
    assert_eq!(truncate("abc", 3), "abc");
}

#[tokio::test]
async fn the_caller_is_visible_inside_its_scope_only() {
    assert!(caller().user_agent.is_none());
    let ua = with_caller(Caller { log: None, user_agent: Some("x/1".into()) }, async {
        caller().user_agent
    })
    .await;
    assert_eq!(ua.as_deref(), Some("x/1"));
}
