//! The operator's branding: title and subtitle shown as text, footer HTML rendered as HTML
//! (its inline scripts allowed by the page's Content-Security-Policy, by hash).

use serde_json::json;

use crate::support::{Browser, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn branding_shows_and_a_script_in_the_title_is_only_text() {
    let title = r#"Acme Logs </title><script>window.__titleScriptRan = true; document.title = "pwned";</script>"#;
    let subtitle = r#"Upload <b>device</b> logs & "diagnostics" for Acme support"#;
    let footer = r#"<p id="operator-footer">Run by <a href="https://support.example.com/">Acme support</a></p><script>document.getElementById("operator-footer").dataset.scriptRan = "yes";</script>"#;
    // Go's spelling of the flags, as LogPaste's operators write them.
    let app = TestApp::spawn(&["-title", title, "-subtitle", subtitle, "-footer", footer]).await;
    let browser = Browser::start().await;
    browser.open_homepage(&app.origin).await;

    // Title and subtitle: shown exactly as given, as text.
    assert_eq!(browser.text("h1").await, title);
    assert_eq!(
        browser.js("return document.title;", vec![]).await,
        json!(title)
    );
    assert_eq!(browser.text("#subtitle").await, subtitle);
    assert!(
        !browser.exists("header script").await,
        "no script element came from the title"
    );
    assert!(
        !browser.exists("#subtitle b").await,
        "the subtitle's markup is text"
    );
    assert_eq!(
        browser
            .js("return typeof window.__titleScriptRan;", vec![])
            .await,
        json!("undefined"),
        "the title's script never ran"
    );

    // Footer: the operator's HTML renders, and its inline script ran.
    assert_eq!(
        browser.text("footer #operator-footer a").await,
        "Acme support"
    );
    assert_eq!(
        browser
            .js("return document.querySelector('footer a').href;", vec![])
            .await,
        json!("https://support.example.com/")
    );
    assert_eq!(
        browser
            .js(
                "return document.getElementById('operator-footer').dataset.scriptRan || null;",
                vec![]
            )
            .await,
        json!("yes"),
        "the footer's inline script ran"
    );
    browser.assert_no_csp_violations().await;
    browser.close().await;
}

/// The page's CSP allows the footer's `<script>` blocks but not inline event-handler
/// attributes: operators must attach handlers from a script. This also shows that the
/// suite's CSP check sees violations when there are some.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn footer_event_handler_attributes_are_blocked_and_reported() {
    let footer = r#"<img id="footer-logo" src="/favicon.ico" alt="Acme" onload="document.title = 'handler ran'">"#;
    let app = TestApp::spawn(&["--footer", footer]).await;
    let browser = Browser::start().await;
    browser.open_homepage(&app.origin).await;

    browser
        .wait_for(
            "(() => { const img = document.getElementById('footer-logo');\
              return img.complete && img.naturalWidth > 0; })()",
            "the footer's image to render",
        )
        .await;
    browser
        .wait_for(
            "window.__cspViolations.length > 0",
            "the blocked onload handler to be reported",
        )
        .await;
    assert_eq!(
        browser.js("return document.title;", vec![]).await,
        json!("LogPaste")
    );
    let violations = browser.csp_violations().await;
    assert!(
        violations.iter().any(|v| v.contains("script-src-attr")),
        "expected a script-src-attr violation, got {violations:?}"
    );
    assert!(
        violations.iter().any(|v| v.starts_with("console: ")),
        "Chromium's console reported it too: {violations:?}"
    );
    browser.close().await;
}
