//! The real `logpaste` binary, started with a recipe's environment (and nothing else),
//! on 127.0.0.1 and a free port, with its own temporary database.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Killed by PID when dropped.
pub struct RunningApp {
    child: Child,
    pub base_url: String,
    dir: TempDir,
}

impl RunningApp {
    pub fn start(env: &BTreeMap<String, String>) -> RunningApp {
        let dir = tempfile::tempdir().expect("temporary directory");
        let db = dir.path().join("store.db");
        Self::start_in(env, &db, dir)
    }

    /// With a given database file (a restored one, say).
    pub fn start_with_db(env: &BTreeMap<String, String>, db: &Path) -> RunningApp {
        Self::start_in(env, db, tempfile::tempdir().expect("temporary directory"))
    }

    fn start_in(env: &BTreeMap<String, String>, db: &Path, dir: TempDir) -> RunningApp {
        let port = free_port();
        let log = File::create(dir.path().join("app.log")).expect("log file");
        // Flags win over the recipe's PORT/LP_HOST/DB_PATH: the test must not take the
        // recipe's port on this shared machine, nor write where a container would.
        let child = Command::new(env!("CARGO_BIN_EXE_logpaste"))
            .env_clear()
            .envs(env)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--db-path",
            ])
            .arg(db)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start logpaste");
        RunningApp {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            dir,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("app.log")).unwrap_or_default()
    }

    /// Waits (at most 30 s) until the app answers HTTP at all; panics with its log if it
    /// exits or never answers.
    pub async fn wait_until_listening(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("poll logpaste") {
                panic!("logpaste exited with {status}; its log:\n{}", self.log());
            }
            if client.get(&self.base_url).send().await.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "logpaste did not answer within 30 s; its log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on, that neither the kernel nor another test will hand out
/// meanwhile (see tests/common/ports.rs).
fn free_port() -> u16 {
    crate::ports::free_port()
}

/// How askama writes text into HTML.
pub fn html_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}
