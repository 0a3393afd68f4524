//! What every replication test needs: the real tools at their repository paths, a
//! moto S3 server on a free port, the container's entrypoint run on this host, HTTP
//! helpers, and process guards that kill whatever a test started, by PID.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const REPO: &str = env!("CARGO_MANIFEST_DIR");
pub const APP_BIN: &str = env!("CARGO_BIN_EXE_logpaste");
/// The credentials moto accepts (any) and that Litestream is given.
pub const ACCESS_KEY: &str = "logpaste-test-key";
pub const SECRET_KEY: &str = "logpaste-test-secret";
/// The app's default upload limit: 2 MiB.
pub const MAX_PASTE_BYTES: usize = 2 * 1024 * 1024;

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(REPO).join(relative)
}

/// A tool that scripts/setup installs; a missing one fails the test with the fix.
pub fn tool(relative: &str) -> PathBuf {
    let path = repo_path(relative);
    assert!(
        path.is_file(),
        "missing {}: run scripts/setup to install the test tools",
        path.display()
    );
    path
}

pub fn litestream_bin() -> PathBuf {
    tool(".venv/bin/litestream")
}

pub fn legacy_litestream_bin() -> PathBuf {
    tool(".tools/litestream-legacy/bin/litestream")
}

pub fn system_tool(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
        let path = Path::new(dir).join(name);
        if path.is_file() {
            return path;
        }
    }
    panic!("missing {name}: run scripts/setup to install the Debian packages the tests need");
}

pub fn is_root() -> bool {
    let output = Command::new("id").arg("-u").output().expect("run id -u");
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

/// A port for a server the test starts: nobody listens on it, and neither the kernel nor
/// another test will hand it out meanwhile (see tests/common/ports.rs).
pub fn free_port() -> u16 {
    crate::ports::free_port()
}

/// A directory the test owns; made world-writable when a test drops privileges.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("logpaste-replication-")
        .tempdir()
        .expect("create a temporary directory")
}

pub fn make_world_writable(dir: &Path) {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o777)).expect("chmod 0777");
}

pub fn write_executable(path: &Path, contents: &str) {
    fs::write(path, contents).expect("write script");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod 0755");
}

/// Sends a signal with the shell's `kill` builtin (no libc binding needed).
/// `target` is a PID, or `-PGID` for a whole process group.
pub fn send_signal(signal: &str, target: &str) -> bool {
    Command::new("/bin/sh")
        .args(["-c", "kill -s \"$0\" -- \"$1\" 2>/dev/null", signal, target])
        .status()
        .map(|status| status.success())
        .unwrap_or(false)
}

/// A process started by a test in a process group of its own. Dropping it kills the
/// whole group with SIGKILL, so nothing a test started outlives it.
pub struct ProcessGroup {
    child: Child,
    name: String,
    log: PathBuf,
    status: Option<ExitStatus>,
}

impl ProcessGroup {
    pub fn spawn(mut command: Command, name: &str, log: &Path) -> ProcessGroup {
        let out = File::create(log).expect("create log file");
        let err = out.try_clone().expect("clone log file");
        command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = command
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {name}: {err}"));
        ProcessGroup {
            child,
            name: name.to_string(),
            log: log.to_path_buf(),
            status: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: &str) {
        send_signal(signal, &self.pid().to_string());
    }

    pub fn signal_group(&self, signal: &str) {
        send_signal(signal, &format!("-{}", self.pid()));
    }

    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("poll child");
        }
        self.status
    }

    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            if Instant::now() > deadline {
                panic!(
                    "{} did not exit within {limit:?}; its log:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log_text(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = File::open(&self.log) {
            let mut bytes = Vec::new();
            let _ = file.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        const TAIL: usize = 12_000;
        if text.len() > TAIL {
            let mut start = text.len() - TAIL;
            while !text.is_char_boundary(start) {
                start += 1;
            }
            text = format!("[...]\n{}", &text[start..]);
        }
        text
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.signal_group("KILL");
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A moto S3 server on 127.0.0.1, in memory, owned by one test.
pub struct Moto {
    pub port: u16,
    process: ProcessGroup,
    http: reqwest::Client,
}

impl Moto {
    pub async fn start(dir: &Path) -> Moto {
        let port = free_port();
        let mut command = Command::new(tool(".venv/bin/moto_server"));
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env_remove("AWS_CA_BUNDLE");
        let mut process = ProcessGroup::spawn(command, "moto_server", &dir.join("moto.log"));
        let http = http_client();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http
                .get(format!("http://127.0.0.1:{port}/"))
                .send()
                .await
                .is_ok();
            if ready {
                break;
            }
            if process.exited().is_some() || Instant::now() > deadline {
                panic!(
                    "moto_server did not start; its log:\n{}",
                    process.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Moto {
            port,
            process,
            http,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn create_bucket(&self, bucket: &str) {
        let response = self
            .http
            .put(format!("{}/{bucket}", self.endpoint()))
            .send()
            .await
            .expect("create bucket");
        assert_eq!(response.status(), 200, "create bucket {bucket}");
    }

    /// The replica URL with the endpoint in its query, as an operator may write it.
    pub fn replica_url(&self, bucket: &str, path: &str) -> String {
        format!("s3://{bucket}/{path}?endpoint={}", self.endpoint())
    }

    /// Object keys under `prefix`, read straight from the bucket listing.
    pub async fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let body = self
            .http
            .get(format!(
                "{}/{bucket}?list-type=2&prefix={prefix}",
                self.endpoint()
            ))
            .send()
            .await
            .expect("list bucket")
            .text()
            .await
            .expect("bucket listing body");
        body.split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split("</Key>").next())
            .map(str::to_string)
            .collect()
    }

    /// Stops the server in its tracks (SIGSTOP), keeping its in-memory buckets.
    pub fn freeze(&self) {
        self.process.signal_group("STOP");
    }

    pub fn thaw(&self) {
        self.process.signal_group("CONT");
    }
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .no_proxy()
        .build()
        .expect("http client")
}

/// Shell-quotes arguments the way docker_entrypoint.sh stores them in LOGPASTE_ARGS.
pub fn shell_quote(args: &[&str]) -> String {
    args.iter()
        .map(|arg| format!("'{}'", arg.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// PATH for the container's scripts on this host: the image's helpers first, then
/// any stand-ins a test provides, then the system.
pub fn script_path(extra_dirs: &[&Path]) -> String {
    let mut dirs = vec![repo_path("rootfs/usr/local/bin").display().to_string()];
    dirs.extend(extra_dirs.iter().map(|dir| dir.display().to_string()));
    dirs.push("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string());
    dirs.join(":")
}

/// The environment the image gives the entrypoint, pointed at this host's binaries.
/// Everything else is cleared: in particular AWS_CA_BUNDLE, which breaks Litestream's
/// custom endpoints.
pub fn container_command(program: &Path, env: &[(&str, String)]) -> Command {
    let mut command = Command::new(program);
    command.env_clear();
    command.env("PATH", script_path(&[]));
    command.env("LOGPASTE_BIN", APP_BIN);
    command.env("LITESTREAM_BIN", litestream_bin());
    command.env("LITESTREAM_CONFIG", repo_path("litestream.yml"));
    command.env("LITESTREAM_ACCESS_KEY_ID", ACCESS_KEY);
    command.env("LITESTREAM_SECRET_ACCESS_KEY", SECRET_KEY);
    command.env("LP_HOST", "127.0.0.1");
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

/// One running "container": docker_entrypoint.sh and everything it started.
pub struct Stack {
    pub process: ProcessGroup,
    pub base_url: String,
    pub db_path: PathBuf,
}

pub struct StackConfig {
    pub data_dir: PathBuf,
    pub replica_url: Option<String>,
    pub mode: &'static str,
    pub args: Vec<String>,
    pub env: Vec<(&'static str, String)>,
}

impl StackConfig {
    pub fn new(data_dir: &Path, replica_url: &str) -> StackConfig {
        StackConfig {
            data_dir: data_dir.to_path_buf(),
            replica_url: Some(replica_url.to_string()),
            mode: "litestream-exec",
            args: Vec::new(),
            env: Vec::new(),
        }
    }
}

impl Stack {
    /// Starts the entrypoint without waiting for the app.
    pub fn spawn(config: &StackConfig, log_name: &str) -> Stack {
        Stack::spawn_wrapped(config, log_name, &[])
    }

    /// Starts the entrypoint under `wrapper` (e.g. `unshare --pid --fork --`), as a
    /// platform would start the container.
    pub fn spawn_wrapped(config: &StackConfig, log_name: &str, wrapper: &[&str]) -> Stack {
        let port = free_port();
        let db_path = config.data_dir.join("store.db");
        let mut env = vec![
            ("PORT", port.to_string()),
            ("DB_PATH", db_path.display().to_string()),
            ("LOGPASTE_RUN_MODE", config.mode.to_string()),
        ];
        if let Some(url) = &config.replica_url {
            env.push(("DB_REPLICA_URL", url.clone()));
        }
        env.extend(config.env.iter().cloned());
        let entrypoint = repo_path("docker_entrypoint.sh");
        let mut command = match wrapper.split_first() {
            None => container_command(&entrypoint, &env),
            Some((program, args)) => {
                let mut command = container_command(&system_tool(program), &env);
                command.args(args).arg(&entrypoint);
                command
            }
        };
        command.args(&config.args);
        let log = config
            .data_dir
            .parent()
            .expect("data dir has a parent")
            .join(format!("{log_name}.log"));
        Stack {
            process: ProcessGroup::spawn(command, log_name, &log),
            base_url: format!("http://127.0.0.1:{port}"),
            db_path,
        }
    }

    pub async fn start_wrapped(config: &StackConfig, log_name: &str, wrapper: &[&str]) -> Stack {
        let mut stack = Stack::spawn_wrapped(config, log_name, wrapper);
        stack.wait_healthy().await;
        stack
    }

    pub async fn start(config: &StackConfig, log_name: &str) -> Stack {
        let mut stack = Stack::spawn(config, log_name);
        stack.wait_healthy().await;
        stack
    }

    /// Waits until Litestream has shipped the database to a bucket path that was empty:
    /// replication is under way. (Not needed before a clean stop: the stop's last sync
    /// covers writes made at any time; see tests/replication/stop.rs.)
    pub async fn wait_replicating(&self, moto: &Moto, bucket: &str, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !moto
            .keys(bucket, &format!("{path}/"))
            .await
            .iter()
            .any(|key| key.ends_with(".ltx"))
        {
            if Instant::now() > deadline {
                panic!(
                    "Litestream never wrote to {bucket}/{path}; the stack's log:\n{}",
                    self.process.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait_healthy(&mut self) {
        let http = http_client();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = http.get(format!("{}/healthz", self.base_url)).send().await {
                if response.status() == 200 {
                    return;
                }
            }
            if let Some(status) = self.process.exited() {
                panic!(
                    "the stack exited ({status}) before it became healthy; its log:\n{}",
                    self.process.log_text()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "the stack did not become healthy; its log:\n{}",
                    self.process.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `docker stop`: SIGTERM to the entrypoint's process, then wait for the exit.
    pub async fn stop(&mut self) -> ExitStatus {
        self.process.signal("TERM");
        self.process.wait_exit(Duration::from_secs(60)).await
    }

    /// In the litestream-exec mode: the PIDs of Litestream (the entrypoint's child) and of
    /// the app (Litestream's child).
    pub fn litestream_and_app_pids(&self) -> (u32, u32) {
        let litestream = first_child(self.process.pid()).expect("the entrypoint has a child");
        let app = first_child(litestream).expect("Litestream has a child");
        (litestream, app)
    }

    /// The host dies: SIGKILL to every process of the stack at once.
    pub fn kill_all(&mut self) {
        self.process.signal_group("KILL");
    }
}

pub async fn put_paste(http: &reqwest::Client, base_url: &str, body: Vec<u8>) -> String {
    let response = http
        .put(format!("{base_url}/"))
        .body(body)
        .send()
        .await
        .expect("PUT /");
    assert_eq!(response.status(), 200, "PUT / answers 200");
    let json: serde_json::Value = response.json().await.expect("PUT answers JSON");
    json["id"].as_str().expect("an id").to_string()
}

pub async fn get_paste(http: &reqwest::Client, base_url: &str, id: &str) -> (u16, Vec<u8>) {
    let response = http
        .get(format!("{base_url}/{id}"))
        .send()
        .await
        .expect("GET /<id>");
    let status = response.status().as_u16();
    (status, response.bytes().await.expect("body").to_vec())
}

pub async fn assert_serves(http: &reqwest::Client, stack: &Stack, pastes: &[(String, Vec<u8>)]) {
    for (id, body) in pastes {
        let (status, served) = get_paste(http, &stack.base_url, id).await;
        assert!(
            status == 200 && served == *body,
            "paste {id} must come back byte-identical: status {status}, {} bytes sent, {} \
             served; the stack's log:\n{}",
            body.len(),
            served.len(),
            stack.process.log_text()
        );
    }
}

/// Deterministic bytes (xorshift), so failures reproduce.
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// The ids in the replica right now: Litestream restores it to a scratch file, which
/// the sqlite3 CLI reads. None if nothing could be restored yet.
pub fn replica_ids(replica_url: &str, scratch: &Path) -> Option<Vec<String>> {
    let _ = fs::remove_file(scratch);
    let restored = Command::new(litestream_bin())
        .env_remove("AWS_CA_BUNDLE")
        .env("LITESTREAM_ACCESS_KEY_ID", ACCESS_KEY)
        .env("LITESTREAM_SECRET_ACCESS_KEY", SECRET_KEY)
        .args(["restore", "-o"])
        .arg(scratch)
        .arg(replica_url)
        .output()
        .expect("run litestream restore");
    if !restored.status.success() || !scratch.is_file() {
        return None;
    }
    let listed = Command::new(system_tool("sqlite3"))
        .arg(scratch)
        .arg("SELECT id FROM entries ORDER BY id;")
        .output()
        .expect("run sqlite3");
    assert!(listed.status.success(), "sqlite3 reads the restored copy");
    Some(
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

/// `wait_replicated` for pastes kept as (id, body) pairs.
pub async fn wait_pastes_replicated(
    replica_url: &str,
    scratch: &Path,
    pastes: &[(String, Vec<u8>)],
    limit: Duration,
) {
    let ids: Vec<String> = pastes.iter().map(|(id, _)| id.clone()).collect();
    wait_replicated(replica_url, scratch, &ids, limit).await;
}

/// Waits until the replica holds every id in `ids` (replication caught up).
pub async fn wait_replicated(replica_url: &str, scratch: &Path, ids: &[String], limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let url = replica_url.to_string();
        let path = scratch.to_path_buf();
        let present = tokio::task::spawn_blocking(move || replica_ids(&url, &path))
            .await
            .expect("restore task");
        let missing: Vec<&String> = match &present {
            Some(present) => ids.iter().filter(|id| !present.contains(id)).collect(),
            None => ids.iter().collect(),
        };
        if missing.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            panic!("the replica still lacks {missing:?} after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The PID (outside the namespace) of the first child of `parent`. Each thread lists
/// the children it forked, and a Go program (Litestream) forks from any thread.
pub fn first_child(parent: u32) -> Option<u32> {
    let tasks = fs::read_dir(format!("/proc/{parent}/task")).ok()?;
    let mut children: Vec<u32> = tasks
        .filter_map(Result::ok)
        .filter_map(|task| fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect();
    children.sort_unstable();
    children.first().copied()
}
