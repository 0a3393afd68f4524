//! The image's litestream.yml keeps the bucket bill low without weakening what it
//! promises. The real Litestream reads the file and applies its housekeeping schedule
//! (nothing silently ignored: an unknown or misspelt key would leave Litestream's
//! chatty defaults in place); what it applies shipping changes within DB_SYNC_INTERVAL
//! and keeps at least 24 h of point-in-time history; and through the container's own
//! entrypoint a paste still reaches the bucket, restores on a new host, and a restore
//! to a point in time between two pastes returns exactly the first.
//! How many requests the schedule makes is measured by scripts/bucket-requests, not here.

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::harness::*;

const BUCKET: &str = "logpaste-schedule";
const PATH: &str = "logpaste";
/// The history a restore to a point in time can always reach back to.
const MIN_HISTORY: Duration = Duration::from_secs(24 * 3600);
/// Idle, only the L0 retention check lists the bucket; more often than this and an idle
/// instance makes thousands of LIST calls a day again.
const MIN_L0_RETENTION_CHECK: Duration = Duration::from_secs(3600);

/// The top level of litestream.yml. Unknown keys are refused so that a misspelt one
/// fails here rather than being ignored by Litestream; a real Litestream key the image
/// starts using belongs in this struct.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct LitestreamYml {
    dbs: Vec<DbYml>,
    levels: Vec<Level>,
    snapshot: Snapshot,
    l0_retention: Option<String>,
    l0_retention_check_interval: String,
    #[allow(dead_code)] // its effect is checked by stop.rs, with a silent bucket
    shutdown_sync_timeout: String,
}

/// One database; its replica settings are checked by every other replication test.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct DbYml {
    #[allow(dead_code)] // only its presence matters
    path: String,
    checkpoint_interval: Option<String>,
    monitor_interval: Option<String>,
    #[allow(dead_code)]
    replica: serde_yaml::Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Level {
    interval: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Snapshot {
    interval: String,
    retention: String,
}

/// `litestream replicate` with `config`, its variables set as the container sets them for
/// a replica of `db` on moto.
fn replicate(config: &std::path::Path, db: &std::path::Path, moto: &Moto, sync: &str) -> Command {
    let mut command = Command::new(litestream_bin());
    command
        .args(["replicate", "-config"])
        .arg(config)
        .env_remove("AWS_CA_BUNDLE")
        .env("DB_PATH", db)
        .env("DB_REPLICA_URL", moto.replica_url(BUCKET, PATH))
        .env("DB_SYNC_INTERVAL", sync)
        .env("LITESTREAM_ACCESS_KEY_ID", ACCESS_KEY)
        .env("LITESTREAM_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("LITESTREAM_REGION", "")
        .env("LITESTREAM_ENDPOINT", "");
    command
}

fn image_config() -> LitestreamYml {
    let text = fs::read_to_string(repo_path("litestream.yml")).expect("read litestream.yml");
    serde_yaml::from_str(&text).unwrap_or_else(|err| {
        panic!("litestream.yml has a key the image does not expect (misspelt?): {err}")
    })
}

/// A Go duration (`24h`, `5m0s`, `1h30m`, `500ms`), as Litestream writes and reads them.
fn go_duration(text: &str) -> Duration {
    let mut total = 0.0;
    let mut number = String::new();
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let unit = match (c, chars.peek()) {
            ('m', Some('s')) => {
                chars.next();
                0.001
            }
            ('h', _) => 3600.0,
            ('m', _) => 60.0,
            ('s', _) => 1.0,
            _ => panic!("not a Go duration: {text:?}"),
        };
        let value: f64 = number
            .parse()
            .unwrap_or_else(|_| panic!("not a Go duration: {text:?}"));
        total += value * unit;
        number.clear();
    }
    assert!(number.is_empty(), "not a Go duration: {text:?}");
    Duration::from_secs_f64(total)
}

/// `key=value` of one of Litestream's start-up lines, found by its message.
fn log_fields(log: &str, message: &str) -> Vec<BTreeMap<String, String>> {
    log.lines()
        .filter(|line| line.contains(&format!("msg=\"{message}\"")))
        .map(|line| {
            line.split_whitespace()
                .filter_map(|field| field.split_once('='))
                .map(|(key, value)| (key.to_string(), value.trim_matches('"').to_string()))
                .collect()
        })
        .collect()
}

/// Point-in-time history a restore can always reach: snapshots older than the retention
/// are deleted at each snapshot, with the files after them, so right after a snapshot
/// the oldest one left is the largest multiple of the interval within the retention.
/// A retention of an exact multiple races with the snapshot's own timestamp: the
/// snapshot taken that many intervals ago may go too.
fn guaranteed_history(interval: Duration, retention: Duration) -> Duration {
    let whole = (retention.as_secs_f64() / interval.as_secs_f64()).floor();
    let exact = (whole * interval.as_secs_f64() - retention.as_secs_f64()).abs() < 1e-6;
    let kept = if exact { whole - 1.0 } else { whole };
    interval.mul_f64(kept.max(0.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn litestream_applies_the_schedule_keeping_the_sync_interval_and_a_day_of_history() {
    let config = image_config();
    assert_eq!(config.dbs.len(), 1, "one database, one replica");
    if let Some(interval) = &config.dbs[0].checkpoint_interval {
        assert!(
            go_duration(interval) > Duration::ZERO,
            "checkpoint-interval {interval:?} is a Go duration Litestream accepts"
        );
    }

    let dir = temp_dir();
    let moto = Moto::start(dir.path()).await;
    moto.create_bucket(BUCKET).await;
    let sync_interval = "1s";
    let command = replicate(
        &repo_path("litestream.yml"),
        &dir.path().join("store.db"),
        &moto,
        sync_interval,
    );
    let mut litestream = ProcessGroup::spawn(command, "litestream", &dir.path().join("ls.log"));

    // Litestream logs what it applied as it starts: one line per compaction monitor
    // (the snapshot is level 9), one for the L0 retention monitor, one for the replica.
    let levels_expected = config.levels.len() + 1;
    let deadline = Instant::now() + Duration::from_secs(30);
    let log = loop {
        let log = litestream.log_text();
        let started = log_fields(&log, "starting compaction monitor").len() == levels_expected
            && !log_fields(&log, "starting L0 retention monitor").is_empty()
            && !log_fields(&log, "replicating to").is_empty();
        if started {
            break log;
        }
        if let Some(status) = litestream.exited() {
            panic!("litestream exited ({status}) with the image's litestream.yml:\n{log}");
        }
        assert!(
            Instant::now() < deadline,
            "litestream did not log its schedule:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let applied: BTreeMap<u32, Duration> = log_fields(&log, "starting compaction monitor")
        .iter()
        .map(|fields| {
            (
                fields["level"].parse().expect("a level number"),
                go_duration(&fields["interval"]),
            )
        })
        .collect();
    for (index, level) in config.levels.iter().enumerate() {
        let number = index as u32 + 1;
        assert_eq!(
            applied.get(&number),
            Some(&go_duration(&level.interval)),
            "compaction level {number}: Litestream applies litestream.yml's interval\n{log}"
        );
    }
    let snapshot_interval = go_duration(&config.snapshot.interval);
    assert_eq!(
        applied.get(&9),
        Some(&snapshot_interval),
        "the snapshot interval is litestream.yml's\n{log}"
    );

    let retention_monitor = &log_fields(&log, "starting L0 retention monitor")[0];
    let check_interval = go_duration(&retention_monitor["interval"]);
    assert_eq!(
        check_interval,
        go_duration(&config.l0_retention_check_interval),
        "the L0 retention check interval is litestream.yml's\n{log}"
    );
    if let Some(retention) = &config.l0_retention {
        assert_eq!(
            go_duration(&retention_monitor["retention"]),
            go_duration(retention),
            "the L0 retention is litestream.yml's\n{log}"
        );
    }
    assert!(
        check_interval >= MIN_L0_RETENTION_CHECK,
        "the L0 retention check lists the bucket twice per run even when nothing changes: \
         every {check_interval:?} is too often (at least {MIN_L0_RETENTION_CHECK:?})"
    );

    // Durability: changes still ship every DB_SYNC_INTERVAL.
    let replica = &log_fields(&log, "replicating to")[0];
    assert_eq!(
        go_duration(&replica["sync-interval"]),
        go_duration(sync_interval),
        "the replica syncs every DB_SYNC_INTERVAL\n{log}"
    );

    // History: at least a day, at any moment.
    let history = guaranteed_history(snapshot_interval, go_duration(&config.snapshot.retention));
    assert!(
        history >= MIN_HISTORY,
        "snapshot interval {} and retention {} keep only {history:?} of point-in-time history \
         right after a snapshot; at least {MIN_HISTORY:?} is promised",
        config.snapshot.interval,
        config.snapshot.retention
    );
    drop(litestream);
}

/// How often Litestream looks at the WAL. It writes new changes into a local L0 file at
/// each look and uploads the files every sync interval, so a change can wait for both:
/// up to the monitor interval plus the sync interval before it is in the bucket.
/// Litestream's default, 1 s, makes that up to 2 s with DB_SYNC_INTERVAL=1s.
const MAX_MONITOR_INTERVAL: Duration = Duration::from_millis(500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn litestream_looks_at_the_wal_every_monitor_interval() {
    let config = image_config();
    let monitor = config.dbs[0]
        .monitor_interval
        .as_deref()
        .map(go_duration)
        .expect("litestream.yml sets monitor-interval (Litestream's default is 1 s)");
    assert!(
        monitor <= MAX_MONITOR_INTERVAL,
        "monitor-interval {monitor:?}: a change would wait up to that plus the sync interval \
         before it is uploaded; at most {MAX_MONITOR_INTERVAL:?}"
    );

    // Litestream logs, at debug level, one "verify" line each time it looks at the WAL.
    // Counted over a few seconds on an idle database, that is its real interval, whatever
    // the file says: a key Litestream does not know would leave its 1 s default.
    let dir = temp_dir();
    let db = dir.path().join("store.db");
    let created = Command::new(system_tool("sqlite3"))
        .arg(&db)
        .arg("PRAGMA journal_mode=wal; CREATE TABLE entries (id TEXT PRIMARY KEY);")
        .output()
        .expect("run sqlite3");
    assert!(created.status.success(), "sqlite3 creates a database");
    let debug_config = dir.path().join("litestream.yml");
    let image_text = fs::read_to_string(repo_path("litestream.yml")).expect("read litestream.yml");
    fs::write(
        &debug_config,
        format!("logging:\n  level: debug\n{image_text}"),
    )
    .expect("write the debug config");
    let moto = Moto::start(dir.path()).await;
    moto.create_bucket(BUCKET).await;
    let command = replicate(&debug_config, &db, &moto, "1s");
    let mut litestream = ProcessGroup::spawn(command, "litestream", &dir.path().join("ls.log"));
    let looks = |log: &str| log.matches("msg=verify ").count();

    let deadline = Instant::now() + Duration::from_secs(30);
    while looks(&litestream.log_text()) == 0 {
        if let Some(status) = litestream.exited() {
            panic!("litestream exited ({status}):\n{}", litestream.log_text());
        }
        assert!(
            Instant::now() < deadline,
            "litestream never looked at the WAL:\n{}",
            litestream.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let window = Duration::from_secs(4);
    let (started, before) = (Instant::now(), looks(&litestream.log_text()));
    tokio::time::sleep(window).await;
    let counted = looks(&litestream.log_text()) - before;
    let elapsed = started.elapsed();
    // At the 1 s default there would be about 4; allow a late tick or two.
    let expected = elapsed.as_secs_f64() / monitor.as_secs_f64();
    assert!(
        counted as f64 >= expected * 0.6 && counted as f64 > elapsed.as_secs_f64() * 1.5,
        "Litestream looked at the WAL {counted} times in {elapsed:?}: not every {monitor:?} \
         (expected about {expected:.0})\n{}",
        litestream.log_text()
    );
    drop(litestream);
}

#[test]
fn guaranteed_history_counts_whole_snapshot_intervals_within_the_retention() {
    let hour = Duration::from_secs(3600);
    assert_eq!(guaranteed_history(24 * hour, 25 * hour), 24 * hour);
    assert_eq!(guaranteed_history(24 * hour, 24 * hour), Duration::ZERO);
    assert_eq!(guaranteed_history(24 * hour, 48 * hour), 24 * hour);
    assert_eq!(guaranteed_history(12 * hour, 30 * hour), 24 * hour);
    assert_eq!(go_duration("24h0m0s"), 24 * hour);
    assert_eq!(go_duration("1h30m"), hour + 30 * Duration::from_secs(60));
    assert_eq!(go_duration("500ms"), Duration::from_millis(500));
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.replace_nanosecond(0)
        .expect("whole seconds")
        .format(&Rfc3339)
        .expect("format a timestamp")
}

/// The ids restored from the replica as of `timestamp`, or the restore's error.
fn ids_at(replica: &str, timestamp: &str, output: &std::path::Path) -> Result<Vec<String>, String> {
    let restored = Command::new(litestream_bin())
        .env_remove("AWS_CA_BUNDLE")
        .env("LITESTREAM_ACCESS_KEY_ID", ACCESS_KEY)
        .env("LITESTREAM_SECRET_ACCESS_KEY", SECRET_KEY)
        .args(["restore", "-timestamp", timestamp, "-o"])
        .arg(output)
        .arg(replica)
        .output()
        .expect("run litestream restore -timestamp");
    if !restored.status.success() {
        return Err(String::from_utf8_lossy(&restored.stderr).into_owned());
    }
    let listed = Command::new(system_tool("sqlite3"))
        .arg(output)
        .arg("SELECT id FROM entries ORDER BY id;")
        .output()
        .expect("run sqlite3");
    assert!(listed.status.success(), "sqlite3 reads the restored copy");
    Ok(String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

/// Sleeps until `at` (wall clock).
async fn sleep_until(at: OffsetDateTime) {
    let wait = at - OffsetDateTime::now_utc();
    if wait.is_positive() {
        tokio::time::sleep(wait.unsigned_abs()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paste_reaches_the_bucket_and_restores_latest_and_to_a_point_in_time() {
    let dir = temp_dir();
    let moto = Moto::start(dir.path()).await;
    moto.create_bucket(BUCKET).await;
    let replica = moto.replica_url(BUCKET, PATH);
    let http = http_client();

    // The container's own entrypoint, litestream.yml and default DB_SYNC_INTERVAL.
    let mut a = Stack::start(&StackConfig::new(&dir.path().join("host-a"), &replica), "a").await;
    let first_body = b"first paste: before the point in time\n".to_vec();
    let first = put_paste(&http, &a.base_url, first_body.clone()).await;
    wait_replicated(
        &replica,
        &dir.path().join("check.db"),
        std::slice::from_ref(&first),
        Duration::from_secs(30),
    )
    .await;

    // A point in time strictly after the first paste's upload and before the second.
    let point = (OffsetDateTime::now_utc() + time::Duration::seconds(2))
        .replace_nanosecond(0)
        .expect("whole seconds");
    sleep_until(point + time::Duration::seconds(1)).await;
    let second_body = b"second paste: after the point in time\n".to_vec();
    let second = put_paste(&http, &a.base_url, second_body.clone()).await;
    let both = vec![first.clone(), second.clone()];
    wait_replicated(
        &replica,
        &dir.path().join("check.db"),
        &both,
        Duration::from_secs(30),
    )
    .await;

    let past = ids_at(&replica, &rfc3339(point), &dir.path().join("past.db"));
    assert_eq!(
        past,
        Ok(vec![first.clone()]),
        "a restore to {} (between the two pastes) holds the first paste only; the stack's \
         log:\n{}",
        rfc3339(point),
        a.process.log_text()
    );

    // The host goes away cleanly; a new one restores every paste from the bucket.
    let status = a.stop().await;
    assert!(status.success(), "a clean stop exits 0: {status}");
    let b = Stack::start(&StackConfig::new(&dir.path().join("host-b"), &replica), "b").await;
    assert_serves(&http, &b, &[(first, first_body), (second, second_body)]).await;
}
