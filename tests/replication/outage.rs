//! Bucket outage: uploads keep working while the S3 server is stopped, replication
//! catches up when it is back; and a replica that exists but cannot be read stops the
//! start-up instead of starting on an empty database.

use std::fs;
use std::time::{Duration, Instant};

use crate::harness::*;

const BUCKET: &str = "logpaste-outage";
const PATH: &str = "logpaste";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_keep_working_while_the_bucket_is_down_and_reach_it_after() {
    let dir = temp_dir();
    let moto = Moto::start(dir.path()).await;
    moto.create_bucket(BUCKET).await;
    let http = http_client();

    // This stack names its endpoint and region the other supported way.
    let mut config = StackConfig::new(&dir.path().join("host-a"), &format!("s3://{BUCKET}/{PATH}"));
    config.env.push(("LITESTREAM_ENDPOINT", moto.endpoint()));
    config
        .env
        .push(("LITESTREAM_REGION", "us-east-1".to_string()));
    let mut a = Stack::start(&config, "stack-a").await;
    // The outage hits replication under way, not a Litestream still starting.
    a.wait_replicating(&moto, BUCKET, PATH).await;

    let mut pastes = Vec::new();
    for n in 0..3 {
        let body = format!("before the outage {n}\n").into_bytes();
        pastes.push((put_paste(&http, &a.base_url, body.clone()).await, body));
    }

    // The S3 server stops (SIGSTOP: it keeps its buckets, answers nothing).
    moto.freeze();
    let outage_started = Instant::now();
    for n in 0..20 {
        let body = format!("during the outage {n}\n").into_bytes();
        let started = Instant::now();
        pastes.push((put_paste(&http, &a.base_url, body.clone()).await, body));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "an upload must not wait for the bucket"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        a.process.exited().is_none(),
        "the stack rides out the outage"
    );
    assert_serves(&http, &a, &pastes).await;
    println!("outage lasted {:?}", outage_started.elapsed());
    moto.thaw();

    // Replication catches up by itself.
    let replica_for_checks = moto.replica_url(BUCKET, PATH);
    wait_pastes_replicated(
        &replica_for_checks,
        &dir.path().join("check.db"),
        &pastes,
        Duration::from_secs(120),
    )
    .await;

    // Prove it from the bucket alone: crash A, start fresh on an empty disk.
    a.kill_all();
    a.process.wait_exit(Duration::from_secs(10)).await;
    let mut config = StackConfig::new(&dir.path().join("host-b"), &replica_for_checks);
    config.mode = "litestream-exec";
    let b = Stack::start(&config, "stack-b").await;
    assert_serves(&http, &b, &pastes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_cannot_be_read_stops_the_start_instead_of_starting_empty() {
    let dir = temp_dir();
    let moto = Moto::start(dir.path()).await;
    moto.create_bucket(BUCKET).await;
    let replica = moto.replica_url(BUCKET, PATH);
    let http = http_client();

    let mut a = Stack::start(
        &StackConfig::new(&dir.path().join("host-a"), &replica),
        "stack-a",
    )
    .await;
    put_paste(&http, &a.base_url, b"precious\n".to_vec()).await;
    let status = a.stop().await;
    assert!(
        status.success(),
        "A stops cleanly: {status}; its log:\n{}",
        a.process.log_text()
    );

    // The bucket holds a replica but does not answer.
    moto.freeze();
    let host_b = dir.path().join("host-b");
    let mut config = StackConfig::new(&host_b, &replica);
    config
        .env
        .push(("LOGPASTE_RESTORE_TIMEOUT", "5".to_string()));
    let mut b = Stack::spawn(&config, "stack-b");
    let status = b.process.wait_exit(Duration::from_secs(60)).await;
    moto.thaw();
    assert!(!status.success(), "the start fails: {status}");
    let log = b.process.log_text();
    assert!(
        log.contains("refusing to start on an empty database"),
        "it says why:\n{log}"
    );
    assert!(
        !log.contains("logpaste started"),
        "the app never started:\n{log}"
    );
    let left_behind: Vec<_> = fs::read_dir(&host_b)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !b.db_path.exists(),
        "no empty database was created: {left_behind:?}"
    );

    // A missing bucket is no "empty replica" either.
    let mut config = StackConfig::new(
        &dir.path().join("host-c"),
        &moto.replica_url("no-such-bucket", PATH),
    );
    config
        .env
        .push(("LOGPASTE_RESTORE_TIMEOUT", "30".to_string()));
    let mut c = Stack::spawn(&config, "stack-c");
    let status = c.process.wait_exit(Duration::from_secs(60)).await;
    assert!(
        !status.success(),
        "a start against a missing bucket fails: {status}"
    );
    assert!(
        c.process
            .log_text()
            .contains("refusing to start on an empty database"),
        "{}",
        c.process.log_text()
    );
}

/// A restart on the same disk while the bucket does not answer still starts (after the
/// bounded attempt to compare the local database with the replica), as it did before
/// that check existed: pastes keep being taken, and reach the bucket once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_on_the_same_disk_with_the_bucket_down_still_starts() {
    let dir = temp_dir();
    let moto = Moto::start(dir.path()).await;
    moto.create_bucket(BUCKET).await;
    let replica = moto.replica_url(BUCKET, "restart");
    let http = http_client();
    let config = StackConfig::new(&dir.path().join("host"), &replica);
    let mut first = Stack::start(&config, "stack-first").await;
    first.wait_replicating(&moto, BUCKET, "restart").await;
    let body = b"before the restart\n".to_vec();
    let mut pastes = vec![(put_paste(&http, &first.base_url, body.clone()).await, body)];
    assert!(first.stop().await.success(), "{}", first.process.log_text());

    moto.freeze();
    let mut again = Stack::start(&config, "stack-again").await;
    let log = again.process.log_text();
    assert!(
        log.contains("WARNING: cannot list the replica"),
        "the start says what it could not check:\n{log}"
    );
    let body = b"while the bucket is down\n".to_vec();
    pastes.push((put_paste(&http, &again.base_url, body.clone()).await, body));
    assert_serves(&http, &again, &pastes).await;
    moto.thaw();
    wait_pastes_replicated(
        &replica,
        &dir.path().join("check.db"),
        &pastes,
        Duration::from_secs(60),
    )
    .await;
    assert!(again.stop().await.success(), "{}", again.process.log_text());
}
