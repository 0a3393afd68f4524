//! Keyboard and screen-reader use: labels, live regions, focus order, Ctrl+Enter, and the
//! copy-link button (clipboard API and its fallback).

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use serde_json::json;

use crate::support::{Browser, TestApp};

async fn press_tab(browser: &Browser) -> String {
    let tab = KeyActions::new("keyboard".into())
        .then(KeyAction::Down {
            value: Key::Tab.into(),
        })
        .then(KeyAction::Up {
            value: Key::Tab.into(),
        });
    browser
        .client
        .perform_actions(tab)
        .await
        .expect("press Tab");
    browser
        .js(
            "return document.activeElement.id || document.activeElement.tagName;",
            vec![],
        )
        .await
        .as_str()
        .expect("an id")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controls_are_labelled_and_reachable_in_order_by_keyboard() {
    let app = TestApp::spawn(&[]).await;
    let browser = Browser::start().await;
    browser.open_homepage(&app.origin).await;

    // Every visible control has an accessible name from a label or its own text.
    let unnamed = browser
        .js(
            "return Array.from(document.querySelectorAll('textarea, input, button'))\
               .filter((el) => el.offsetParent !== null)\
               .filter((el) => {\
                 const labels = el.labels ? Array.from(el.labels).map((l) => l.textContent.trim()) : [];\
                 const own = el.tagName === 'BUTTON' ? el.textContent.trim() : '';\
                 return labels.concat([own]).every((name) => name === '');\
               })\
               .map((el) => el.id);",
            vec![],
        )
        .await;
    assert_eq!(unnamed, json!([]), "controls without an accessible name");
    assert_eq!(
        browser.text("label[for=upload-textarea]").await,
        "Text to share"
    );
    let live = browser
        .js(
            "const r = document.getElementById('result'), e = document.getElementById('form-upload-error');\
             return [r.getAttribute('role'), r.getAttribute('aria-live'), e.getAttribute('role')];",
            vec![],
        )
        .await;
    assert_eq!(live, json!(["status", "polite", "alert"]));

    // Tab order follows the page: text box, Upload, file picker.
    browser.js("document.activeElement.blur();", vec![]).await;
    assert_eq!(press_tab(&browser).await, "upload-textarea");
    assert_eq!(press_tab(&browser).await, "upload");
    assert_eq!(press_tab(&browser).await, "upload-file");

    // Typing and Ctrl+Enter uploads without the mouse; then the link and its copy button
    // come next in the tab order.
    browser.click("#upload-textarea").await;
    let keys = format!("typed by keyboard{}{}", Key::Control, Key::Enter);
    browser.type_into("#upload-textarea", &keys).await;
    let (href, _) = browser.wait_for_result_link().await;
    let id = crate::support::paste_id(&href, &app.origin);
    assert_eq!(app.paste_bytes(&id).await, b"typed by keyboard");
    assert_eq!(
        browser
            .js("return document.activeElement.id;", vec![])
            .await,
        json!("upload-textarea"),
        "focus stays where the user was"
    );
    assert_eq!(press_tab(&browser).await, "upload");
    assert_eq!(press_tab(&browser).await, "upload-file");
    assert_eq!(press_tab(&browser).await, "result-link");
    assert_eq!(press_tab(&browser).await, "copy-link");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_button_puts_the_link_on_the_clipboard_with_or_without_the_clipboard_api() {
    let app = TestApp::spawn(&[]).await;
    let browser = Browser::start().await;
    browser
        .devtools(
            "Browser.grantPermissions",
            json!({
                "origin": app.origin,
                "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"],
            }),
        )
        .await;
    browser.open_homepage(&app.origin).await;
    browser.type_into("#upload-textarea", "copy me").await;
    browser.click("#upload").await;
    let (href, _) = browser.wait_for_result_link().await;

    const READ_CLIPBOARD: &str = "const done = arguments[arguments.length - 1];\
        (window.__clipboardApi || navigator.clipboard).readText()\
          .then(done, (error) => done('read failed: ' + error.message));";
    const CLEAR_CLIPBOARD: &str = "const done = arguments[arguments.length - 1];\
        (window.__clipboardApi || navigator.clipboard).writeText('')\
          .then(() => done(true), (error) => done('clear failed: ' + error.message));";

    // Through navigator.clipboard.
    assert_eq!(browser.js_async(CLEAR_CLIPBOARD, vec![]).await, json!(true));
    browser.click("#copy-link").await;
    browser
        .wait_for(
            "document.getElementById('copy-link').textContent === 'Copied'",
            "the copy confirmation",
        )
        .await;
    assert_eq!(browser.js_async(READ_CLIPBOARD, vec![]).await, json!(href));

    // Through the fallback, as in a browser without the clipboard API.
    assert_eq!(browser.js_async(CLEAR_CLIPBOARD, vec![]).await, json!(true));
    browser
        .js(
            "window.__clipboardApi = navigator.clipboard;\
             Object.defineProperty(Navigator.prototype, 'clipboard', { get: () => undefined, configurable: true });\
             const button = document.getElementById('copy-link'); button.textContent = 'Copy link';",
            vec![],
        )
        .await;
    assert_eq!(
        browser
            .js("return navigator.clipboard === undefined;", vec![])
            .await,
        json!(true)
    );
    browser.click("#copy-link").await;
    browser
        .wait_for(
            "document.getElementById('copy-link').textContent === 'Copied'",
            "the copy confirmation",
        )
        .await;
    assert_eq!(browser.js_async(READ_CLIPBOARD, vec![]).await, json!(href));
    assert_eq!(
        browser
            .js("return document.activeElement.id;", vec![])
            .await,
        json!("copy-link"),
        "focus is back on the button after the fallback's scratch field"
    );
    browser.close().await;
}
