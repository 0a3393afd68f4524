//! A clean stop loses nothing, whenever the paste was written. Litestream 0.5 takes the
//! database in hand only on its first check, about a second after it starts; stopped
//! before that, its own final sync does nothing. The paste here is written the moment
//! the app answers, and the stop (SIGTERM) follows at once: only the last sync after
//! Litestream's exit (logpaste-final-sync) saves it. That gap showed up intermittently,
//! so each test goes round several times on one bucket path, each round on a new empty
//! disk: the first starts on an empty bucket, the later ones restore from it first.
//! After each stop, the bucket alone must hold every paste so far.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::harness::*;
use crate::supervision;

const BUCKET: &str = "logpaste-stop";
const PATH: &str = "logpaste";
const ROUNDS: usize = 4;

fn body_for(round: usize) -> Vec<u8> {
    format!("round {round}: written the moment the app answered, then a stop\n").into_bytes()
}

/// Every id of `pastes` is in the replica, read straight from the bucket.
fn assert_in_bucket(replica: &str, scratch: &Path, pastes: &[(String, Vec<u8>)], log: &str) {
    let present = replica_ids(replica, scratch).unwrap_or_default();
    let missing: Vec<&String> = pastes
        .iter()
        .map(|(id, _)| id)
        .filter(|id| !present.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "the clean stop lost acknowledged pastes {missing:?} (bucket holds {present:?}); \
         the stack's log:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_right_after_a_write_right_after_start_loses_nothing_in_litestream_exec_mode() {
    let dir = temp_dir();
    let moto = Moto::start(dir.path()).await;
    moto.create_bucket(BUCKET).await;
    let replica = moto.replica_url(BUCKET, PATH);
    let http = http_client();

    let mut pastes = Vec::new();
    for round in 0..ROUNDS {
        let host = dir.path().join(format!("host-{round}"));
        let config = StackConfig::new(&host, &replica);
        let mut stack = Stack::start(&config, &format!("stack-{round}")).await;
        let id = put_paste(&http, &stack.base_url, body_for(round)).await;
        let status = stack.stop().await;
        assert!(
            status.success(),
            "round {round}: a clean stop exits 0: {status}\n{}",
            stack.process.log_text()
        );
        pastes.push((id, body_for(round)));
        assert_in_bucket(
            &replica,
            &dir.path().join("check.db"),
            &pastes,
            &stack.process.log_text(),
        );
    }

    // And the app serves them all from the bucket on yet another host.
    let last = Stack::start(
        &StackConfig::new(&dir.path().join("host-last"), &replica),
        "stack-last",
    )
    .await;
    assert_serves(&http, &last, &pastes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_right_after_a_write_right_after_start_loses_nothing_under_s6() {
    let dir = temp_dir();
    let moto = Moto::start(dir.path()).await;
    moto.create_bucket(supervision::BUCKET).await;
    let replica = moto.replica_url(supervision::BUCKET, supervision::PATH);
    let http = http_client();

    let mut pastes = Vec::new();
    for round in 0..ROUNDS {
        let round_dir = dir.path().join(format!("round-{round}"));
        fs::create_dir(&round_dir).expect("create the round's folder");
        // The restore oneshot runs first, as s6-rc runs it.
        let mut supervised =
            supervision::start_supervised(&round_dir, &moto, &[], &round_dir.join("data"));
        supervision::wait_healthy(&mut supervised).await;
        let id = put_paste(&http, &supervised.base_url, body_for(round)).await;
        let status = supervision::stop_supervised(&mut supervised).await;
        let log = supervised.svscan.log_text();
        assert_eq!(
            status.code(),
            Some(0),
            "round {round}: the app stopped cleanly and the tree exits with its 0:\n{log}"
        );
        pastes.push((id, body_for(round)));
        assert_in_bucket(&replica, &dir.path().join("check.db"), &pastes, &log);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_sync_gives_up_on_a_bucket_that_does_not_answer_and_says_so() {
    let dir = temp_dir();
    let moto = Moto::start(dir.path()).await;
    moto.create_bucket(BUCKET).await;
    let db_path = dir.path().join("store.db");
    let created = Command::new(system_tool("sqlite3"))
        .arg(&db_path)
        .arg(
            "PRAGMA journal_mode=WAL; \
             CREATE TABLE entries (id TEXT PRIMARY KEY, creation_time TEXT, contents TEXT); \
             INSERT INTO entries VALUES ('stranded', '2025-01-01T00:00:00Z', 'x');",
        )
        .output()
        .expect("run sqlite3");
    assert!(created.status.success(), "sqlite3 creates the database");

    // Litestream retries a silent bucket for ever: the pass must stop on its own.
    moto.freeze();
    let env = vec![
        ("DB_PATH", db_path.display().to_string()),
        ("DB_REPLICA_URL", moto.replica_url(BUCKET, PATH)),
        ("DB_SYNC_INTERVAL", "1s".to_string()),
        ("LOGPASTE_FINAL_SYNC_TIMEOUT", "2".to_string()),
    ];
    let command = container_command(&repo_path("rootfs/usr/local/bin/logpaste-final-sync"), &env);
    let mut pass =
        ProcessGroup::spawn(command, "logpaste-final-sync", &dir.path().join("pass.log"));
    let status = pass.wait_exit(Duration::from_secs(30)).await;
    moto.thaw();
    let log = pass.log_text();
    assert_eq!(
        status.code(),
        Some(1),
        "the pass reports the failure:\n{log}"
    );
    assert!(
        log.contains("the last sync failed or timed out"),
        "and says what it means:\n{log}"
    );
}

/// Under s6 as in litestream-exec mode, a stop whose last sync failed is not a clean one:
/// the container exits 1 although the app stopped with 0, and the log says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_last_sync_under_s6_makes_the_container_exit_1() {
    let dir = temp_dir();
    let moto = Moto::start(dir.path()).await;
    moto.create_bucket(supervision::BUCKET).await;
    let http = http_client();
    let mut supervised = supervision::start_supervised_with(
        dir.path(),
        &moto,
        &[],
        &dir.path().join("data"),
        &[("LOGPASTE_FINAL_SYNC_TIMEOUT", "2".to_string())],
    );
    supervision::wait_healthy(&mut supervised).await;
    put_paste(
        &http,
        &supervised.base_url,
        b"written while the bucket is silent\n".to_vec(),
    )
    .await;

    moto.freeze();
    let status = supervision::stop_supervised(&mut supervised).await;
    moto.thaw();
    let log = supervised.svscan.log_text();
    assert_eq!(
        status.code(),
        Some(1),
        "the failed last sync makes the exit code 1:\n{log}"
    );
    assert!(
        log.contains("logpaste-final-sync: ERROR: the last sync failed or timed out")
            && log.contains("the last sync failed: the container exits 1"),
        "and the log says why:\n{log}"
    );
}

/// What the platforms give a stop before SIGKILL: Fly.io's kill_timeout, Heroku's fixed
/// 30 s, the recipes' Compose stop_grace_period.
const PLATFORM_STOP_GRACE: Duration = Duration::from_secs(30);

/// A stack in litestream-exec mode replicating to `path` of a bucket on a fresh moto, with
/// its first files in the bucket: (moto, replica URL, stack).
async fn replicating_stack(dir: &Path, path: &str) -> (Moto, String, Stack) {
    let moto = Moto::start(dir).await;
    moto.create_bucket(BUCKET).await;
    let replica = moto.replica_url(BUCKET, path);
    let config = StackConfig::new(&dir.join("host"), &replica);
    let stack = Stack::start(&config, "stack").await;
    stack.wait_replicating(&moto, BUCKET, path).await;
    (moto, replica, stack)
}

/// `docker stop` (SIGTERM to the entrypoint), waiting up to `limit`: the exit status and
/// how long the stop took.
async fn timed_stop(stack: &mut Stack, limit: Duration) -> (std::process::ExitStatus, Duration) {
    let started = std::time::Instant::now();
    stack.process.signal("TERM");
    let status = stack.process.wait_exit(limit).await;
    (status, started.elapsed())
}

fn assert_within_platform_grace(took: Duration, log: &str) {
    assert!(
        took < PLATFORM_STOP_GRACE,
        "the stop took {took:?}, past the platforms' {PLATFORM_STOP_GRACE:?}:\n{log}"
    );
}

/// With the bucket silent at stop time, Litestream's own last sync and the last pass each
/// give up on their own, so the stop ends, and says what may be missing, before the
/// platform's SIGKILL would cut it short (Litestream's default alone waits 30 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_with_the_bucket_silent_ends_within_the_platforms_grace_and_says_so() {
    let dir = temp_dir();
    let (moto, _replica, mut stack) = replicating_stack(dir.path(), "silent").await;
    let http = http_client();

    moto.freeze();
    put_paste(
        &http,
        &stack.base_url,
        b"written while the bucket is silent\n".to_vec(),
    )
    .await;
    let (status, took) = timed_stop(&mut stack, Duration::from_secs(120)).await;
    moto.thaw();
    let log = stack.process.log_text();
    assert_within_platform_grace(took, &log);
    assert_eq!(
        status.code(),
        Some(1),
        "the container reports the failed last sync:\n{log}"
    );
    assert!(
        log.contains("logpaste-final-sync: ERROR: the last sync failed or timed out"),
        "and says what it means:\n{log}"
    );
}

/// A Litestream that hangs on a stop (frozen here with SIGSTOP: it neither passes the stop
/// on to the app nor exits) is killed by the entrypoint 17 s after the stop. The app is
/// stopped first, and the last pass ships what Litestream had not, all within the
/// platforms' grace. Without that, the stop waited for ever, until the platform's SIGKILL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_litestream_that_hangs_on_a_stop_is_killed_and_the_last_pass_still_ships() {
    let dir = temp_dir();
    let (_moto, replica, mut stack) = replicating_stack(dir.path(), "hung").await;
    let http = http_client();
    let (litestream, _app) = stack.litestream_and_app_pids();
    assert!(send_signal("STOP", &litestream.to_string()));

    let body = b"written while Litestream hangs\n".to_vec();
    let id = put_paste(&http, &stack.base_url, body.clone()).await;
    let (status, took) = timed_stop(&mut stack, Duration::from_secs(60)).await;
    let log = stack.process.log_text();
    assert_within_platform_grace(took, &log);
    assert!(
        took >= Duration::from_secs(17),
        "Litestream was given its 17 s: {took:?}\n{log}"
    );
    assert_eq!(
        status.code(),
        Some(1),
        "the container reports that Litestream had to be killed:\n{log}"
    );
    assert!(
        log.contains("Litestream has not stopped 17s after the stop: killing it"),
        "and says so:\n{log}"
    );
    assert!(
        log.contains("INFO stopped"),
        "the app was stopped, not killed with Litestream:\n{log}"
    );
    // Stopped, the app is a zombie until its frozen parent goes: not a hung app.
    assert!(
        !log.contains("the app has not stopped"),
        "an app that stopped on its TERM is not reported hung:\n{log}"
    );
    assert_in_bucket(&replica, &dir.path().join("check.db"), &[(id, body)], &log);
}

/// The worst stop the watchdog meets: Litestream hangs, the app does not stop when told
/// (frozen here, as on a stuck disk) and the bucket is silent for the last pass. The stop
/// must still end within the platforms' grace, and no process of the container may be
/// left running: an app left behind Litestream could go on writing after the last pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_with_litestream_and_the_app_hung_and_the_bucket_silent_fits_and_leaves_nothing() {
    let dir = temp_dir();
    let (moto, _replica, mut stack) = replicating_stack(dir.path(), "all-hung").await;
    let (litestream, app) = stack.litestream_and_app_pids();
    assert!(send_signal("STOP", &app.to_string()));
    assert!(send_signal("STOP", &litestream.to_string()));
    moto.freeze();

    let (status, took) = timed_stop(&mut stack, Duration::from_secs(60)).await;
    let app_state = fs::read_to_string(format!("/proc/{app}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next()))
        .flatten();
    moto.thaw();
    let log = stack.process.log_text();
    assert!(
        matches!(app_state, None | Some('Z' | 'X')),
        "the app (PID {app}) outlived the container's entrypoint (state {app_state:?}):\n{log}"
    );
    assert!(
        log.contains("the app has not stopped 2s after its own stop signal: killing it"),
        "a hung app is killed, not left to the platform (outside a PID namespace nothing \
         else ends it):\n{log}"
    );
    assert_within_platform_grace(took, &log);
    assert_eq!(
        status.code(),
        Some(1),
        "the stop failed and says so:\n{log}"
    );
}
