//! An operator switching from LogPaste's image keeps the bucket: a replica written by
//! Litestream 0.3.x (what that image ships) from a LogPaste-schema database restores
//! under ours (Litestream 0.5.17 reads the 0.3 "generations" layout), the app serves its
//! pastes, and replication carries on in the 0.5 format from there.

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::*;

const BUCKET: &str = "logpaste-legacy";
const PATH: &str = "logpaste";

/// LogPaste's schema as its own SQLite store creates it (entries, plus the bookkeeping
/// table of its migration runner), with rows a LogPaste server would have written.
const LOGPASTE_DB_SQL: &str = "
PRAGMA journal_mode=WAL;
CREATE TABLE migrations (id INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);
INSERT INTO migrations VALUES (1, '2021-03-01T00:00:00Z');
CREATE TABLE entries (id TEXT PRIMARY KEY, creation_time TEXT, contents TEXT);
INSERT INTO entries VALUES ('aB3dE5gH', '2021-03-02T10:00:00Z', 'hello from LogPaste
second line');
INSERT INTO entries VALUES ('Zz9Yy8Xx', '2021-03-02T11:30:00Z', 'quotes '' \" and <b>html</b>');
";

fn legacy_pastes() -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "aB3dE5gH".to_string(),
            b"hello from LogPaste\nsecond line".to_vec(),
        ),
        (
            "Zz9Yy8Xx".to_string(),
            b"quotes ' \" and <b>html</b>".to_vec(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_written_by_logpaste_with_litestream_0_3_restores_under_our_image() {
    let dir = temp_dir();
    let moto = Moto::start(dir.path()).await;
    moto.create_bucket(BUCKET).await;
    let replica = moto.replica_url(BUCKET, PATH);
    let http = http_client();

    // LogPaste's host: its database, replicated by Litestream 0.3.13.
    let old_host = dir.path().join("logpaste-go");
    fs::create_dir(&old_host).expect("old host folder");
    let old_db = old_host.join("store.db");
    let created = Command::new(system_tool("sqlite3"))
        .arg(&old_db)
        .arg(LOGPASTE_DB_SQL)
        .output()
        .expect("run sqlite3");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    // Litestream 0.3 knows no endpoint in the URL: its config names the parts.
    let config = old_host.join("litestream.yml");
    fs::write(
        &config,
        format!(
            "access-key-id: {ACCESS_KEY}\nsecret-access-key: {SECRET_KEY}\ndbs:\n  - path: {}\n    \
             replicas:\n      - type: s3\n        bucket: {BUCKET}\n        path: {PATH}\n        \
             endpoint: {}\n        region: us-east-1\n        force-path-style: true\n        \
             sync-interval: 1s\n",
            old_db.display(),
            moto.endpoint()
        ),
    )
    .expect("write the 0.3 config");
    let mut command = Command::new(legacy_litestream_bin());
    command
        .env_remove("AWS_CA_BUNDLE")
        .arg("replicate")
        .arg("-config")
        .arg(&config);
    let mut old = ProcessGroup::spawn(command, "litestream 0.3", &old_host.join("litestream.log"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let keys = moto.keys(BUCKET, &format!("{PATH}/generations/")).await;
        let snapshot = keys.iter().any(|key| key.contains("/snapshots/"));
        let wal = keys.iter().any(|key| key.contains("/wal/"));
        if snapshot && wal {
            break;
        }
        assert!(
            Instant::now() < deadline && old.exited().is_none(),
            "Litestream 0.3 wrote a snapshot and WAL: {keys:?}\n{}",
            old.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    old.signal("TERM");
    old.wait_exit(Duration::from_secs(30)).await;
    assert!(
        moto.keys(BUCKET, &format!("{PATH}/0")).await.is_empty(),
        "the bucket holds only the 0.3 layout so far"
    );

    // Our image on a new host, same bucket.
    let mut ours = Stack::start(
        &StackConfig::new(&dir.path().join("host-a"), &replica),
        "ours",
    )
    .await;
    assert_serves(&http, &ours, &legacy_pastes()).await;

    // New pastes go on in the 0.5 format, and a later host restores old and new.
    let body = b"written after the switch\n".to_vec();
    let id = put_paste(&http, &ours.base_url, body.clone()).await;
    assert!(ours.stop().await.success(), "a clean stop");
    let mut pastes = legacy_pastes();
    pastes.push((id, body));
    let later = Stack::start(
        &StackConfig::new(&dir.path().join("host-b"), &replica),
        "later",
    )
    .await;
    assert_serves(&http, &later, &pastes).await;
}
