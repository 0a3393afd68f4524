//! Headless Chromium driven through WebDriver: one chromedriver per test, on a port it
//! picks itself, in a process group of its own so that the browser it starts dies with it.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use tempfile::TempDir;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Generous bounds: a loaded 2-core machine starts a browser slowly.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_GRACE: Duration = Duration::from_secs(5);
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Runs before every page's own scripts, outside the page's CSP: records each
/// Content-Security-Policy violation the page causes.
const CSP_RECORDER: &str = r#"
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    event.effectiveDirective + " blocked " + (event.blockedURI || "(inline)") +
    " in " + event.sourceFile + ":" + event.lineNumber
  );
});
"#;

/// The chromedriver process (and, through its process group, the Chromium it starts).
struct ChromeDriver {
    child: Child,
    port: u16,
}

impl ChromeDriver {
    /// Starts chromedriver on a port of its choosing. Even with `--port=0` it sometimes exits
    /// at once with "bind() failed: Address already in use ... IPv4 port not available"
    /// (seen once in a full run, the other tests' servers taking ports meanwhile): it binds
    /// its two address families one after the other, on one number. A new one picks again.
    fn start() -> ChromeDriver {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(tool).exists(),
                "{tool} is missing: run scripts/setup (it installs Debian's chromium and chromium-driver)"
            );
        }
        const ATTEMPTS: usize = 5;
        for _ in 0..ATTEMPTS {
            if let Some(driver) = ChromeDriver::try_start() {
                return driver;
            }
        }
        panic!("chromedriver exited before taking a port, {ATTEMPTS} times in a row");
    }

    /// One start: `None` when chromedriver exited without reporting a port.
    fn try_start() -> Option<ChromeDriver> {
        let mut child = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // A group of its own: dropping the guard ends chromedriver and every browser
            // process it started, by the group's id, even after a failed test. (Debian's
            // Chromium also starts crash handlers in sessions of their own; they watch the
            // browser and exit with it.)
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let stdout = child.stdout.take().expect("chromedriver stdout is piped");
        let (port_tx, port_rx) = mpsc::channel();
        // Keeps reading so chromedriver never blocks on a full pipe; the sender is dropped
        // when chromedriver's stdout closes, that is when it exits.
        std::thread::spawn(move || {
            let mut port_tx = Some(port_tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line
                    .split("started successfully on port ")
                    .nth(1)
                    .and_then(|rest| rest.trim_end_matches('.').trim().parse::<u16>().ok())
                {
                    if let Some(tx) = port_tx.take() {
                        let _ = tx.send(port);
                    }
                }
                eprintln!("chromedriver: {line}");
            }
        });
        let mut driver = ChromeDriver { child, port: 0 };
        match port_rx.recv_timeout(DRIVER_START_TIMEOUT) {
            Ok(port) => {
                driver.port = port;
                Some(driver)
            }
            // Dropping `driver` reaps the exited process and anything it left.
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("chromedriver did not report its port within {DRIVER_START_TIMEOUT:?}")
            }
        }
    }

    fn signal_group(&self, signal: &str) {
        // Negative id: the whole process group that chromedriver leads.
        let _ = Command::new("kill")
            .args(["-s", signal, "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        self.signal_group("TERM");
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Whatever is left of the group (a browser child that ignored TERM) is killed.
        self.signal_group("KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A WebDriver command chromedriver adds: run a Chrome DevTools Protocol command.
#[derive(Debug)]
struct DevToolsCommand {
    method: String,
    params: Value,
}

impl WebDriverCompatibleCommand for DevToolsCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": self.method, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// Chromedriver's (Selenium-style) log endpoint: the browser console's messages.
#[derive(Debug)]
struct BrowserLogCommand;

impl WebDriverCompatibleCommand for BrowserLogCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

pub struct Browser {
    pub client: Client,
    // Dropped after the client: the profile folder outlives the browser that uses it.
    driver: ChromeDriver,
    _profile: TempDir,
}

impl Browser {
    /// A fresh headless Chromium with an empty profile, recording CSP violations.
    pub async fn start() -> Browser {
        let driver = ChromeDriver::start();
        let profile = tempfile::tempdir().expect("create a browser profile folder");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-quic",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("capabilities are a JSON object")
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .expect("start a Chromium session through chromedriver");
        let browser = Browser {
            client,
            driver,
            _profile: profile,
        };
        browser
            .devtools(
                "Page.addScriptToEvaluateOnNewDocument",
                json!({ "source": CSP_RECORDER }),
            )
            .await;
        browser
    }

    /// Ends the WebDriver session (Chromium exits), then chromedriver.
    pub async fn close(self) {
        let Browser {
            client,
            driver,
            _profile,
        } = self;
        if let Err(err) = client.close().await {
            eprintln!("closing the browser session failed: {err}");
        }
        drop(driver);
    }

    pub async fn devtools(&self, method: &str, params: Value) -> Value {
        self.client
            .issue_cmd(DevToolsCommand {
                method: method.to_string(),
                params,
            })
            .await
            .unwrap_or_else(|err| panic!("DevTools command {method} failed: {err}"))
    }

    /// Captures the whole page (not only the viewport) as PNG, writes it to
    /// `test-artifacts/FILE_NAME` for people to look at, and returns the PNG's bytes.
    pub async fn save_screenshot(&self, file_name: &str) -> Vec<u8> {
        let size = self
            .js(
                "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight];",
                vec![],
            )
            .await;
        let answer = self
            .devtools(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": { "x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1 },
                }),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(answer["data"].as_str().expect("PNG data"))
            .expect("base64 PNG");
        let path = super::artifacts_dir().join(file_name);
        std::fs::write(&path, &png).expect("write the screenshot");
        eprintln!("screenshot: {}", path.display());
        png
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|err| panic!("open {url}: {err}"));
    }

    /// Opens the homepage and waits until its script has set the page up.
    pub async fn open_homepage(&self, origin: &str) {
        self.goto(&format!("{origin}/")).await;
        self.wait_for(
            "document.getElementById('upload-file-button').hidden === true",
            "the homepage script to start",
        )
        .await;
    }

    /// Runs `body` as a function body in the page (`arguments` holds `args`).
    pub async fn js(&self, body: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(body, args)
            .await
            .unwrap_or_else(|err| panic!("script failed: {err}\n{body}"))
    }

    /// Runs `body` in the page; it finishes by calling `arguments[arguments.length - 1]`.
    pub async fn js_async(&self, body: &str, args: Vec<Value>) -> Value {
        self.client
            .execute_async(body, args)
            .await
            .unwrap_or_else(|err| panic!("async script failed: {err}\n{body}"))
    }

    /// Polls a JavaScript expression until it is truthy, and returns its value.
    pub async fn wait_for(&self, expression: &str, what: &str) -> Value {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        let script = format!("return ({expression});");
        loop {
            let value = self.js(&script, vec![]).await;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
                Value::String(s) => !s.is_empty(),
                Value::Array(_) | Value::Object(_) => true,
            };
            if truthy {
                return value;
            }
            if Instant::now() >= deadline {
                let page = self
                    .js(
                        "return document.body ? document.body.innerText : ''",
                        vec![],
                    )
                    .await;
                panic!("timed out after {WAIT_TIMEOUT:?} waiting for {what} ({expression}); page text:\n{page}");
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("find {css}: {err}"))
    }

    /// Types `text` into the element matching `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.find(css)
            .await
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    /// Chooses the file at `path` in the page's file input, as if picked in the dialog
    /// (WebDriver sets a file input's file from a path).
    pub async fn choose_file(&self, path: impl AsRef<std::path::Path>) {
        let path = path.as_ref();
        self.find("#upload-file")
            .await
            .send_keys(&path.display().to_string())
            .await
            .unwrap_or_else(|e| panic!("choosing {}: {e}", path.display()));
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    pub async fn text(&self, css: &str) -> String {
        let value = self
            .js(
                "const el = document.querySelector(arguments[0]); return el ? el.textContent : null;",
                vec![json!(css)],
            )
            .await;
        match value {
            Value::String(text) => text,
            other => panic!("no element {css} (got {other})"),
        }
    }

    pub async fn exists(&self, css: &str) -> bool {
        self.js(
            "return document.querySelector(arguments[0]) !== null;",
            vec![json!(css)],
        )
        .await
            == json!(true)
    }

    /// Waits for the homepage's error line and returns its text.
    pub async fn wait_for_error_line(&self) -> String {
        self.wait_for(
            "document.getElementById('form-upload-error').textContent",
            "the error line",
        )
        .await
        .as_str()
        .expect("textContent is a string")
        .to_string()
    }

    /// Waits for the shareable link and returns (href, shown text).
    pub async fn wait_for_result_link(&self) -> (String, String) {
        let link = self
            .wait_for(
                "(() => { const a = document.querySelector('#result a');\
                  return a ? [a.href, a.textContent] : null; })()",
                "the shareable link in #result",
            )
            .await;
        (
            link[0].as_str().expect("href").to_string(),
            link[1].as_str().expect("text").to_string(),
        )
    }

    /// What the page's CSP refused, seen two ways: `securitypolicyviolation` events and
    /// the console messages Chromium writes for them.
    pub async fn csp_violations(&self) -> Vec<String> {
        let mut violations: Vec<String> = match self
            .js("return window.__cspViolations || null;", vec![])
            .await
        {
            Value::Array(items) => items.iter().map(|v| v.to_string()).collect(),
            other => panic!("the CSP recorder did not run in this page (got {other})"),
        };
        let log = self
            .client
            .issue_cmd(BrowserLogCommand)
            .await
            .expect("read the browser console log");
        for entry in log.as_array().into_iter().flatten() {
            let message = entry["message"].as_str().unwrap_or_default();
            if message.contains("Content Security Policy") {
                violations.push(format!("console: {message}"));
            }
        }
        violations
    }

    pub async fn assert_no_csp_violations(&self) {
        let violations = self.csp_violations().await;
        assert!(
            violations.is_empty(),
            "the page broke its Content-Security-Policy:\n{}",
            violations.join("\n")
        );
    }
}

/// The id at the end of a paste URL, checked to be LogPaste's 8 characters.
pub fn paste_id(url: &str, origin: &str) -> String {
    let id = url
        .strip_prefix(&format!("{origin}/"))
        .unwrap_or_else(|| panic!("{url} is not a paste URL under {origin}"));
    assert!(
        id.len() == 8 && id.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{url} does not end in an 8-character id"
    );
    id.to_string()
}
