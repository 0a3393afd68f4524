//! Shared test helpers: `spawn_app()` starts the real server on 127.0.0.1:0 with its own
//! temporary SQLite file; `spawn_binary()` runs the compiled `logpaste` executable.
#![allow(dead_code)]

pub mod ports;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use logpaste::config::Config;
use logpaste::startup::Application;
use tempfile::TempDir;

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub db_path: PathBuf,
    pub client: reqwest::Client,
    handle: ServerHandle,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: Option<TempDir>,
}

#[derive(Default, Clone)]
pub struct AppOptions {
    /// Extra command-line flags, in any spelling the binary accepts.
    pub args: Vec<String>,
    pub behind_proxy: bool,
    pub replicated: bool,
    /// Use this database file instead of a fresh one in a temporary folder.
    pub db_path: Option<PathBuf>,
    /// Drop connections whose responses go unread this long (default: the app's own).
    pub send_stall_timeout: Option<Duration>,
}

impl AppOptions {
    pub fn args(args: &[&str]) -> Self {
        AppOptions {
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    let dir = options
        .db_path
        .is_none()
        .then(|| tempfile::tempdir().expect("temp dir"));
    let db_path = options
        .db_path
        .clone()
        .unwrap_or_else(|| dir.as_ref().expect("temp dir").path().join("data/store.db"));
    let mut argv: Vec<String> = vec![
        "logpaste".into(),
        "--host".into(),
        "127.0.0.1".into(),
        "--port".into(),
        "0".into(),
        "--db-path".into(),
        db_path.display().to_string(),
    ];
    argv.extend(options.args.iter().cloned());
    let mut config = match Config::parse_from_env(argv) {
        Ok(config) => config,
        Err(err) => panic!("test config rejected: {err:?}"),
    };
    config.behind_proxy = options.behind_proxy;
    config.replicated = options.replicated;
    if let Some(timeout) = options.send_stall_timeout {
        config.send_stall_timeout = timeout;
    }

    let app = Application::build(config).await.expect("app starts");
    let port = app.port();
    let handle = app.handle();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        db_path,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client"),
        handle,
        server: Some(server),
        _dir: dir,
    }
}

impl TestApp {
    pub async fn put(&self, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .put(format!("{}/", self.address))
            .body(body)
            .send()
            .await
            .expect("PUT sent")
    }

    /// PUTs and returns the new id, asserting success.
    pub async fn put_ok(&self, body: impl Into<reqwest::Body>) -> String {
        let response = self.put(body).await;
        assert_eq!(response.status(), 200);
        let json: serde_json::Value = response.json().await.expect("json body");
        json["id"].as_str().expect("id in response").to_string()
    }

    /// POSTs a multipart form to `/`.
    pub async fn post_form(&self, form: reqwest::multipart::Form) -> reqwest::Response {
        self.client
            .post(format!("{}/", self.address))
            .multipart(form)
            .send()
            .await
            .expect("POST sent")
    }

    /// POSTs a hand-made multipart body (boundary `XyZ`) to `/`: for forms a client
    /// library would refuse to build.
    pub async fn post_raw_form(&self, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(format!("{}/", self.address))
            .header("content-type", "multipart/form-data; boundary=XyZ")
            .body(body)
            .send()
            .await
            .expect("POST sent")
    }

    /// POSTs a form, asserts success, and returns what the new paste's link serves.
    pub async fn post_form_and_read_back(&self, form: reqwest::multipart::Form) -> Vec<u8> {
        self.read_back_link(self.post_form(form).await).await
    }

    /// POSTs a hand-written form (boundary `XyZ`), asserts success, and returns what the new
    /// paste's link serves.
    pub async fn post_raw_form_and_read_back(&self, body: impl Into<reqwest::Body>) -> Vec<u8> {
        self.read_back_link(self.post_raw_form(body).await).await
    }

    async fn read_back_link(&self, response: reqwest::Response) -> Vec<u8> {
        assert_eq!(response.status(), 200);
        let url = response.text().await.expect("link");
        let id = id_from_link(&url);
        self.get(&format!("/{id}"))
            .await
            .bytes()
            .await
            .expect("paste")
            .to_vec()
    }

    pub async fn head(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::HEAD, path).await
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::GET, path).await
    }

    async fn request(&self, method: reqwest::Method, path: &str) -> reqwest::Response {
        self.client
            .request(method.clone(), format!("{}{path}", self.address))
            .send()
            .await
            .unwrap_or_else(|err| panic!("{method} not sent: {err}"))
    }

    /// Stops the server gracefully and closes the database.
    pub async fn stop(mut self) {
        self.handle.stop(true).await;
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server ran");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// The id at the end of a link a POST answered with (`http://host/<id>\n`).
pub fn id_from_link(link: &str) -> String {
    link.trim_end()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A port for a child process to listen on: nobody listens on it, and neither the
/// kernel nor another test will hand it out meanwhile (see ports.rs).
pub fn free_port() -> u16 {
    ports::free_port()
}

/// The compiled `logpaste` binary running as a child process; killed on drop.
pub struct BinaryApp {
    pub child: Child,
    /// Where the server's stdout (its log) goes.
    pub log_path: PathBuf,
    pub port: u16,
    pub address: String,
    pub db_path: PathBuf,
}

impl BinaryApp {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The first log line `wanted` accepts, waiting up to 10 s for it: a request's line is
    /// written at the end of its worker's tick, a moment after the response went out.
    pub fn log_line(&self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if let Some(line) = log.lines().find(|line| wanted(line)) {
                return line.to_string();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no such line in the log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The homepage's HTML.
    pub async fn homepage(&self) -> String {
        reqwest::get(format!("{}/", self.address))
            .await
            .expect("GET / sent")
            .text()
            .await
            .expect("homepage text")
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// PUTs `body` as a paste.
    pub async fn put(&self, body: impl Into<reqwest::Body>) -> reqwest::Response {
        reqwest::Client::new()
            .put(format!("{}/", self.address))
            .body(body)
            .send()
            .await
            .expect("PUT sent")
    }

    /// Sends a signal to the server by its PID.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits (bounded) for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("logpaste did not exit within {limit:?}");
    }
}

impl Drop for BinaryApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn binary_command(db_path: &Path, port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_logpaste"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LP_HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("DB_PATH", db_path)
        .env("RUST_LOG", "info");
    command
}

/// Starts the binary and waits (bounded) until `/healthz` answers 200. Its log goes to
/// `logpaste.log` beside the database (appended, so restarts keep earlier lines).
pub async fn spawn_binary(command: Command, db_path: &Path, port: u16) -> BinaryApp {
    let log_path = db_path.with_file_name("logpaste.log");
    spawn_binary_logging_to(command, db_path, port, log_path).await
}

/// As `spawn_binary`, with the log appended to `log_path`.
pub async fn spawn_binary_logging_to(
    command: Command,
    db_path: &Path,
    port: u16,
    log_path: PathBuf,
) -> BinaryApp {
    spawn_binary_answering_at(command, db_path, port, log_path, "127.0.0.1").await
}

/// As `spawn_binary_logging_to`, for a server listening on `ip` (as a URL writes it:
/// `[::1]`) instead of 127.0.0.1.
pub async fn spawn_binary_answering_at(
    mut command: Command,
    db_path: &Path,
    port: u16,
    log_path: PathBuf,
    ip: &str,
) -> BinaryApp {
    if let Some(parent) = log_path.parent() {
        std::fs::create_dir_all(parent).expect("log folder");
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .expect("log file");
    let child = command
        .stdout(log)
        .stderr(Stdio::piped())
        .spawn()
        .expect("logpaste binary starts");
    let mut app = BinaryApp {
        child,
        log_path,
        port,
        address: format!("http://{ip}:{port}"),
        db_path: db_path.to_path_buf(),
    };
    wait_healthy(&mut app).await;
    app
}

async fn wait_healthy(app: &mut BinaryApp) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = app.child.try_wait() {
            let mut stderr = String::new();
            if let Some(pipe) = app.child.stderr.take() {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    stderr.push_str(&line);
                    stderr.push('\n');
                }
            }
            panic!("logpaste exited early with {status}: {stderr}");
        }
        if let Ok(response) = client.get(format!("{}/healthz", app.address)).send().await {
            if response.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("logpaste did not become healthy within 30 s");
}

/// Runs the binary to completion (it is expected to fail fast) and returns (code, stderr).
pub fn run_binary_to_exit(mut command: Command) -> (Option<i32>, String) {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("logpaste binary starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            let mut stderr = String::new();
            if let Some(pipe) = child.stderr.take() {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    stderr.push_str(&line);
                    stderr.push('\n');
                }
            }
            return (status.code(), stderr);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("logpaste kept running; expected it to stop at start-up");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `request` as it is on a fresh connection (no client normalises it first) and
/// returns the whole answer, read until the server closes (send `Connection: close`).
pub async fn raw_request(port: u16, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connects");
    stream.write_all(request).await.expect("request sent");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("answered within 10 s")
        .expect("answer read");
    String::from_utf8_lossy(&answer).into_owned()
}

/// Starts the command's child with this open-file limit (soft, hard), as `ulimit -n` would.
pub fn with_open_file_limit(command: &mut Command, soft: u64, hard: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe and touches only the child about to exec.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}

/// A client connected with a receive buffer of `buffer` bytes, set before it connects so
/// that the window it offers stays small; it has sent a GET for `id` and reads nothing yet.
pub async fn get_on_a_small_window(port: u16, id: &str, buffer: usize) -> tokio::net::TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(buffer).unwrap();
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    socket.connect(&address.into()).unwrap();
    socket.set_nonblocking(true).unwrap();
    let mut stream = tokio::net::TcpStream::from_std(socket.into()).unwrap();
    let request = format!("GET /{id} HTTP/1.1\r\nHost: x\r\n\r\n");
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes())
        .await
        .unwrap();
    stream
}

/// A `sqlite3` process holding the database's write lock (`BEGIN IMMEDIATE`) until
/// `release`: the writer then waits (up to 5 s) to commit, as behind a Litestream checkpoint.
pub struct WriteLockHolder {
    process: Child,
    commands: std::process::ChildStdin,
}

impl WriteLockHolder {
    /// Starts the holder and waits (at most 10 s) until it has the lock: it touches a
    /// marker file beside the database once its BEGIN IMMEDIATE has succeeded.
    pub async fn take(db: &Path) -> Self {
        use std::io::Write;
        let marker = db.with_file_name("lock-taken");
        let mut process = Command::new("sqlite3")
            .arg(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the sqlite3 CLI runs (scripts/setup installs it)");
        let mut commands = process.stdin.take().expect("sqlite3's stdin");
        writeln!(
            commands,
            "BEGIN IMMEDIATE;\n.shell touch '{}'",
            marker.display()
        )
        .expect("commands sent to sqlite3");
        commands.flush().expect("commands sent to sqlite3");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !marker.exists() {
            assert!(Instant::now() < deadline, "the lock holder did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { process, commands }
    }

    /// Lets the lock go and waits for the process to end.
    pub fn release(mut self) {
        use std::io::Write;
        writeln!(self.commands, "ROLLBACK;\n.quit").expect("commands sent to sqlite3");
        drop(self.commands);
        self.process.wait().expect("sqlite3 ended");
    }
}
