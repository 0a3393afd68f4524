//! Every failure a handler can answer with, mapped to a status and a short human-readable
//! message in one place. Bodies are plain text ending in a newline, as LogPaste's were, so
//! its JS client (which rejects with the response text) shows them as they are.

use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum PasteError {
    #[error("empty body: send some text to paste")]
    EmptyBody,
    #[error("paste too large: the limit is {limit_mib} MiB")]
    TooLarge { limit_mib: u64 },
    #[error(
        "expected a multipart/form-data upload, e.g. curl -F '_=<-' URL or curl -F 'f=@app.log' URL"
    )]
    NotMultipart,
    #[error("malformed multipart/form-data upload: {0}")]
    MalformedMultipart(String),
    #[error("no form field or file in the upload: send one, e.g. curl -F '_=<-' URL")]
    NoFormField,
    #[error("could not read the request body: {0}")]
    BodyRead(String),
    #[error("upload took too long: send the paste within {} seconds", .0.as_secs())]
    UploadTimeout(Duration),
    #[error("rate limit reached: at most {per_minute} upload{} per minute; try again in {} s", plural_s(.per_minute), retry_after_secs(.retry_after))]
    RateLimited {
        per_minute: u32,
        retry_after: Duration,
    },
    #[error("uploads in Content-Encoding {0:?} are not accepted: send the text as is, or gzip it")]
    UnsupportedEncoding(String),
    #[error("entry not found")]
    NotFound,
    #[error("upload too slow while other uploads wait: send at least 13 KiB a second")]
    TooSlow,
    #[error("the server is busy receiving other uploads; try again in {} s", retry_after_secs(.retry_after))]
    Busy { retry_after: Duration },
    #[error("the server is busy sending other large pastes; try again in {} s", retry_after_secs(.retry_after))]
    SendBusy { retry_after: Duration },
    #[error("storage is unavailable, please try again later")]
    Storage(#[source] StoreError),
    #[error("the server is out of disk space: the paste was not stored")]
    StorageFull,
    /// Work handed to a blocking thread did not finish (the server is stopping, or a bug
    /// made it panic): our failure, never the client's.
    #[error("the upload could not be processed; please try again")]
    Interrupted,
}

fn plural_s(count: &u32) -> &'static str {
    if *count == 1 {
        ""
    } else {
        "s"
    }
}

fn retry_after_secs(retry_after: &Duration) -> u64 {
    // Round up: retrying a fraction of a second early would be refused again.
    retry_after.as_millis().div_ceil(1000).max(1) as u64
}

impl From<StoreError> for PasteError {
    fn from(err: StoreError) -> Self {
        if let StoreError::DiskFull = err {
            // The writer has logged the failure; this says what the operator must do.
            tracing::error!(
                "upload refused: the disk holding the database is full; free some space"
            );
            return PasteError::StorageFull;
        }
        // The detail goes to the log, never to the client.
        tracing::error!(error = %err, "storage failure");
        PasteError::Storage(err)
    }
}

impl ResponseError for PasteError {
    fn status_code(&self) -> StatusCode {
        match self {
            PasteError::EmptyBody
            | PasteError::NotMultipart
            | PasteError::MalformedMultipart(_)
            | PasteError::NoFormField
            | PasteError::BodyRead(_) => StatusCode::BAD_REQUEST,
            PasteError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            PasteError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            PasteError::UploadTimeout(_) | PasteError::TooSlow => StatusCode::REQUEST_TIMEOUT,
            PasteError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            PasteError::NotFound => StatusCode::NOT_FOUND,
            PasteError::Storage(_) | PasteError::Interrupted => StatusCode::SERVICE_UNAVAILABLE,
            PasteError::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            PasteError::Busy { .. } | PasteError::SendBusy { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.content_type("text/plain; charset=utf-8");
        if let PasteError::RateLimited { retry_after, .. }
        | PasteError::Busy { retry_after }
        | PasteError::SendBusy { retry_after } = self
        {
            response.insert_header((header::RETRY_AFTER, retry_after_secs(retry_after)));
        }
        if matches!(
            self,
            PasteError::TooLarge { .. }
                | PasteError::UploadTimeout(_)
                | PasteError::TooSlow
                | PasteError::Busy { .. }
        ) {
            // The rest of the body is never read: the connection cannot be reused.
            response.insert_header((header::CONNECTION, HeaderValue::from_static("close")));
        }
        response.body(format!("{self}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_server_says_when_to_try_again() {
        let busy = PasteError::Busy {
            retry_after: Duration::from_secs(5),
        };
        let response = busy.error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "5");
        assert_eq!(response.headers().get(header::CONNECTION).unwrap(), "close");
        assert_eq!(
            busy.to_string(),
            "the server is busy receiving other uploads; try again in 5 s"
        );
    }
}
