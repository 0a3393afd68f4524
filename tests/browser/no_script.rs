//! Without JavaScript the homepage's forms still upload, as plain multipart POSTs, and the
//! server answers with the link.

use fantoccini::Locator;
use serde_json::json;

use crate::support::{Browser, TestApp};

/// The plain-text page the server answers a form POST with: the paste's URL. The form
/// submission navigates, so until the answer page has replaced the homepage the body may be
/// the old one or a stale element: poll (bounded) until the page is just a link.
async fn answered_url(browser: &Browser, origin: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut last = String::new();
    while std::time::Instant::now() < deadline {
        if let Ok(body) = browser.client.find(Locator::Css("body")).await {
            if let Ok(text) = body.text().await {
                let text = text.trim_end().to_string();
                if text.starts_with(origin) && !text.contains('\n') {
                    return text;
                }
                last = text;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the form POST's answer page never showed a link; last page text: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_javascript_text_and_files_upload_as_form_posts() {
    let app = TestApp::spawn(&[]).await;
    let browser = Browser::start().await;
    browser
        .devtools(
            "Emulation.setScriptExecutionDisabled",
            json!({ "value": true }),
        )
        .await;
    browser.goto(&format!("{}/", app.origin)).await;

    // The file form's own button is there: no script hid it.
    let file_button = browser.find("#upload-file-button").await;
    assert!(file_button.is_displayed().await.expect("visible?"));

    // Text. A browser sends a text box's line breaks as CRLF in a form.
    browser
        .type_into("#upload-textarea", "posted without JS\nsecond line")
        .await;
    browser.click("#upload").await;
    let url = answered_url(&browser, &app.origin).await;
    let id = crate::support::paste_id(&url, &app.origin);
    assert_eq!(
        app.paste_bytes(&id).await,
        b"posted without JS\r\nsecond line"
    );

    // A file.
    browser.goto(&format!("{}/", app.origin)).await;
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("router.log");
    let contents = b"router log\n\xff\xfe raw bytes\n".to_vec();
    std::fs::write(&path, &contents).expect("write the file");
    browser.choose_file(&path).await;
    browser.click("#upload-file-button").await;
    let url = answered_url(&browser, &app.origin).await;
    let id = crate::support::paste_id(&url, &app.origin);
    assert_eq!(app.paste_bytes(&id).await, contents);
    browser.close().await;
}
