//! Two histories in one replica. Host A crashes with pastes committed on its disk but not
//! yet in the bucket; host B restores from the bucket and writes; A comes back with its
//! disk. A's last transaction id can then be as high as the replica's, or higher, so the
//! "behind the replica" check passes, and Litestream 0.5.17 would upload A's transactions
//! on top of B's. A must refuse instead, while an ordinary restart on the same disk (all
//! shipped, or some not yet shipped, and no other writer) must start and ship the rest.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::harness::*;

const BUCKET: &str = "logpaste-divergence";

/// The highest transaction id among the names of `.store.db-litestream/ltx/0/*.ltx`.
fn local_max_txid(data_dir: &Path) -> u64 {
    fs::read_dir(data_dir.join(".store.db-litestream/ltx/0"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter_map(|name| {
                    let stem = name.strip_suffix(".ltx")?;
                    u64::from_str_radix(stem.split('-').nth(1)?, 16).ok()
                })
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

/// The highest transaction id among the replica's LTX files, from the bucket listing.
async fn replica_max_txid(moto: &Moto, path: &str) -> u64 {
    moto.keys(BUCKET, &format!("{path}/"))
        .await
        .iter()
        .filter_map(|key| {
            let name = key.rsplit('/').next()?.strip_suffix(".ltx")?;
            u64::from_str_radix(name.split('-').nth(1)?, 16).ok()
        })
        .max()
        .unwrap_or(0)
}

/// Pastes one at a time, each in a sync of its own (Litestream looks every 250 ms), so
/// each one is a transaction id of its own.
async fn paste_slowly(
    http: &reqwest::Client,
    stack: &Stack,
    label: &str,
    count: usize,
) -> Vec<(String, Vec<u8>)> {
    let mut pastes = Vec::new();
    for n in 0..count {
        let body = format!("{label} {n}\n").into_bytes();
        pastes.push((put_paste(http, &stack.base_url, body.clone()).await, body));
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    pastes
}

/// A crashes while the bucket is down, with `unshipped` pastes on its disk only.
async fn crash_with_unshipped(
    moto: &Moto,
    config: &StackConfig,
    path: &str,
    unshipped: usize,
) -> (Vec<(String, Vec<u8>)>, Vec<(String, Vec<u8>)>) {
    let http = http_client();
    let mut a = Stack::start(config, "stack-a").await;
    a.wait_replicating(moto, BUCKET, path).await;
    let shipped = paste_slowly(&http, &a, "shipped from A", 1).await;
    let scratch = config.data_dir.with_file_name("check-shipped.db");
    wait_pastes_replicated(
        &moto.replica_url(BUCKET, path),
        &scratch,
        &shipped,
        Duration::from_secs(30),
    )
    .await;
    moto.freeze();
    let on_disk_only = paste_slowly(&http, &a, "on A's disk only", unshipped).await;
    a.kill_all();
    a.process.wait_exit(Duration::from_secs(10)).await;
    moto.thaw();
    // An upload that was under way when the bucket froze completes now.
    tokio::time::sleep(Duration::from_secs(1)).await;
    (shipped, on_disk_only)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_disk_whose_history_diverged_from_the_replica_is_refused() {
    let dir = temp_dir();
    let moto = Moto::start(dir.path()).await;
    moto.create_bucket(BUCKET).await;
    let path = "diverged";
    let replica = moto.replica_url(BUCKET, path);
    let http = http_client();
    let host_a = dir.path().join("host-a");
    let config_a = StackConfig::new(&host_a, &replica);
    let (shipped, _) = crash_with_unshipped(&moto, &config_a, path, 8).await;

    // B restores what the bucket has and writes; it stops cleanly.
    let mut b = Stack::start(
        &StackConfig::new(&dir.path().join("host-b"), &replica),
        "stack-b",
    )
    .await;
    let on_b = paste_slowly(&http, &b, "written on B", 1).await;
    assert!(b.stop().await.success(), "{}", b.process.log_text());
    let local = local_max_txid(&host_a);
    let remote = replica_max_txid(&moto, path).await;
    assert!(
        local >= remote,
        "the case under test: A's disk is not behind the replica (A {local:x}, replica {remote:x})"
    );

    // A's disk again: refused, with one line that says what to do.
    let mut back = Stack::spawn(&config_a, "stack-a-again");
    let status = back.process.wait_exit(Duration::from_secs(60)).await;
    let log = back.process.log_text();
    assert!(
        !status.success(),
        "A's diverged disk must not start:\n{log}"
    );
    let line = log
        .lines()
        .find(|line| line.contains("logpaste-restore: FATAL"))
        .unwrap_or_else(|| panic!("a FATAL line from logpaste-restore:\n{log}"));
    assert!(
        line.contains("diverged") && line.contains("move") && line.contains("DB_REPLICA_URL"),
        "the line says why and what to do: {line}"
    );
    assert!(
        !log.contains("logpaste started") && !log.contains("replicating to"),
        "neither the app nor Litestream started:\n{log}"
    );

    // The bucket still restores B's history, whole.
    let present = replica_ids(&replica, &dir.path().join("check.db")).unwrap_or_default();
    for (id, _) in shipped.iter().chain(&on_b) {
        assert!(present.contains(id), "{id} is in the replica: {present:?}");
    }
}

/// The L0 files (`min-max`) that this disk and the replica both hold: the ones the check
/// compares. An ordinary restart must have some, or the tests below prove nothing.
async fn common_l0_files(moto: &Moto, path: &str, data_dir: &Path) -> Vec<String> {
    let local: Vec<String> = fs::read_dir(data_dir.join(".store.db-litestream/ltx/0"))
        .expect("Litestream's local folder")
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    moto.keys(BUCKET, &format!("{path}/0000/"))
        .await
        .iter()
        .filter_map(|key| key.rsplit('/').next().map(str::to_string))
        .filter(|name| local.contains(name))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_on_the_same_disk_after_a_clean_stop_starts() {
    let dir = temp_dir();
    let moto = Moto::start(dir.path()).await;
    moto.create_bucket(BUCKET).await;
    let path = "clean";
    let replica = moto.replica_url(BUCKET, path);
    let http = http_client();
    let config = StackConfig::new(&dir.path().join("host"), &replica);
    let mut first = Stack::start(&config, "stack-first").await;
    first.wait_replicating(&moto, BUCKET, path).await;
    let mut pastes = paste_slowly(&http, &first, "before the restart", 3).await;
    assert!(first.stop().await.success(), "{}", first.process.log_text());
    assert!(
        !common_l0_files(&moto, path, &config.data_dir)
            .await
            .is_empty(),
        "the check has files to compare"
    );

    let mut again = Stack::start(&config, "stack-again").await;
    assert!(
        !again.process.log_text().contains("FATAL"),
        "{}",
        again.process.log_text()
    );
    pastes.extend(paste_slowly(&http, &again, "after the restart", 1).await);
    assert_serves(&http, &again, &pastes).await;
    assert!(again.stop().await.success(), "{}", again.process.log_text());
    wait_pastes_replicated(
        &replica,
        &dir.path().join("check.db"),
        &pastes,
        Duration::from_secs(30),
    )
    .await;
}

/// The host crashes with pastes the bucket never got, and nobody else writes: the same
/// disk starts again, and those pastes reach the bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_after_a_crash_with_unshipped_pastes_starts_and_ships_them() {
    let dir = temp_dir();
    let moto = Moto::start(dir.path()).await;
    moto.create_bucket(BUCKET).await;
    let path = "crashed";
    let replica = moto.replica_url(BUCKET, path);
    let http = http_client();
    let config = StackConfig::new(&dir.path().join("host"), &replica);
    let (shipped, on_disk_only) = crash_with_unshipped(&moto, &config, path, 4).await;
    let local = local_max_txid(&config.data_dir);
    let remote = replica_max_txid(&moto, path).await;
    assert!(
        local > remote,
        "the case under test: transactions not shipped (local {local:x}, replica {remote:x})"
    );
    assert!(
        !common_l0_files(&moto, path, &config.data_dir)
            .await
            .is_empty(),
        "the check has files to compare"
    );

    let mut again = Stack::start(&config, "stack-again").await;
    let mut pastes: Vec<_> = shipped.into_iter().chain(on_disk_only).collect();
    pastes.extend(paste_slowly(&http, &again, "after the restart", 1).await);
    assert_serves(&http, &again, &pastes).await;
    wait_pastes_replicated(
        &replica,
        &dir.path().join("check.db"),
        &pastes,
        Duration::from_secs(60),
    )
    .await;
    assert!(again.stop().await.success(), "{}", again.process.log_text());

    // And once more: the disk and the replica agree again.
    let third = Stack::start(&config, "stack-third").await;
    assert_serves(&http, &third, &pastes).await;
}
