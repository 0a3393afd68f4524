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

const CSS: &str = "text/css";
const STYLED: &str = "rgb(1, 2, 3)";

/// What a footer loads from a plain-http server on the LAN: a stylesheet, an image, and
/// an endpoint its script reports to (the way analytics scripts send their beacons).
fn footer_assets() -> Vec<(&'static str, &'static str, String)> {
    vec![
        (
            "site.css",
            CSS,
            format!("#footer-styled {{ color: {STYLED}; }}"),
        ),
        (
            "logo.svg",
            "image/svg+xml",
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"></svg>"#.into(),
        ),
        ("beacon", "text/plain", "beacon received".into()),
    ]
}

/// Runs `fetch(url)` in the page: the response's text, or "failed: ..." if refused.
async fn fetch_in_page(browser: &Browser, url: &str) -> String {
    browser
        .js_async(
            "const [url, done] = arguments;\
             fetch(url).then((r) => r.text()).then(done, (e) => done('failed: ' + e));",
            vec![json!(url)],
        )
        .await
        .as_str()
        .expect("a string")
        .to_string()
}

async fn color_of(browser: &Browser, css: &str) -> String {
    browser
        .js(
            "return getComputedStyle(document.querySelector(arguments[0])).color;",
            vec![json!(css)],
        )
        .await
        .as_str()
        .expect("a color")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn footer_loads_what_it_names_from_a_plain_http_origin() {
    let lan = OtherOrigin::serve_files(&footer_assets());
    let unnamed = OtherOrigin::serve_files(&footer_assets());
    let footer = format!(
        "<link rel=\"stylesheet\" href=\"{lan}/site.css\">\
         <p id=\"footer-styled\">Acme</p><img id=\"footer-logo\" src=\"{lan}/logo.svg\" alt=\"\">\
         <script>fetch(\"{lan}/beacon\").then((r) => r.text()).then(\
           (t) => {{ document.body.dataset.beacon = t; }},\
           (e) => {{ document.body.dataset.beacon = \"failed: \" + e; }});</script>",
        lan = lan.origin
    );
    let app = TestApp::spawn(&["-footer", &footer]).await;
    let browser = Browser::start().await;
    browser.open_homepage(&app.origin).await;
    wait_loaded(&browser).await;

    let beacon = browser
        .wait_for("document.body.dataset.beacon", "the footer's beacon")
        .await;
    assert_eq!(beacon, json!("beacon received"));
    assert_eq!(color_of(&browser, "#footer-styled").await, STYLED);
    assert_eq!(
        browser
            .js(
                "return document.getElementById('footer-logo').naturalWidth;",
                vec![]
            )
            .await,
        json!(20),
        "the footer's image loaded"
    );
    browser.assert_no_csp_violations().await;

    // A plain-http origin the footer does not name stays refused.
    let refused = fetch_in_page(&browser, &format!("{}/beacon", unnamed.origin)).await;
    assert!(refused.starts_with("failed: "), "{refused}");
    let violations = browser.csp_violations().await;
    assert!(
        violations
            .iter()
            .any(|v| v.contains("connect-src") && v.contains(&unnamed.origin)),
        "{violations:?}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_footer_nothing_from_elsewhere_runs_or_loads() {
    let other = OtherOrigin::serve_files(&[
        (
            "site.css",
            CSS,
            format!("#upload-hint {{ color: {STYLED}; }}"),
        ),
        ("beacon", "text/plain", "beacon received".into()),
        ("x.js", JS, "document.body.dataset.external = 'ran';".into()),
    ]);
    let app = TestApp::spawn(&[]).await;
    let browser = Browser::start().await;
    browser.open_homepage(&app.origin).await;
    browser.assert_no_csp_violations().await;

    let refused = fetch_in_page(&browser, &format!("{}/beacon", other.origin)).await;
    assert!(refused.starts_with("failed: "), "{refused}");

    // Elements added to the page: a stylesheet and a script from the other origin, and an
    // inline script; each reports when it has loaded or failed.
    let outcomes = browser
        .js_async(
            "const [origin, done] = arguments;\
             const settle = (el) => new Promise((resolve) => {\
               el.onload = () => resolve('loaded'); el.onerror = () => resolve('refused'); });\
             const link = document.createElement('link');\
             link.rel = 'stylesheet'; link.href = origin + '/site.css';\
             const script = document.createElement('script');\
             script.src = origin + '/x.js';\
             const waits = [settle(link), settle(script)];\
             document.head.append(link, script);\
             const inline = document.createElement('script');\
             inline.textContent = \"document.body.dataset.inline = 'ran';\";\
             document.head.append(inline);\
             Promise.all(waits).then(done);",
            vec![json!(other.origin)],
        )
        .await;
    assert_eq!(outcomes, json!(["refused", "refused"]));
    assert_ne!(color_of(&browser, "#upload-hint").await, STYLED);
    assert_eq!(body_data(&browser).await, json!({}), "no script ran");
    let violations = browser.csp_violations().await;
    let origin = &other.origin;
    for expected in [
        format!("connect-src blocked {origin}/beacon"),
        format!("style-src-elem blocked {origin}/site.css"),
        format!("script-src-elem blocked {origin}/x.js"),
        "script-src-elem blocked inline".to_string(),
    ] {
        assert!(
            violations.iter().any(|v| v.contains(&expected)),
            "no \"{expected}\" in {violations:?}"
        );
    }
    browser.close().await;
}
