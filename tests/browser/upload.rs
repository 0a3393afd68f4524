//! Uploading from the homepage: typed text, a chosen file, a dropped file.

use serde_json::json;

use crate::support::{paste_id, Browser, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_text_uploads_and_its_link_shows_the_same_text() {
    let app = TestApp::spawn(&[]).await;
    let browser = Browser::start().await;
    browser.open_homepage(&app.origin).await;

    let text =
        "2024-05-01 12:00:00 ERROR disk full\n  at ünïcode ✓ path <tag> & \"quotes\"\nlast line";
    browser.type_into("#upload-textarea", text).await;
    browser.click("#upload").await;

    let (href, shown) = browser.wait_for_result_link().await;
    assert_eq!(href, shown, "the link shows its own URL");
    let id = paste_id(&href, &app.origin);
    assert_eq!(app.paste_bytes(&id).await, text.as_bytes());
    browser.assert_no_csp_violations().await;

    // Follow the link as a person would: the browser shows the same text.
    browser
        .find("#result a")
        .await
        .follow()
        .await
        .expect("follow the link");
    let current = browser.client.current_url().await.expect("current URL");
    assert_eq!(current.as_str(), href);
    let shown_text = browser.js("return document.body.innerText;", vec![]).await;
    assert_eq!(shown_text, json!(text));
    browser.close().await;
}

/// Bytes a log file may hold that text handling would mangle: invalid UTF-8, NUL, CRLF.
fn awkward_log_bytes(label: &str) -> Vec<u8> {
    let mut bytes = format!("{label}: started\r\nline two\twith tab\n").into_bytes();
    bytes.extend_from_slice(b"raw bytes: \xff\xfe\x00\x01 end\n");
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chosen_file_uploads_at_once_byte_for_byte() {
    let app = TestApp::spawn(&[]).await;
    let browser = Browser::start().await;
    browser.open_homepage(&app.origin).await;

    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("device-diagnostics.log");
    let contents = awkward_log_bytes("chosen");
    std::fs::write(&path, &contents).expect("write the log file");

    // WebDriver sets a file input's file from a path, as if chosen in the dialog.
    browser.choose_file(&path).await;

    let (href, _) = browser.wait_for_result_link().await;
    let id = paste_id(&href, &app.origin);
    assert_eq!(app.paste_bytes(&id).await, contents);
    browser.assert_no_csp_violations().await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_dropped_on_the_text_box_uploads() {
    let app = TestApp::spawn(&[]).await;
    let browser = Browser::start().await;
    browser.open_homepage(&app.origin).await;

    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("dropped.log");
    let contents = awkward_log_bytes("dropped");
    std::fs::write(&path, &contents).expect("write the log file");

    // A real drag of a file from outside the page, through Chromium's input pipeline,
    // onto the middle of the text box.
    let rect = browser
        .js(
            "const r = document.getElementById('upload-textarea').getBoundingClientRect();\
             return [r.left + r.width / 2, r.top + r.height / 2];",
            vec![],
        )
        .await;
    let (x, y) = (rect[0].as_f64().expect("x"), rect[1].as_f64().expect("y"));
    let data = json!({
        "items": [],
        "files": [path.display().to_string()],
        "dragOperationsMask": 1,
    });
    for kind in ["dragEnter", "dragOver", "drop"] {
        browser
            .devtools(
                "Input.dispatchDragEvent",
                json!({ "type": kind, "x": x, "y": y, "data": data }),
            )
            .await;
    }

    let (href, _) = browser.wait_for_result_link().await;
    let id = paste_id(&href, &app.origin);
    assert_eq!(app.paste_bytes(&id).await, contents);
    // The page is still ours: the drop did not open the file in place of the page.
    let current = browser.client.current_url().await.expect("current URL");
    assert_eq!(current.as_str(), format!("{}/", app.origin));
    assert_eq!(
        browser.text("#upload-textarea").await,
        "",
        "the file went to the server, not into the box"
    );
    browser.close().await;
}

/// A file chosen while an upload is still running is not uploaded, and the page says so
/// (before, it vanished without a word: the input was cleared and nothing was sent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_chosen_during_an_upload_is_not_lost_silently() {
    let app = TestApp::spawn(&[]).await;
    let browser = Browser::start().await;
    browser.open_homepage(&app.origin).await;
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("later.log");
    std::fs::write(&path, "chosen during an upload\n").expect("write the log file");
    let choose = || async {
        browser.choose_file(&path).await;
    };

    // A slow network keeps the text's upload running for a while.
    browser.devtools("Network.enable", json!({})).await;
    browser
        .devtools(
            "Network.emulateNetworkConditions",
            json!({ "offline": false, "latency": 1500,
                    "downloadThroughput": -1, "uploadThroughput": -1 }),
        )
        .await;
    browser
        .type_into("#upload-textarea", "the text first")
        .await;
    browser.click("#upload").await;
    assert_eq!(browser.text("#result").await, "Uploading text\u{2026}");
    choose().await;
    let note = "Still uploading. The file later.log was not uploaded: choose it again when \
                the upload of text is done.";
    assert_eq!(browser.wait_for_error_line().await, note);

    let (text_href, _) = browser.wait_for_result_link().await;
    let id = paste_id(&text_href, &app.origin);
    assert_eq!(app.paste_bytes(&id).await, b"the text first");
    assert_eq!(
        browser.text("#form-upload-error").await,
        note,
        "the note stays beside the text's link"
    );

    // Chosen again once the page is free, the file uploads.
    choose().await;
    browser
        .wait_for(
            &format!(
                "document.querySelector('#result a') && \
                 document.querySelector('#result a').href !== {}",
                json!(text_href)
            ),
            "the file's link",
        )
        .await;
    let (href, _) = browser.wait_for_result_link().await;
    let id = paste_id(&href, &app.origin);
    assert_eq!(app.paste_bytes(&id).await, b"chosen during an upload\n");
    assert_eq!(browser.text("#form-upload-error").await, "");
    browser.close().await;
}
