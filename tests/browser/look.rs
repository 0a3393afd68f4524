//! How the homepage looks: screenshots in light and dark mode and on a phone, written to
//! `test-artifacts/` for people to look at, with checks that dark mode really is dark and
//! that nothing overflows a phone's width.

use serde_json::{json, Value};

use crate::support::{Browser, TestApp};

const PHONE_WIDTH: u32 = 390;
const PHONE_HEIGHT: u32 = 844;

struct Screenshot {
    width: u32,
    height: u32,
    rgba: Vec<u8>,
}

impl Screenshot {
    fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let at = ((y * self.width + x) * 4) as usize;
        [self.rgba[at], self.rgba[at + 1], self.rgba[at + 2]]
    }
}

/// Captures the whole page, writes it to `test-artifacts/`, and decodes it.
async fn capture(browser: &Browser, file_name: &str) -> Screenshot {
    decode_png(&browser.save_screenshot(file_name).await)
}

fn decode_png(bytes: &[u8]) -> Screenshot {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buffer = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buffer).expect("PNG frame");
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "8-bit screenshot");
    let rgba = match info.color_type {
        png::ColorType::Rgba => buffer[..info.buffer_size()].to_vec(),
        png::ColorType::Rgb => buffer[..info.buffer_size()]
            .chunks(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    Screenshot {
        width: info.width,
        height: info.height,
        rgba,
    }
}

/// `rgb(20, 23, 28)` -> [20, 23, 28].
fn parse_rgb(css: &Value) -> [u8; 3] {
    let css = css.as_str().expect("a CSS colour");
    let numbers: Vec<u8> = css
        .trim_start_matches("rgba(")
        .trim_start_matches("rgb(")
        .trim_end_matches(')')
        .split(',')
        .take(3)
        .map(|n| n.trim().parse().expect("a colour channel"))
        .collect();
    [numbers[0], numbers[1], numbers[2]]
}

/// Relative luminance, 0 (black) to 1 (white).
fn luminance([r, g, b]: [u8; 3]) -> f64 {
    let linear = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
}

async fn computed(browser: &Browser, css: &str, property: &str) -> Value {
    browser
        .js(
            "return getComputedStyle(document.querySelector(arguments[0]))[arguments[1]];",
            vec![json!(css), json!(property)],
        )
        .await
}

async fn emulate_color_scheme(browser: &Browser, scheme: &str) {
    browser
        .devtools(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
        )
        .await;
    let expected = format!("(prefers-color-scheme: {scheme})");
    browser
        .wait_for(
            &format!("window.matchMedia({expected:?}).matches"),
            "the emulated colour scheme",
        )
        .await;
}

/// Checks the screenshot's background and text against the page's computed colours and
/// returns the background's luminance.
async fn check_colours(browser: &Browser, shot: &Screenshot, scheme: &str) -> (f64, f64) {
    let background = parse_rgb(&computed(browser, "body", "backgroundColor").await);
    let text = parse_rgb(&computed(browser, "body", "color").await);
    // The top-left corner is bare page background in every layout.
    assert_eq!(
        shot.pixel(2, 2),
        background,
        "{scheme} screenshot's background matches the page's computed background"
    );
    assert!(
        shot.height > 200 && shot.width > 300,
        "a real page was captured"
    );
    (luminance(background), luminance(text))
}

/// A realistic page: branded, with a link just uploaded, and the docs below.
async fn branded_page_with_a_link() -> (TestApp, Browser) {
    let app = TestApp::spawn(&[
        "-title",
        "Acme Device Logs",
        "-subtitle",
        "Share your device's diagnostic logs with Acme support",
        "-footer",
        r#"<p>Acme Corp · <a href="https://support.example.com/">Support</a> · <a href="https://example.com/privacy">Privacy</a></p>"#,
    ])
    .await;
    let browser = Browser::start().await;
    browser.open_homepage(&app.origin).await;
    browser.type_into("#upload-textarea", "2024-05-01T12:00:00Z INFO  boot complete\n2024-05-01T12:00:03Z ERROR fan 2 stuck at 0 rpm").await;
    browser.click("#upload").await;
    browser.wait_for_result_link().await;
    (app, browser)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn light_and_dark_screenshots_follow_prefers_color_scheme() {
    let (_app, browser) = branded_page_with_a_link().await;

    emulate_color_scheme(&browser, "light").await;
    let light = capture(&browser, "homepage-light.png").await;
    let (light_background, light_text) = check_colours(&browser, &light, "light").await;

    emulate_color_scheme(&browser, "dark").await;
    let dark = capture(&browser, "homepage-dark.png").await;
    let (dark_background, dark_text) = check_colours(&browser, &dark, "dark").await;

    assert!(
        light_background > 0.8,
        "light mode has a light background ({light_background})"
    );
    assert!(light_text < 0.1, "light mode has dark text ({light_text})");
    assert!(
        dark_background < 0.05,
        "dark mode has a dark background ({dark_background})"
    );
    assert!(dark_text > 0.6, "dark mode has light text ({dark_text})");
    // The text box follows too (it is where people read their log).
    let box_background =
        parse_rgb(&computed(&browser, "#upload-textarea", "backgroundColor").await);
    assert!(
        luminance(box_background) < 0.05,
        "the text box is dark in dark mode"
    );
    browser.assert_no_csp_violations().await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_layout_fits_the_screen() {
    let (_app, browser) = branded_page_with_a_link().await;
    browser
        .devtools(
            "Emulation.setDeviceMetricsOverride",
            json!({
                "width": PHONE_WIDTH,
                "height": PHONE_HEIGHT,
                "deviceScaleFactor": 1,
                "mobile": true,
            }),
        )
        .await;
    browser
        .wait_for(
            &format!("window.innerWidth === {PHONE_WIDTH}"),
            "the phone viewport",
        )
        .await;

    let shot = capture(&browser, "homepage-phone.png").await;
    assert_eq!(
        shot.width, PHONE_WIDTH,
        "nothing is wider than the phone's screen"
    );

    // Every control and the link fit within the screen's width.
    let overflowing = browser
        .js(
            "return ['#upload-textarea', '#upload', '#upload-file', '#result a', '#copy-link', 'pre', 'footer']\
               .filter((css) => Array.from(document.querySelectorAll(css)).some((el) => {\
                  const r = el.getBoundingClientRect();\
                  return r.left < 0 || r.right > window.innerWidth; }));",
            vec![],
        )
        .await;
    assert_eq!(overflowing, json!([]), "elements wider than the screen");
    // 16px text keeps phones from zooming in when the box is focused.
    assert_eq!(
        computed(&browser, "#upload-textarea", "fontSize").await,
        json!("16px")
    );
    // Buttons are big enough to tap.
    let upload_height = browser
        .js(
            "return document.getElementById('upload').getBoundingClientRect().height;",
            vec![],
        )
        .await;
    assert!(
        upload_height.as_f64().expect("height") >= 40.0,
        "tap target: {upload_height}"
    );
    browser.close().await;
}
