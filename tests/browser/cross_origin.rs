//! The JS client embedded in another web app: a page on another origin loads
//! `logpaste.js` from our server and uploads through it.

use serde_json::{json, Value};

use crate::support::{Browser, OtherOrigin, TestApp};

/// A third-party page that loads the client from `script_url` and does nothing else.
fn embedding_page(script_url: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Device web UI</title>
<script src="{script_url}"></script></head>
<body><h1>Device web UI</h1></body>
</html>"#
    )
}

/// A browser on a page of another origin that has loaded `app`'s client. The page's server
/// is returned too: it must outlive the test's use of the page.
async fn open_embedding_page(app: &TestApp) -> (OtherOrigin, Browser) {
    let other = OtherOrigin::serve(&[(
        "page.html",
        embedding_page(&format!("{}/static/js/logpaste.js", app.origin)),
    )]);
    let browser = Browser::start().await;
    browser.goto(&format!("{}/page.html", other.origin)).await;
    browser
        .wait_for("window.logpaste", "logpaste.js to load")
        .await;
    (other, browser)
}

const UPLOAD: &str = "const [text, base, done] = arguments;\
    window.logpaste.uploadText(text, base).then(\
      (id) => done({ id: id }),\
      (error) => done({ error: error.message, status: error.status }));";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_client_on_another_origin_uploads_and_the_paste_matches() {
    let app = TestApp::spawn(&[]).await;
    let other = OtherOrigin::serve(&[
        (
            "current.html",
            embedding_page(&format!("{}/static/js/logpaste.js", app.origin)),
        ),
        (
            "legacy.html",
            embedding_page(&format!("{}/js/logpaste.js", app.origin)),
        ),
    ]);
    assert_ne!(other.origin, app.origin);
    let browser = Browser::start().await;

    for (page, base_url) in [
        ("current.html", app.origin.clone()),
        // LogPaste's own snippets pass the URL with a trailing slash.
        ("legacy.html", format!("{}/", app.origin)),
    ] {
        browser.goto(&format!("{}/{page}", other.origin)).await;
        assert_eq!(
            browser.js("return window.location.origin;", vec![]).await,
            json!(other.origin),
            "the page runs on the second origin"
        );
        browser
            .wait_for(
                "window.logpaste && typeof window.logpaste.uploadText === 'function'",
                "logpaste.js to load from the other origin",
            )
            .await;

        let text = format!("diagnostics from {page}\r\nünïcode ✓ 日本語 \u{0} tab\tend\n");
        let outcome = browser
            .js_async(UPLOAD, vec![json!(text), json!(base_url)])
            .await;
        let id = match &outcome["id"] {
            Value::String(id) => id.clone(),
            _ => panic!("upload from {page} failed: {outcome}"),
        };
        assert!(
            id.len() == 8 && id.bytes().all(|b| b.is_ascii_alphanumeric()),
            "{id:?} is not a LogPaste id"
        );
        assert_eq!(
            app.paste_bytes(&id).await,
            text.as_bytes(),
            "paste from {page}"
        );
    }

    // A refusal reaches the other origin's code as the server's own message.
    let outcome = browser
        .js_async(UPLOAD, vec![json!("  \n\t "), json!(app.origin)])
        .await;
    assert_eq!(outcome["status"], json!(400), "{outcome}");
    let message = outcome["error"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("empty body"),
        "the rejection carries the server's message, got {outcome}"
    );
    browser.close().await;
}

/// A 429 tells a page on another origin when to try again: CORS hides every response header
/// it is not told to expose, and the client's `retryAfterSeconds` comes from Retry-After.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_client_on_another_origin_learns_when_to_retry_after_a_429() {
    const UPLOAD_WITH_RETRY: &str = "const [text, base, done] = arguments;\
        window.logpaste.uploadText(text, base).then(\
          (id) => done({ id: id }),\
          (error) => done({ status: error.status, retry: error.retryAfterSeconds }));";
    let app = TestApp::spawn(&["-perminutelimit", "1"]).await;
    let (_other, browser) = open_embedding_page(&app).await;

    let first = browser
        .js_async(UPLOAD_WITH_RETRY, vec![json!("first"), json!(app.origin)])
        .await;
    assert!(first["id"].is_string(), "the first upload passes: {first}");
    let limited = browser
        .js_async(UPLOAD_WITH_RETRY, vec![json!("second"), json!(app.origin)])
        .await;
    assert_eq!(limited["status"], json!(429), "{limited}");
    let seconds = limited["retry"]
        .as_u64()
        .unwrap_or_else(|| panic!("the other origin cannot read Retry-After: {limited}"));
    assert!(
        (1..=60).contains(&seconds),
        "a limit per minute frees a slot within a minute: {limited}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_client_rejects_when_the_server_is_unreachable() {
    let mut app = TestApp::spawn(&[]).await;
    let (_other, browser) = open_embedding_page(&app).await;
    app.stop().await;

    let outcome = browser
        .js_async(UPLOAD, vec![json!("hello"), json!(app.origin)])
        .await;
    assert_eq!(
        outcome,
        json!({ "error": "the server could not be reached", "status": 0 })
    );
    browser.close().await;
}

/// LogPaste's client joined `baseUrl + "/"`, so pages written for it may pass a `URL` object
/// (or anything else that turns into the server's URL): the upload must work the same here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_client_takes_the_base_url_as_a_url_object_as_logpastes_did() {
    const UPLOAD_TO_URL: &str = "const [text, base, done] = arguments;\
        try {\
          window.logpaste.uploadText(text, new URL(base)).then(\
            (id) => done({ id: id }),\
            (error) => done({ error: error.message, status: error.status }));\
        } catch (error) {\
          done({ threw: String(error) });\
        }";
    let app = TestApp::spawn(&[]).await;
    let (_other, browser) = open_embedding_page(&app).await;

    for base in [app.origin.clone(), format!("{}/", app.origin)] {
        let text = format!("uploaded with new URL({base:?})\n");
        let outcome = browser
            .js_async(UPLOAD_TO_URL, vec![json!(text), json!(base)])
            .await;
        let id = match &outcome["id"] {
            Value::String(id) => id.clone(),
            _ => panic!("upload to new URL({base:?}) failed: {outcome}"),
        };
        assert_eq!(app.paste_bytes(&id).await, text.as_bytes());
    }
    browser.close().await;
}
