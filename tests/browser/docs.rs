//! The docs section: its curl and JavaScript examples carry this server's URL and work
//! as printed; `-showdocs=false` hides them.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::support::{Browser, OtherOrigin, TestApp};

const CURL: &str = "/usr/bin/curl";

/// Runs a command exactly as the docs print it, in `dir`, and returns its output.
fn run_as_printed(command: &str, dir: &Path) -> String {
    let output = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .output()
        .expect("run sh");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_examples_use_this_servers_url_and_work() {
    assert!(
        Path::new(CURL).exists(),
        "{CURL} is missing: run scripts/setup (it installs curl)"
    );
    let app = TestApp::spawn(&[]).await;
    let browser = Browser::start().await;
    browser.open_homepage(&app.origin).await;
    assert!(browser
        .find("#docs")
        .await
        .is_displayed()
        .await
        .expect("visible?"));

    let example = |id: &'static str| {
        let browser = &browser;
        async move { browser.text(&format!("#{id}")).await }
    };
    let curl_text = example("curl-cmd").await;
    let curl_file = example("curl-file-cmd").await;
    let curl_put = example("curl-put-cmd").await;
    let js_example = example("js-example").await;
    for text in [&curl_text, &curl_file, &curl_put, &js_example] {
        assert!(text.contains(&app.origin), "{text:?} names {}", app.origin);
    }

    let dir = tempfile::tempdir().expect("temporary folder");
    let log = "2024-05-01 boot\n2024-05-01 ERROR fan stuck\n";
    std::fs::write(dir.path().join("app.log"), log).expect("write app.log");

    let url = run_as_printed(&curl_text, dir.path());
    let id = crate::support::paste_id(url.trim_end(), &app.origin);
    assert_eq!(app.paste_bytes(&id).await, b"some text I want to upload\n");

    let url = run_as_printed(&curl_file, dir.path());
    let id = crate::support::paste_id(url.trim_end(), &app.origin);
    assert_eq!(app.paste_bytes(&id).await, log.as_bytes());

    let answer: Value = serde_json::from_str(&run_as_printed(&curl_put, dir.path()))
        .expect("the PUT example answers JSON");
    let id = answer["id"].as_str().expect("an id").to_string();
    assert_eq!(app.paste_bytes(&id).await, log.as_bytes());

    // The JavaScript example, pasted as printed into a page on another origin.
    let page = format!(
        r#"<!DOCTYPE html><html><head><meta charset="utf-8"><title>Someone else's app</title>
<script>
  window.__console = [];
  for (const level of ["log", "error"]) {{
    const original = console[level];
    console[level] = (...args) => {{ window.__console.push(level + ": " + args.join(" ")); original.apply(console, args); }};
  }}
</script></head><body>
{js_example}
</body></html>"#
    );
    let other = OtherOrigin::serve(&[("example.html", page)]);
    browser
        .goto(&format!("{}/example.html", other.origin))
        .await;
    let logged = browser
        .wait_for("window.__console[0]", "the JS example to log its result")
        .await;
    let logged = logged.as_str().expect("a string");
    let url = logged
        .strip_prefix("log: uploaded to ")
        .unwrap_or_else(|| panic!("the JS example logged {logged:?}"));
    let id = crate::support::paste_id(url, &app.origin);
    assert_eq!(app.paste_bytes(&id).await, b"some text I want to upload");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn showdocs_false_hides_the_docs() {
    let app = TestApp::spawn(&["-showdocs=false"]).await;
    let browser = Browser::start().await;
    browser.open_homepage(&app.origin).await;

    assert!(!browser.exists("#docs").await, "no docs section");
    let page_text = browser.js("return document.body.innerText;", vec![]).await;
    let page_text = page_text.as_str().expect("text");
    assert!(!page_text.contains("curl"), "no curl example: {page_text}");
    assert!(
        !page_text.contains("uploadText"),
        "no JS example: {page_text}"
    );
    // The upload box itself stays.
    assert!(browser
        .find("#upload-textarea")
        .await
        .is_displayed()
        .await
        .expect("visible?"));
    assert_eq!(
        browser.js("return document.title;", vec![]).await,
        json!("LogPaste")
    );
    browser.close().await;
}

/// Behind a proxy the examples carry the URL people reach the proxy at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_use_the_proxys_url_in_proxy_mode() {
    let app = TestApp::spawn_behind_proxy().await;
    let html = reqwest::Client::new()
        .get(format!("{}/", app.origin))
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "logs.example.com")
        .send()
        .await
        .expect("GET /")
        .text()
        .await
        .expect("body");
    assert!(
        html.contains("curl -F 'f=@app.log' https://logs.example.com</code>"),
        "{html}"
    );
    assert!(
        html.contains("https://logs.example.com/static/js/logpaste.js"),
        "{html}"
    );
    assert!(
        !html.contains(&app.origin),
        "the internal address does not leak: {html}"
    );
}
