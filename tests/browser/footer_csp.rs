//! The homepage's Content-Security-Policy as Chromium enforces it: the operator's footer
//! scripts run however they are written, what a footer loads from elsewhere loads, and
//! without a footer nothing from elsewhere runs or loads.

use serde_json::{json, Value};

use crate::support::{Browser, OtherOrigin, TestApp};

const JS: &str = "text/javascript";

/// Waits until the page and everything it loads (footer scripts included) are done.
async fn wait_loaded(browser: &Browser) {
    browser
        .wait_for("document.readyState === 'complete'", "the page to load")
        .await;
}

async fn body_data(browser: &Browser) -> Value {
    browser
        .js("return Object.assign({}, document.body.dataset);", vec![])
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn footer_scripts_run_however_their_tags_are_written() {
    let other = OtherOrigin::serve_files(&[
        (
            "spaced.js",
            JS,
            "document.body.dataset.spacedSrc = 'ran';".into(),
        ),
        (
            "relative.js",
            JS,
            "document.body.dataset.protocolRelative = 'ran';".into(),
        ),
    ]);
    let protocol_relative = other
        .origin
        .strip_prefix("http:")
        .expect("the other origin is http");
    let footer = format!(
        "<script data-src=\"x\">document.body.dataset.dataSrc = 'ran';</script>\n\
         <script src = \"{other}/spaced.js\"></script>\n\
         <script data-note=\"a>b\">document.body.dataset.quotedGt = 'ran';</script>\n\
         <script src=\"{protocol_relative}/relative.js\"></script>\r\n\
         <script>\r\ndocument.body.dataset.crlf = 'ran';\r\n</script>\r\n\
         <script>\rdocument.body.dataset.loneCr = 'ran';\r</script>",
        other = other.origin
    );
    let app = TestApp::spawn(&["-footer", &footer]).await;
    let browser = Browser::start().await;
    browser.open_homepage(&app.origin).await;
    wait_loaded(&browser).await;

    assert_eq!(
        body_data(&browser).await,
        json!({
            "dataSrc": "ran",
            "spacedSrc": "ran",
            "quotedGt": "ran",
            "protocolRelative": "ran",
            "crlf": "ran",
            "loneCr": "ran",
        })
    );
    browser.assert_no_csp_violations().await;
    browser.close().await;
}
