//! Crash: `kill -9` of the whole stack under load. The documented guarantee: a paste
//! acknowledged more than one sync interval (plus a margin for the upload) before the
//! crash is in the bucket. How much of the last second was lost is printed, not asserted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::*;

const BUCKET: &str = "logpaste-crash";
const PATH: &str = "logpaste";
/// DB_SYNC_INTERVAL of the stack.
const SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// Litestream notices WAL changes on its 1 s check, then uploads: allow for both.
const MARGIN: Duration = Duration::from_secs(2);
const WRITERS: usize = 2;
const LOAD_DURATION: Duration = Duration::from_secs(4);

struct Acknowledged {
    id: String,
    body: Vec<u8>,
    at: Instant,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_whole_stack_loses_at_most_the_last_sync_interval() {
    let dir = temp_dir();
    let moto = Moto::start(dir.path()).await;
    moto.create_bucket(BUCKET).await;
    let replica = moto.replica_url(BUCKET, PATH);
    let http = http_client();

    let mut config = StackConfig::new(&dir.path().join("host-a"), &replica);
    config.env.push(("DB_SYNC_INTERVAL", "1s".to_string()));
    let mut a = Stack::start(&config, "stack-a").await;
    // The guarantee is about replication under way: measure from there.
    a.wait_replicating(&moto, BUCKET, PATH).await;

    let acknowledged = Arc::new(Mutex::new(Vec::<Acknowledged>::new()));
    let crashed = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let http = http.clone();
        let base_url = a.base_url.clone();
        let acknowledged = acknowledged.clone();
        let crashed = crashed.clone();
        writers.push(tokio::spawn(async move {
            for n in 0.. {
                let mut body = format!("writer {writer} paste {n}\n").into_bytes();
                body.extend(pseudo_random_bytes(
                    512,
                    (writer * 1_000_000 + n + 1) as u64,
                ));
                let sent = http
                    .put(format!("{base_url}/"))
                    .body(body.clone())
                    .send()
                    .await;
                let response = match sent {
                    Ok(response) if response.status() == 200 => response,
                    // Requests cut off by the crash were never acknowledged.
                    _ if crashed.load(Ordering::SeqCst) => return,
                    other => panic!("upload failed before the crash: {other:?}"),
                };
                let Ok(json) = response.json::<serde_json::Value>().await else {
                    return;
                };
                let at = Instant::now();
                let id = json["id"].as_str().expect("an id").to_string();
                acknowledged
                    .lock()
                    .expect("lock")
                    .push(Acknowledged { id, body, at });
            }
        }));
    }

    tokio::time::sleep(LOAD_DURATION).await;
    crashed.store(true, Ordering::SeqCst);
    a.kill_all();
    let killed_at = Instant::now();
    for writer in writers {
        writer.await.expect("writer task");
    }
    a.process.wait_exit(Duration::from_secs(10)).await;

    // The host is gone: a new one starts from the bucket alone.
    let b = Stack::start(
        &StackConfig::new(&dir.path().join("host-b"), &replica),
        "stack-b",
    )
    .await;
    let acknowledged = std::mem::take(&mut *acknowledged.lock().expect("lock"));
    assert!(
        acknowledged.len() > 20,
        "the load produced pastes: {}",
        acknowledged.len()
    );

    let guaranteed_before = killed_at - (SYNC_INTERVAL + MARGIN);
    let mut lost_guaranteed = Vec::new();
    let (mut last_second, mut lost_last_second) = (0, 0);
    let mut lost_total = 0;
    let mut oldest_lost: Option<Duration> = None;
    for paste in &acknowledged {
        let (status, served) = get_paste(&http, &b.base_url, &paste.id).await;
        let restored = status == 200 && served == paste.body;
        let age = killed_at - paste.at;
        if age <= Duration::from_secs(1) {
            last_second += 1;
            lost_last_second += usize::from(!restored);
        }
        if !restored {
            lost_total += 1;
            oldest_lost = Some(oldest_lost.map_or(age, |oldest| oldest.max(age)));
            if paste.at < guaranteed_before {
                lost_guaranteed.push((paste.id.clone(), age));
            }
        }
    }
    println!(
        "crash figures: {} pastes acknowledged in {LOAD_DURATION:?}; {lost_total} lost in all; \
         last second before kill -9: {lost_last_second} of {last_second} lost; \
         oldest lost paste acknowledged {oldest_lost:?} before the kill",
        acknowledged.len()
    );
    assert!(
        lost_guaranteed.is_empty(),
        "pastes acknowledged more than {:?} before the crash were lost: {lost_guaranteed:?}",
        SYNC_INTERVAL + MARGIN
    );
}
