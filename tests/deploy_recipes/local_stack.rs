//! The local stack's bucket settings, run for real: the real app takes a paste, the
//! pinned Litestream with the image's `litestream.yml` and the recipe's variables ships
//! it to a real S3-compatible server (moto, standing where MinIO stands in compose), and
//! a fresh app on the database restored from that bucket serves it again. Only the
//! endpoint's host changes: `minio:9000` exists inside compose, moto runs on 127.0.0.1.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::app::RunningApp;
use crate::{recipes, repo_root};

/// A helper process, killed by PID when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tool(relative: &str) -> PathBuf {
    let path = repo_root().join(relative);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup, which installs it",
        path.display()
    );
    path
}

/// A port nobody listens on, that neither the kernel nor another test will hand out
/// meanwhile (see tests/common/ports.rs).
fn free_port() -> u16 {
    crate::ports::free_port()
}

/// Polls `ready` for at most 30 s; whether it became true.
async fn wait_for<F, Fut>(mut ready: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready().await {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    true
}

fn litestream(env: &BTreeMap<String, String>, args: &[&str], log: &Path) -> Command {
    let mut command = Command::new(tool(".venv/bin/litestream"));
    // Only the recipe's variables (and PATH): AWS_CA_BUNDLE, set on this machine, breaks
    // Litestream 0.5 against a custom endpoint.
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env)
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(log).expect("log file"))
        .stderr(std::fs::File::create(log.with_extension("err")).expect("log file"));
    command
}

#[tokio::test]
async fn the_local_stacks_bucket_settings_replicate_and_restore_through_the_images_config() {
    let config = repo_root().join("litestream.yml");
    assert!(
        config.is_file(),
        "litestream.yml (the image's config) does not exist"
    );
    let recipe = recipes::local();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();

    // The S3-compatible server, and the bucket compose's create-bucket job makes.
    let s3_port = free_port();
    let _s3 = KillOnDrop(
        Command::new(tool(".venv/bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &s3_port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server"),
    );
    let s3 = format!("http://127.0.0.1:{s3_port}");
    let s3_up = wait_for(|| async { client.get(&s3).send().await.is_ok() }).await;
    assert!(s3_up, "moto_server did not answer within 30 s");
    let url = recipe.env["DB_REPLICA_URL"].clone();
    let bucket = url
        .strip_prefix("s3://")
        .and_then(|rest| rest.split(['/', '?']).next())
        .expect("s3:// URL")
        .to_string();
    let created = client.put(format!("{s3}/{bucket}")).send().await.unwrap();
    assert!(
        created.status().is_success(),
        "create bucket: {}",
        created.status()
    );

    let mut env = recipe.env.clone();
    let endpoint = url
        .split_once("endpoint=")
        .map(|(_, rest)| rest.split('&').next().unwrap_or("").to_string())
        .expect("the local recipe's URL carries its endpoint");
    env.insert("DB_REPLICA_URL".into(), url.replace(&endpoint, &s3));
    let db = dir.path().join("first-host/store.db");
    env.insert("DB_PATH".into(), db.display().to_string());

    // First host: as under s6, Litestream runs beside the app, which takes a paste.
    let mut first = RunningApp::start_with_db(&env, &db);
    first.wait_until_listening(&client).await;
    let log = dir.path().join("replicate.log");
    let config_arg = config.display().to_string();
    let mut replicate = KillOnDrop(
        litestream(&env, &["replicate", "-config", &config_arg], &log)
            .spawn()
            .expect("start litestream replicate"),
    );
    let body = "a paste that must survive the move\n";
    let put: serde_json::Value = client
        .put(format!("{}/", first.base_url))
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .expect("PUT answers JSON");
    let id = put["id"].as_str().expect("an id").to_string();
    let listing = format!("{s3}/{bucket}?list-type=2");
    let logs = || {
        std::fs::read_to_string(&log).unwrap_or_default()
            + &std::fs::read_to_string(log.with_extension("err")).unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = replicate.0.try_wait().expect("poll litestream") {
            panic!(
                "litestream replicate exited ({status}) with the local recipe's settings:\n{}",
                logs()
            );
        }
        let listed = match client.get(&listing).send().await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if listed.contains(".ltx</Key>") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Litestream uploaded nothing within 30 s with the local recipe's settings:\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(first); // the first host is gone

    // Second host: restore from the bucket, then serve.
    let restored = dir.path().join("second-host/store.db");
    std::fs::create_dir_all(restored.parent().unwrap()).unwrap();
    let db_arg = db.display().to_string();
    let restored_arg = restored.display().to_string();
    let status = litestream(
        &env,
        &[
            "restore",
            "-config",
            &config_arg,
            "-o",
            &restored_arg,
            &db_arg,
        ],
        &dir.path().join("restore.log"),
    )
    .status()
    .expect("run litestream restore");
    assert!(
        status.success(),
        "litestream restore with the local recipe's settings failed: {}",
        std::fs::read_to_string(dir.path().join("restore.err")).unwrap_or_default()
    );
    let mut second = RunningApp::start_with_db(&env, &restored);
    second.wait_until_listening(&client).await;
    let served = client
        .get(format!("{}/{id}", second.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200, "the restored host serves the paste");
    assert_eq!(served.text().await.unwrap(), body);
}
