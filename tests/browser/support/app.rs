//! The real logpaste server, in this test process: the library's own `Application` on a
//! free 127.0.0.1 port, with a fresh SQLite file in a temporary folder.

use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use logpaste::config::Config;
use logpaste::startup::Application;
use tempfile::TempDir;

const READY_TIMEOUT: Duration = Duration::from_secs(30);

pub struct TestApp {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub origin: String,
    handle: ServerHandle,
    _data_dir: TempDir,
}

impl TestApp {
    /// Starts the server with LogPaste flags as an operator writes them (`-maxsize`, `1`).
    pub async fn spawn(flags: &[&str]) -> TestApp {
        TestApp::spawn_configured(flags, |_| {}).await
    }

    /// As `spawn`, with a last change to the parsed configuration (proxy mode is env-only).
    pub async fn spawn_configured(flags: &[&str], adjust: impl FnOnce(&mut Config)) -> TestApp {
        let data_dir = tempfile::tempdir().expect("create a temporary data folder");
        let db_path = data_dir.path().join("store.db");
        let mut args = vec![
            "logpaste".to_string(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            "0".into(),
            "--db-path".into(),
            db_path.display().to_string(),
        ];
        args.extend(flags.iter().map(|flag| flag.to_string()));
        let mut config = match Config::parse_from_env(args) {
            Ok(config) => config,
            Err(err) => panic!("test flags {flags:?} were refused: {err:?}"),
        };
        adjust(&mut config);
        let app = Application::build(config)
            .await
            .expect("the application starts");
        let origin = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        wait_until_healthy(&origin).await;
        TestApp {
            origin,
            handle,
            _data_dir: data_dir,
        }
    }

    /// Stops accepting connections and waits until the server is down.
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }

    /// The stored bytes of a paste, over plain HTTP.
    pub async fn paste_bytes(&self, id: &str) -> Vec<u8> {
        let response = reqwest::get(format!("{}/{id}", self.origin))
            .await
            .expect("GET the paste");
        assert_eq!(response.status(), 200, "GET /{id}");
        response.bytes().await.expect("read the paste").to_vec()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The stop command is sent at once; its completion is not awaited here.
        drop(self.handle.stop(false));
    }
}

async fn wait_until_healthy(origin: &str) {
    let deadline = Instant::now() + READY_TIMEOUT;
    let client = reqwest::Client::new();
    loop {
        let healthy = client
            .get(format!("{origin}/healthz"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .is_ok_and(|response| response.status() == 200);
        if healthy {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{origin}/healthz did not answer 200 within {READY_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
