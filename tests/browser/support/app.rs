//! The real logpaste server in this test process, started by the shared `spawn_app_with`
//! (fresh SQLite file, free 127.0.0.1 port), with what the browser tests ask of it.

use crate::common::{spawn_app_with, AppOptions};

pub struct TestApp {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub origin: String,
    /// `None` once stopped.
    app: Option<crate::common::TestApp>,
}

impl TestApp {
    /// Starts the server with LogPaste flags as an operator writes them (`-maxsize`, `1`).
    pub async fn spawn(flags: &[&str]) -> TestApp {
        TestApp::start(AppOptions::args(flags)).await
    }

    /// Starts the server in proxy mode (`LP_BEHIND_PROXY` set).
    pub async fn spawn_behind_proxy() -> TestApp {
        TestApp::start(AppOptions {
            behind_proxy: true,
            ..AppOptions::default()
        })
        .await
    }

    async fn start(options: AppOptions) -> TestApp {
        let app = spawn_app_with(options).await;
        TestApp {
            origin: app.address.clone(),
            app: Some(app),
        }
    }

    /// Stops the server: from now on nothing listens at `origin`.
    pub async fn stop(&mut self) {
        if let Some(app) = self.app.take() {
            app.stop().await;
        }
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
