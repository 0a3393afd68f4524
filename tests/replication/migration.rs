//! Host migration: tear the server down, start the same image elsewhere with the same
//! bucket, and every paste is still there.

use std::fs;

use crate::harness::*;

const BUCKET: &str = "logpaste-migration";
const PATH: &str = "logpaste";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_host_with_an_empty_disk_serves_every_paste_from_the_bucket() {
    let dir = temp_dir();
    let moto = Moto::start(dir.path()).await;
    moto.create_bucket(BUCKET).await;
    let replica = moto.replica_url(BUCKET, PATH);
    let http = http_client();

    // Stack A takes text, binary and a paste of exactly the size limit.
    let host_a = dir.path().join("host-a");
    // No waiting anywhere: the stop's last sync covers writes made right after start.
    let mut a = Stack::start(&StackConfig::new(&host_a, &replica), "stack-a").await;
    let mut binary: Vec<u8> = (0..=255u8).collect();
    binary.extend_from_slice(b"\x00\xff\xfe invalid utf-8 \xc3\x28 and NUL \x00\r\n");
    let bodies = vec![
        b"2024-05-01T10:00:00Z INFO started\n2024-05-01T10:00:01Z ERROR it broke\n".to_vec(),
        "unicode: h\u{e9}llo w\u{f6}rld \u{1f600}\r\nCRLF line\r\n"
            .as_bytes()
            .to_vec(),
        binary,
        pseudo_random_bytes(MAX_PASTE_BYTES, 7),
    ];
    let mut pastes = Vec::new();
    for body in bodies {
        let id = put_paste(&http, &a.base_url, body.clone()).await;
        pastes.push((id, body));
    }
    assert_serves(&http, &a, &pastes).await;

    // A stops the way `docker stop` stops it; Litestream makes its final sync.
    let status = a.stop().await;
    assert!(
        status.success(),
        "stack A stops cleanly: {status}\n{}",
        a.process.log_text()
    );
    fs::remove_dir_all(&host_a).expect("delete A's data folder");

    // B starts on an empty folder with the same bucket.
    let host_b = dir.path().join("host-b");
    fs::create_dir(&host_b).expect("create B's empty folder");
    let mut b = Stack::start(&StackConfig::new(&host_b, &replica), "stack-b").await;
    assert_serves(&http, &b, &pastes).await;

    // A paste written on B survives into C.
    let body = b"written on host B\n".to_vec();
    let id = put_paste(&http, &b.base_url, body.clone()).await;
    pastes.push((id, body));
    let status = b.stop().await;
    assert!(
        status.success(),
        "stack B stops cleanly: {status}\n{}",
        b.process.log_text()
    );

    let host_c = dir.path().join("host-c");
    let c = Stack::start(&StackConfig::new(&host_c, &replica), "stack-c").await;
    assert_serves(&http, &c, &pastes).await;
    assert!(
        c.db_path.is_file(),
        "C restored the database into its own folder"
    );
}

/// The service moves from host A to host B, then back to A, whose disk still holds the
/// database as it was. Litestream 0.5 would upload that older file as the replica's newest
/// state, and B's pastes would soon be gone from the bucket: A refuses to start instead,
/// and says what to do, while a restart of B on its own disk goes on as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_left_behind_by_a_move_does_not_replace_the_newer_replica() {
    let dir = temp_dir();
    let moto = Moto::start(dir.path()).await;
    moto.create_bucket(BUCKET).await;
    let replica = moto.replica_url(BUCKET, "moved");
    let http = http_client();
    let host_a = dir.path().join("host-a");
    let host_b = dir.path().join("host-b");

    let mut a = Stack::start(&StackConfig::new(&host_a, &replica), "stack-a").await;
    a.wait_replicating(&moto, BUCKET, "moved").await;
    let on_a = b"written on host A\n".to_vec();
    let mut pastes = vec![(put_paste(&http, &a.base_url, on_a.clone()).await, on_a)];
    assert!(a.stop().await.success(), "{}", a.process.log_text());

    let mut b = Stack::start(&StackConfig::new(&host_b, &replica), "stack-b").await;
    let on_b = b"written on host B\n".to_vec();
    pastes.push((put_paste(&http, &b.base_url, on_b.clone()).await, on_b));
    assert!(b.stop().await.success(), "{}", b.process.log_text());

    // Back on A's disk: refused, and the bucket still holds B's paste.
    let mut back = Stack::spawn(&StackConfig::new(&host_a, &replica), "stack-a-again");
    let status = back
        .process
        .wait_exit(std::time::Duration::from_secs(60))
        .await;
    let log = back.process.log_text();
    assert!(!status.success(), "A's stale disk must not start:\n{log}");
    assert!(
        log.contains("is behind the replica") && log.contains("move"),
        "and says why and what to do:\n{log}"
    );
    let present = replica_ids(&replica, &dir.path().join("check.db")).unwrap_or_default();
    for (id, _) in &pastes {
        assert!(
            present.contains(id),
            "{id} is still in the replica: {present:?}"
        );
    }

    // B's own disk is not behind: it restarts and serves both pastes.
    let b_again = Stack::start(&StackConfig::new(&host_b, &replica), "stack-b-again").await;
    assert_serves(&http, &b_again, &pastes).await;
}
