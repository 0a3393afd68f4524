//! `GET /healthz`: 200 while the database answers a read and the writer can take the write
//! lock; 503 when either fails, once the database file or its WAL was deleted or replaced
//! under the running app, and while commits fail with an I/O error (a file system gone
//! read-only): after such a failure the check tries a write of its own (see `Store::ping`).

use std::time::Duration;

use actix_web::{web, HttpResponse};

use crate::startup::AppState;

/// Less than the platforms' health-check timeouts, so they see our answer, not theirs.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    match tokio::time::timeout(PING_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .body("ok\n"),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "health check: database did not answer");
            unavailable()
        }
        Err(_) => {
            tracing::warn!("health check: database timed out");
            unavailable()
        }
    }
}

fn unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .content_type("text/plain; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body("database unavailable\n")
}
