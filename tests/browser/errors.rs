//! The homepage's error line: too large (caught in the page, and refused by the server),
//! rate limited, server unreachable, nothing to upload.

use serde_json::json;

use crate::support::{Browser, FrontProxy, TestApp};

const MIB: usize = 1024 * 1024;

/// Puts `bytes` characters of text in the box at once (typing a MiB would take minutes).
async fn fill_text_box(browser: &Browser, bytes: usize) {
    browser
        .js(
            "const box = document.getElementById('upload-textarea');\
             box.value = 'log line 0123456789\\n'.repeat(Math.ceil(arguments[0] / 20)).slice(0, arguments[0]);\
             box.dispatchEvent(new Event('input', { bubbles: true }));",
            vec![json!(bytes)],
        )
        .await;
}

/// Uploads the page has sent so far (the Resource Timing entries of its fetch calls).
async fn uploads_sent(browser: &Browser) -> usize {
    browser
        .js(
            "return performance.getEntriesByType('resource')\
               .filter((entry) => entry.initiatorType === 'fetch').length;",
            vec![],
        )
        .await
        .as_u64()
        .expect("a count") as usize
}

/// The server's own answer to an upload of `bytes` bytes, over plain HTTP.
async fn server_refusal(app: &TestApp, bytes: usize) -> (u16, String) {
    let response = reqwest::Client::new()
        .put(format!("{}/", app.origin))
        .body(vec![b'x'; bytes])
        .send()
        .await
        .expect("PUT");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// What the page makes of a server message: trimmed, capitalised, ending in a full stop.
fn as_sentence(message: &str) -> String {
    let message = message.trim();
    let mut chars = message.chars();
    let first = chars.next().expect("a message").to_uppercase();
    let sentence = format!("{first}{}", chars.as_str());
    if sentence.ends_with(['.', '!', '?']) {
        sentence
    } else {
        format!("{sentence}.")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_text_is_refused_in_the_page_without_uploading() {
    let app = TestApp::spawn(&["-maxsize", "1"]).await;
    let browser = Browser::start().await;
    browser.open_homepage(&app.origin).await;

    fill_text_box(&browser, MIB + MIB / 2).await;
    browser.click("#upload").await;

    assert_eq!(
        browser.wait_for_error_line().await,
        "Too large. This text is 1.5 MiB; this server accepts up to 1.0 MiB. Nothing was uploaded."
    );
    assert_eq!(uploads_sent(&browser).await, 0, "nothing was sent");
    assert_eq!(browser.text("#result").await, "");
    browser.close().await;
}

/// A page loaded before the operator lowered the limit knows an older, larger one: the
/// server's 413 must then reach the user just as clearly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_upload_shows_the_servers_413_message() {
    let app = TestApp::spawn(&["-maxsize", "1"]).await;
    let oversize = MIB + MIB / 2;
    let (status, message) = server_refusal(&app, oversize).await;
    assert_eq!(status, 413);
    assert_eq!(message, "paste too large: the limit is 1 MiB\n");
    // The server's message, without saying "too large" twice.
    let expected = "Too large. The limit is 1 MiB.";

    let browser = Browser::start().await;
    browser.open_homepage(&app.origin).await;
    browser
        .js(
            "document.getElementById('upload-form').dataset.maxSizeMib = '1024';",
            vec![],
        )
        .await;

    // Typed text.
    fill_text_box(&browser, oversize).await;
    browser.click("#upload").await;
    assert_eq!(browser.wait_for_error_line().await, expected);
    assert_eq!(
        uploads_sent(&browser).await,
        1,
        "the upload went to the server"
    );

    // A chosen file.
    browser
        .js(
            "document.getElementById('form-upload-error').textContent = '';",
            vec![],
        )
        .await;
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("huge.log");
    std::fs::write(&path, vec![b'y'; oversize]).expect("write the file");
    browser.choose_file(&path).await;
    assert_eq!(browser.wait_for_error_line().await, expected);
    assert_eq!(
        uploads_sent(&browser).await,
        2,
        "the file went to the server"
    );
    assert_eq!(browser.text("#result").await, "", "no link is shown");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_upload_says_when_to_retry() {
    let app = TestApp::spawn(&["-perminutelimit", "1"]).await;
    let browser = Browser::start().await;
    browser.open_homepage(&app.origin).await;

    browser.type_into("#upload-textarea", "first upload").await;
    browser.click("#upload").await;
    browser.wait_for_result_link().await;

    browser.click("#upload").await;
    let line = browser.wait_for_error_line().await;
    let seconds: u64 = line
        .strip_prefix("Rate limited. Too many uploads from your address: try again in ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected error line: {line:?}"));
    assert!(
        (1..=60).contains(&seconds),
        "a limit per minute frees a slot within a minute: {line:?}"
    );
    assert!(
        line.ends_with(" seconds.") || line.ends_with(" second."),
        "{line:?}"
    );
    assert_eq!(
        browser.text("#result").await,
        "",
        "no link is shown for the refused upload"
    );
    browser.save_screenshot("homepage-rate-limited.png").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_reported_and_the_text_is_kept() {
    let mut app = TestApp::spawn(&[]).await;
    let browser = Browser::start().await;
    browser.open_homepage(&app.origin).await;
    app.stop().await;

    browser
        .type_into("#upload-textarea", "text that must not be lost")
        .await;
    browser.click("#upload").await;
    assert_eq!(
        browser.wait_for_error_line().await,
        "Server unreachable. The upload did not reach the server. Check your connection, then try again."
    );
    assert_eq!(
        browser
            .js(
                "return document.getElementById('upload-textarea').value;",
                vec![]
            )
            .await,
        json!("text that must not be lost")
    );
    browser.close().await;
}

/// Behind a proxy (Heroku, Fly, Lightsail, nginx) an upload while the app restarts, or one the
/// proxy refuses itself, is answered by the proxy's HTML error page: the error line explains
/// the failure in words and never shows that page's markup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxys_html_error_page_is_explained_not_shown() {
    let app = TestApp::spawn(&[]).await;
    let proxy = FrontProxy::serve(&app.origin);
    let browser = Browser::start().await;
    browser.open_homepage(&proxy.origin).await;
    browser.type_into("#upload-textarea", "a log line").await;

    for (status, expected) in [
        (
            502,
            "Upload failed. The server could not take the upload just now (HTTP 502). Try again in a moment.",
        ),
        (
            503,
            "Upload failed. The server could not take the upload just now (HTTP 503). Try again in a moment.",
        ),
        (
            504,
            "Upload failed. The server could not take the upload just now (HTTP 504). Try again in a moment.",
        ),
        (403, "Upload failed. The server refused the upload (HTTP 403)."),
        (413, "Too large. The paste is over this server's size limit."),
        (
            429,
            "Rate limited. Too many uploads from your address: try again later.",
        ),
    ] {
        proxy.answer_uploads_with(status);
        clear_error_line(&browser).await;
        browser.click("#upload").await;
        assert_eq!(
            browser.wait_for_error_line().await,
            expected,
            "the proxy's {status}"
        );
    }
    // A bare answer, no body: the status text ("Bad Gateway") is no message of the
    // server's either (over HTTP/2 there is none, and the line read "Upload failed. Upload
    // failed.").
    for status in [502, 503] {
        proxy.answer_uploads_bare(status);
        clear_error_line(&browser).await;
        browser.click("#upload").await;
        assert_eq!(
            browser.wait_for_error_line().await,
            format!(
                "Upload failed. The server could not take the upload just now (HTTP {status}). Try again in a moment."
            ),
            "the proxy's bare {status}"
        );
    }
    assert_eq!(browser.text("#result").await, "", "no link is shown");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_upload_is_explained_without_a_request() {
    let app = TestApp::spawn(&[]).await;
    let browser = Browser::start().await;
    browser.open_homepage(&app.origin).await;

    browser.type_into("#upload-textarea", "   ").await;
    browser.click("#upload").await;
    assert_eq!(
        browser.wait_for_error_line().await,
        "Nothing to upload. Type or paste some text, or choose a file."
    );
    assert_eq!(uploads_sent(&browser).await, 0);
    let focused = browser
        .js("return document.activeElement.id;", vec![])
        .await;
    assert_eq!(
        focused,
        json!("upload-textarea"),
        "focus returns to the box"
    );
    browser.close().await;
}

/// The server's answer to a PUT of `body`: (status, message).
async fn server_answer(app: &TestApp, body: Vec<u8>) -> (u16, String) {
    let response = reqwest::Client::new()
        .put(format!("{}/", app.origin))
        .body(body)
        .send()
        .await
        .expect("PUT");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// Puts `text` in the upload box as a paste would (no key events per character).
async fn set_textarea(browser: &Browser, text: &str) {
    browser
        .js(
            "document.getElementById('upload-textarea').value = arguments[0];",
            vec![json!(text)],
        )
        .await;
}

async fn clear_error_line(browser: &Browser) {
    browser
        .js(
            "document.getElementById('form-upload-error').textContent = '';",
            vec![],
        )
        .await;
}

/// The page refuses as blank exactly what the server refuses as blank: every character
/// Rust's `char::is_whitespace` takes (U+0085 included, which JS `trim()` keeps), and not
/// U+FEFF (which JS `trim()` skips, and the server stores).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blank_text_is_judged_as_the_server_judges_it() {
    let app = TestApp::spawn(&[]).await;
    let browser = Browser::start().await;
    browser.open_homepage(&app.origin).await;

    let spaces: Vec<char> = (0..=char::MAX as u32)
        .filter_map(char::from_u32)
        .filter(|c| c.is_whitespace())
        .collect();
    for space in spaces {
        let text = format!("{space}{space}");
        let (status, _) = server_answer(&app, text.clone().into_bytes()).await;
        assert_eq!(
            status, 400,
            "the server refuses U+{:04X} as blank",
            space as u32
        );
        clear_error_line(&browser).await;
        set_textarea(&browser, &text).await;
        browser.click("#upload").await;
        assert_eq!(
            browser.wait_for_error_line().await,
            "Nothing to upload. Type or paste some text, or choose a file.",
            "U+{:04X}",
            space as u32
        );
    }
    assert_eq!(uploads_sent(&browser).await, 0, "nothing was sent");

    let bom = "\u{feff}";
    set_textarea(&browser, bom).await;
    browser.click("#upload").await;
    let (href, _) = browser.wait_for_result_link().await;
    let id = crate::support::paste_id(&href, &app.origin);
    assert_eq!(app.paste_bytes(&id).await, bom.as_bytes());
    browser.close().await;
}

/// A chosen file of whitespace only is refused in the page, as an empty one is, when it is
/// small enough to read first (64 KiB); a larger one is left to the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whitespace_only_file_is_explained() {
    let app = TestApp::spawn(&[]).await;
    let browser = Browser::start().await;
    browser.open_homepage(&app.origin).await;
    let dir = tempfile::tempdir().expect("temporary folder");
    let choose = |name: &str, contents: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).expect("write the file");
        path.display().to_string()
    };

    let blank = " \t\r\n\u{85}\u{a0}\u{3000}\n".as_bytes();
    assert_eq!(server_answer(&app, blank.to_vec()).await.0, 400);
    let path = choose("blank.log", blank);
    browser.choose_file(&path).await;
    assert_eq!(
        browser.wait_for_error_line().await,
        "Nothing to upload. The file blank.log holds only whitespace."
    );
    assert_eq!(uploads_sent(&browser).await, 0, "nothing was sent");

    // A byte-order mark alone is text to the server.
    let bom = "\u{feff}".as_bytes();
    clear_error_line(&browser).await;
    let path = choose("bom.log", bom);
    browser.choose_file(&path).await;
    let (href, _) = browser.wait_for_result_link().await;
    let id = crate::support::paste_id(&href, &app.origin);
    assert_eq!(app.paste_bytes(&id).await, bom);

    // Larger than the page reads: the server's refusal is shown.
    let large = vec![b' '; 64 * 1024 + 1];
    let (status, message) = server_answer(&app, large.clone()).await;
    assert_eq!(status, 400);
    let path = choose("large-blank.log", &large);
    browser.choose_file(&path).await;
    assert_eq!(
        browser.wait_for_error_line().await,
        format!("Upload failed. {}", as_sentence(&message))
    );
    assert_eq!(
        uploads_sent(&browser).await,
        2,
        "the BOM and the large file"
    );
    browser.close().await;
}
