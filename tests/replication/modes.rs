//! docker_entrypoint.sh's run modes, each run for real, and the container's arguments
//! reaching the app unchanged in every one of them. PID 1 and the new PID namespace need
//! root (as CI runs); s6-overlay's /init is stood in for by a script that records its
//! PID, then runs our restore and launch helpers as the s6 services would.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::*;

const BUCKET: &str = "logpaste-modes";
const PATH: &str = "logpaste";
/// Quotes, `$`, backquotes, backslashes, globs, HTML and a newline: a shell or a naive
/// split would change some of it.
const FOOTER: &str = "<footer class=\"x\" data-y='z'>$HOME ${PATH} `id` $(id) \\ ; | & * ? \
[a] ~ {b,c} \"double\" 'single' it's</footer>\n<p>second\tline  with  spaces</p>";
const TITLE: &str = "A title  with spaces";

fn app_args() -> Vec<String> {
    ["-title", TITLE, "-footer", FOOTER]
        .iter()
        .map(|arg| arg.to_string())
        .collect()
}

async fn assert_arguments_arrived(stack: &Stack) {
    let page = http_client()
        .get(format!("{}/", stack.base_url))
        .send()
        .await
        .expect("GET /")
        .text()
        .await
        .expect("homepage");
    assert!(
        page.contains(FOOTER),
        "the footer reached the app byte for byte; page:\n{page}\nlog:\n{}",
        stack.process.log_text()
    );
    assert!(page.contains(TITLE), "the title reached the app:\n{page}");
}

/// Asserts that process `pid` runs the executable at `expected`. `/proc/PID/exe` shows the
/// path with every symlink resolved (a repository's `.venv` may be one), so `expected` is too.
fn assert_runs(pid: u32, expected: impl AsRef<std::path::Path>, what: &str) {
    let expected = expected.as_ref();
    let expected = fs::canonicalize(expected).unwrap_or_else(|_| expected.to_path_buf());
    let actual = fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
    assert_eq!(actual, expected, "{what}");
}

fn require_root(what: &str) {
    assert!(
        is_root(),
        "{what} needs root (unshare of a PID namespace); CI runs as root"
    );
}

/// The litestream-exec mode: the entrypoint stays (for the last sync after Litestream),
/// its child is Litestream, and Litestream's child is the app.
fn assert_litestream_runs_the_app(stack: &Stack) {
    let (litestream, app) = stack.litestream_and_app_pids();
    assert_runs(
        litestream,
        litestream_bin(),
        "the entrypoint runs Litestream",
    );
    assert_runs(app, APP_BIN, "Litestream runs the app as its child");
}

/// Stands in for s6-overlay's /init.
fn stub_init(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let pid_file = dir.join("init.pid");
    let init = dir.join("init");
    write_executable(
        &init,
        &format!(
            "#!/bin/sh\nset -eu\necho \"$$\" > '{}'\nlogpaste-restore\nexec logpaste-launch\n",
            pid_file.display()
        ),
    );
    (init, pid_file)
}

async fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = fs::read_to_string(path) {
            if !text.trim().is_empty() {
                return text.trim().to_string();
            }
        }
        assert!(Instant::now() < deadline, "{} was written", path.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_replica_url_the_app_runs_alone_with_a_loud_warning() {
    let dir = temp_dir();
    let mut config = StackConfig::new(&dir.path().join("data"), "unused");
    config.replica_url = None;
    config.mode = "auto";
    config.args = app_args();
    let mut stack = Stack::start(&config, "stack").await;
    assert_arguments_arrived(&stack).await;
    let log = stack.process.log_text();
    assert!(
        log.contains("WARNING: DB_REPLICA_URL is not set: replication is OFF"),
        "{log}"
    );
    assert_runs(
        stack.process.pid(),
        APP_BIN,
        "the entrypoint became the app itself",
    );
    assert!(
        stack.stop().await.success(),
        "the app stops cleanly on SIGTERM"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_litestream_exec_fallback_passes_the_arguments_unchanged() {
    let dir = temp_dir();
    let moto = Moto::start(dir.path()).await;
    moto.create_bucket(BUCKET).await;
    let mut config = StackConfig::new(&dir.path().join("data"), &moto.replica_url(BUCKET, PATH));
    config.args = app_args();
    let mut stack = Stack::start(&config, "stack").await;
    assert_arguments_arrived(&stack).await;
    assert_litestream_runs_the_app(&stack);
    assert!(
        stack.stop().await.success(),
        "SIGTERM stops Litestream and the app cleanly"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_litestream_exec_fallback_an_app_that_fails_fails_the_container() {
    let dir = temp_dir();
    let moto = Moto::start(dir.path()).await;
    moto.create_bucket(BUCKET).await;
    let mut config = StackConfig::new(&dir.path().join("data"), &moto.replica_url(BUCKET, PATH));
    // The app refuses this flag with exit code 2; Litestream reports a failed child as 1.
    config.args = vec!["-maxsize".to_string(), "not-a-number".to_string()];
    let mut stack = Stack::spawn(&config, "stack");
    let status = stack.process.wait_exit(Duration::from_secs(30)).await;
    let log = stack.process.log_text();
    assert!(log.contains("logpaste: error:"), "the app said why:\n{log}");
    assert_eq!(status.code(), Some(1), "Litestream's exit code:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_pid_1_and_no_namespaces_allowed_falls_back_to_litestream_exec() {
    let dir = temp_dir();
    make_world_writable(dir.path());
    let moto = Moto::start(dir.path()).await;
    moto.create_bucket(BUCKET).await;
    let data_dir = dir.path().join("data");
    fs::create_dir(&data_dir).expect("data dir");
    make_world_writable(&data_dir);

    let mut config = StackConfig::new(&data_dir, &moto.replica_url(BUCKET, PATH));
    config.mode = "auto";
    config.args = app_args();
    let mut stack = if is_root() {
        // Root may always unshare; an unprivileged user may not, as on Heroku.
        let wrapper = [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
        ];
        Stack::start_wrapped(&config, "stack", &wrapper).await
    } else {
        Stack::start(&config, "stack").await
    };
    assert_arguments_arrived(&stack).await;
    let log = stack.process.log_text();
    assert!(log.contains("no PID namespace allowed"), "{log}");
    assert_litestream_runs_the_app(&stack);
    assert!(stack.stop().await.success(), "a clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_pid_1_the_entrypoint_hands_over_to_s6_overlay_init() {
    require_root("PID 1 mode");
    let dir = temp_dir();
    make_world_writable(dir.path());
    let moto = Moto::start(dir.path()).await;
    moto.create_bucket(BUCKET).await;
    let (init, pid_file) = stub_init(dir.path());
    let data_dir = dir.path().join("data");

    let mut config = StackConfig::new(&data_dir, &moto.replica_url(BUCKET, PATH));
    config.mode = "auto";
    config.args = app_args();
    config.env.push(("S6_INIT", init.display().to_string()));
    // The image runs the app unprivileged: check that here too.
    config
        .env
        .push(("LOGPASTE_USER", "65534:65534".to_string()));
    // As `docker run` starts it: the entrypoint is PID 1 of its own namespace.
    let wrapper = ["unshare", "--pid", "--fork", "--mount-proc", "--"];
    let mut stack = Stack::spawn_wrapped(&config, "stack", &wrapper);
    stack.wait_healthy().await;
    assert_arguments_arrived(&stack).await;
    assert_eq!(wait_for_file(&pid_file).await, "1", "/init runs as PID 1");
    let log = stack.process.log_text();
    assert!(log.contains("PID 1: handing over to s6-overlay"), "{log}");

    let app = first_child(stack.process.pid()).expect("the namespace's first process");
    assert_runs(app, APP_BIN, "/init became the app (stand-in)");
    let status = fs::read_to_string(format!("/proc/{app}/status")).expect("app status");
    assert!(
        status
            .lines()
            .any(|line| line.starts_with("Uid:") && line.contains("65534")),
        "the app runs as LOGPASTE_USER:\n{status}"
    );
    let owner = Command::new("stat")
        .args(["-c", "%u"])
        .arg(&stack.db_path)
        .output()
        .expect("stat");
    assert_eq!(
        String::from_utf8_lossy(&owner.stdout).trim(),
        "65534",
        "its database too"
    );

    // `docker stop` signals the whole container; the app shuts down cleanly.
    stack.process.signal_group("TERM");
    let status = stack.process.wait_exit(Duration::from_secs(30)).await;
    assert!(
        status.success(),
        "clean exit: {status}\n{}",
        stack.process.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_pid_1_init_runs_as_pid_1_of_a_new_namespace_and_hears_stop_signals() {
    require_root("the PID namespace mode");
    let dir = temp_dir();
    let moto = Moto::start(dir.path()).await;
    moto.create_bucket(BUCKET).await;
    let (init, pid_file) = stub_init(dir.path());

    let mut config = StackConfig::new(&dir.path().join("data"), &moto.replica_url(BUCKET, PATH));
    config.mode = "auto";
    config.args = app_args();
    config.env.push(("S6_INIT", init.display().to_string()));
    let mut stack = Stack::start(&config, "stack").await;
    assert_arguments_arrived(&stack).await;
    assert_eq!(wait_for_file(&pid_file).await, "1", "/init runs as PID 1");
    let log = stack.process.log_text();
    assert!(log.contains("PID 1 of a new PID namespace"), "{log}");

    // Fly.io signals only the entrypoint, and unshare(1) keeps signals to itself: the
    // entrypoint must pass SIGINT on to the namespace's init.
    stack.process.signal("INT");
    let status = stack.process.wait_exit(Duration::from_secs(30)).await;
    assert!(
        status.success(),
        "init stopped cleanly: {status}\n{}",
        stack.process.log_text()
    );
    let log = stack.process.log_text();
    assert!(
        log.contains("stop signal received"),
        "the app heard the stop:\n{log}"
    );

    // The app's exit code is the container's.
    let _ = fs::remove_file(&pid_file);
    let mut config = StackConfig::new(&dir.path().join("data-2"), &moto.replica_url(BUCKET, PATH));
    config.mode = "auto";
    config.args = vec!["-maxsize".to_string(), "not-a-number".to_string()];
    config.env.push(("S6_INIT", init.display().to_string()));
    let mut failing = Stack::spawn(&config, "stack-failing");
    let status = failing.process.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(
        status.code(),
        Some(2),
        "exit code 2 comes through:\n{}",
        failing.process.log_text()
    );
}

fn owner(path: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    fs::symlink_metadata(path)
        .unwrap_or_else(|_| panic!("{} exists", path.display()))
        .uid()
}

/// As root, logpaste-as-user hands the app's user what the app and Litestream write, and
/// nothing else: the database's folder may be shared with other files (a volume's root,
/// `/tmp`) that must keep their owners.
#[test]
fn the_app_user_is_handed_the_database_files_and_nothing_else_in_their_folder() {
    require_root("changing owners");
    let dir = temp_dir();
    make_world_writable(dir.path());
    let shared = dir.path().join("shared");
    fs::create_dir(&shared).expect("create folder");
    // What an image that ran as root (LogPaste's) leaves behind, beside other files.
    let db_path = shared.join("store.db");
    for (path, contents) in [
        (db_path.clone(), "db"),
        (shared.join("store.db-wal"), "wal"),
        (shared.join("root-secret"), "secret"),
    ] {
        fs::write(&path, contents).expect("write file");
    }
    fs::set_permissions(
        shared.join("root-secret"),
        fs::Permissions::from_mode(0o600),
    )
    .expect("chmod");
    fs::create_dir_all(shared.join(".store.db-litestream/ltx")).expect("create folder");
    fs::create_dir(shared.join("other-app")).expect("create folder");
    fs::write(shared.join("other-app/config"), "x").expect("write file");
    std::os::unix::fs::chown(shared.join("other-app/config"), Some(1234), Some(1234))
        .expect("chown");

    let run_as_app_user = |db_path: &Path, script: &str| {
        Command::new(repo_path("rootfs/usr/local/bin/logpaste-as-user"))
            .args(["sh", "-c", script])
            .env_clear()
            .env("PATH", script_path(&[]))
            .env("DB_PATH", db_path)
            .env("LOGPASTE_USER", "65534:65534")
            .output()
            .expect("run logpaste-as-user")
    };
    let secret = shared.join("root-secret");
    let output = run_as_app_user(
        &db_path,
        &format!("id -u; cat '{}' || echo unreadable", secret.display()),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout.lines().collect::<Vec<_>>(), ["65534", "unreadable"]);

    for path in [
        shared.clone(),
        db_path.clone(),
        shared.join("store.db-wal"),
        shared.join(".store.db-litestream"),
        shared.join(".store.db-litestream/ltx"),
    ] {
        assert_eq!(owner(&path), 65534, "{} is the app user's", path.display());
    }
    assert_eq!(owner(&secret), 0, "other files keep their owner");
    assert_eq!(owner(&shared.join("other-app")), 0);
    assert_eq!(owner(&shared.join("other-app/config")), 1234);

    // A folder everybody may write in (/tmp) stays as it is.
    let sticky = dir.path().join("sticky");
    fs::create_dir(&sticky).expect("create folder");
    fs::set_permissions(&sticky, fs::Permissions::from_mode(0o1777)).expect("chmod");
    let output = run_as_app_user(&sticky.join("store.db"), "id -u");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(owner(&sticky), 0, "a shared folder keeps its owner");
}

/// Runs the entrypoint with one setting changed; `LOGPASTE_RUN_MODE=none` is not a mode,
/// so an entrypoint that accepts the settings stops right after checking them.
fn entrypoint_with(name: &'static str, value: &str) -> (Option<i32>, String) {
    let mut env = vec![
        ("DB_PATH", "/nonexistent/store.db".to_string()),
        ("DB_REPLICA_URL", "s3://bucket/logpaste".to_string()),
        ("LOGPASTE_RUN_MODE", "none".to_string()),
    ];
    env.retain(|(existing, _)| *existing != name);
    env.push((name, value.to_string()));
    let output = container_command(&repo_path("docker_entrypoint.sh"), &env)
        .output()
        .expect("run the entrypoint");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}

/// A bad Litestream setting stops the container before anything runs, with one line that
/// names it (and never shows a credential), instead of a YAML error and "cannot restore".
#[test]
fn a_bad_litestream_setting_stops_the_start_with_one_line_naming_it() {
    let refused: &[(&'static str, &str, &str)] = &[
        (
            "DB_SYNC_INTERVAL",
            "abc",
            "DB_SYNC_INTERVAL='abc' is not a duration",
        ),
        (
            "DB_SYNC_INTERVAL",
            "10",
            "DB_SYNC_INTERVAL='10' is not a duration",
        ),
        (
            "DB_SYNC_INTERVAL",
            "-1s",
            "DB_SYNC_INTERVAL='-1s' is not a duration",
        ),
        (
            "DB_SYNC_INTERVAL",
            "0s",
            "DB_SYNC_INTERVAL='0s' must be more than 0",
        ),
        (
            "DB_SYNC_INTERVAL",
            "1s\n2s",
            "DB_SYNC_INTERVAL contains a line break",
        ),
        (
            "DB_REPLICA_URL",
            "my-bucket/logpaste",
            "DB_REPLICA_URL must start with a scheme",
        ),
        (
            "DB_REPLICA_URL",
            "https://s3.example.com/b",
            "does not know the scheme 'https'",
        ),
        (
            "DB_REPLICA_URL",
            "AKIASHOWN:secret@bucket/p",
            "must start with a scheme",
        ),
        (
            "DB_REPLICA_URL",
            "s3://bucket/it's",
            "DB_REPLICA_URL contains a '",
        ),
        (
            "LITESTREAM_SECRET_ACCESS_KEY",
            "se'cret-SHOWN",
            "LITESTREAM_SECRET_ACCESS_KEY contains a '",
        ),
        (
            "LITESTREAM_ACCESS_KEY_ID",
            "AKIA\nSHOWN",
            "LITESTREAM_ACCESS_KEY_ID contains a '",
        ),
        (
            "LITESTREAM_REGION",
            "eu'west",
            "LITESTREAM_REGION contains a '",
        ),
        (
            "LITESTREAM_ENDPOINT",
            "https://x'y",
            "LITESTREAM_ENDPOINT contains a '",
        ),
    ];
    for (name, value, expected) in refused {
        let (code, stderr) = entrypoint_with(name, value);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(code, Some(2), "{name}={value:?}: {stderr}");
        assert_eq!(lines.len(), 1, "{name}={value:?}: one line: {stderr}");
        assert!(
            lines[0].contains(expected),
            "{name}={value:?}: says {expected:?}: {stderr}"
        );
        assert!(!stderr.contains("SHOWN"), "no credential in {stderr}");
    }

    let accepted: &[(&'static str, &str)] = &[
        ("DB_SYNC_INTERVAL", "1s"),
        ("DB_SYNC_INTERVAL", "500ms"),
        ("DB_SYNC_INTERVAL", "1m30s"),
        ("DB_SYNC_INTERVAL", "1.5s"),
        ("DB_SYNC_INTERVAL", "+1s"),
        ("DB_SYNC_INTERVAL", "1500000\u{3bc}s"),
        ("DB_SYNC_INTERVAL", "1500000\u{b5}s"),
        ("DB_SYNC_INTERVAL", ""),
        (
            "DB_REPLICA_URL",
            "s3://bucket/logpaste?endpoint=http://127.0.0.1:9000",
        ),
        ("DB_REPLICA_URL", "file:///var/backups/logpaste"),
        ("DB_REPLICA_URL", "gs://bucket/logpaste"),
        ("DB_REPLICA_URL", "abs://account@container/logpaste"),
        ("DB_REPLICA_URL", "S3://bucket/logpaste"),
        ("DB_REPLICA_URL", "file:/var/backups/logpaste"),
        (
            "LITESTREAM_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        ),
    ];
    for (name, value) in accepted {
        let (code, stderr) = entrypoint_with(name, value);
        assert!(
            code == Some(2) && stderr.contains("unknown LOGPASTE_RUN_MODE 'none'"),
            "{name}={value:?} passes the checks: {stderr}"
        );
    }
}

/// LogPaste's Cloud Run guide replicates to `gcs://BUCKET/db`, Litestream 0.3's name for
/// Google Cloud Storage; Litestream 0.5 knows only `gs://`. The entrypoint takes the old
/// name and hands Litestream (and the restore) the new one, instead of refusing to start.
#[test]
fn a_logpaste_gcs_replica_url_is_handed_to_litestream_as_gs() {
    for (given, expected) in [
        ("gcs://my-bucket/db", "gs://my-bucket/db"),
        ("GCS://my-bucket/db", "gs://my-bucket/db"),
        ("gs://my-bucket/db", "gs://my-bucket/db"),
    ] {
        // Mode s6 execs S6_INIT with the environment the services would get: print it.
        let env = vec![
            ("DB_PATH", "/nonexistent/store.db".to_string()),
            ("DB_REPLICA_URL", given.to_string()),
            ("LOGPASTE_RUN_MODE", "s6".to_string()),
            ("S6_INIT", "/usr/bin/env".to_string()),
        ];
        let output = container_command(&repo_path("docker_entrypoint.sh"), &env)
            .output()
            .expect("run the entrypoint");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{given}: accepted: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout
                .lines()
                .any(|line| line == format!("DB_REPLICA_URL={expected}")),
            "{given}: Litestream gets {expected}: {stdout}"
        );
    }
}

/// An existing system folder is never handed to the app user (a mistaken `DB_PATH` such
/// as /var/lib/store.db), while a folder made for the database, even under /var/lib, is.
/// Run in a mount namespace of its own, over a tmpfs: the host's /var/lib is not touched,
/// whatever the script does.
#[test]
fn a_system_folder_is_refused_and_a_folder_made_for_the_database_is_handed_over() {
    require_root("mount namespaces");
    let script = "set -u
        mount -t tmpfs -o mode=0755 tmpfs /var/lib
        DB_PATH=/var/lib/store.db logpaste-as-user true; echo \"refused=$?\"
        stat -c 'owner=%u' /var/lib
        DB_PATH=/var/lib/logpaste/store.db logpaste-as-user true; echo \"made=$?\"
        stat -c 'owner=%u' /var/lib/logpaste";
    let output = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", script])
        .env_clear()
        .env("PATH", script_path(&[]))
        .env("LOGPASTE_USER", "65534:65534")
        .output()
        .expect("run unshare");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["refused=1", "owner=0", "made=0", "owner=65534"],
        "{stderr}"
    );
    assert!(
        stderr.contains("refusing to hand the system folder /var/lib"),
        "{stderr}"
    );
}

/// Stand-ins for Litestream and the app in the `litestream-exec` mode, each writing a line
/// to its own file for every SIGTERM it receives. The Litestream stand-in does on a stop
/// what Litestream 0.5 does: it passes its first signal on to the app, and exits once the
/// app has exited; every other command (the restore) succeeds at once. The app stand-in
/// stops a second after its first SIGTERM, as the app finishes its requests.
struct SignalRecorders {
    env: Vec<(&'static str, String)>,
    litestream_signals: std::path::PathBuf,
    app_signals: std::path::PathBuf,
}

fn signal_recorders(dir: &Path) -> SignalRecorders {
    let litestream_signals = dir.join("litestream-signals");
    let app_signals = dir.join("app-signals");
    let litestream = dir.join("litestream-stand-in");
    write_executable(
        &litestream,
        &format!(
            r#"#!/bin/sh
[ "$1" = replicate ] || exit 0
while [ "$#" -gt 1 ] && [ "$1" != -exec ]; do shift; done
forwarded=0
on_term() {{
  echo TERM >> '{log}'
  if [ "$forwarded" = 0 ]; then forwarded=1; kill -TERM "$app" 2>/dev/null; fi
}}
trap on_term TERM
$2 &
app=$!
while kill -0 "$app" 2>/dev/null; do wait "$app"; done
"#,
            log = litestream_signals.display()
        ),
    );
    let app = dir.join("app-stand-in");
    write_executable(
        &app,
        &format!(
            "#!/bin/sh\ntrap 'echo TERM >> \"{log}\"; sleep 1; exit 0' TERM\n\
             echo 'app stand-in running'\nwhile :; do sleep 0.1; done\n",
            log = app_signals.display()
        ),
    );
    SignalRecorders {
        env: vec![
            ("LITESTREAM_BIN", litestream.display().to_string()),
            ("LOGPASTE_BIN", app.display().to_string()),
        ],
        litestream_signals,
        app_signals,
    }
}

fn signals_received(file: &Path) -> usize {
    fs::read_to_string(file)
        .map(|text| text.lines().count())
        .unwrap_or(0)
}

async fn spawn_with_recorders(dir: &Path) -> (Stack, SignalRecorders) {
    let recorders = signal_recorders(dir);
    let mut config = StackConfig::new(&dir.join("data"), "s3://logpaste-modes/recorders");
    config.env = recorders.env.clone();
    let stack = Stack::spawn(&config, "stack");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !stack.process.log_text().contains("app stand-in running") {
        assert!(
            Instant::now() < deadline,
            "the app stand-in never started:\n{}",
            stack.process.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (stack, recorders)
}

/// Starts the stack with the signal-recording stand-ins, stops it with SIGTERM (to every
/// process of the group, as Heroku does, or to the entrypoint alone), checks the stop was
/// clean, and returns the signals Litestream and the app received, and the log.
async fn clean_stop_counting_signals(to_every_process: bool) -> (usize, usize, String) {
    let dir = temp_dir();
    let (mut stack, recorders) = spawn_with_recorders(dir.path()).await;
    if to_every_process {
        stack.process.signal_group("TERM");
    } else {
        stack.process.signal("TERM");
    }
    let status = stack.process.wait_exit(Duration::from_secs(30)).await;
    let log = stack.process.log_text();
    assert!(status.success(), "a clean stop: {status}\n{log}");
    (
        signals_received(&recorders.litestream_signals),
        signals_received(&recorders.app_signals),
        log,
    )
}

/// Heroku stops a dyno by sending SIGTERM to every process in it: the entrypoint,
/// Litestream and the app at once. Litestream takes a second signal as "skip the retries
/// of the final sync", so the entrypoint must not add one of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_sent_to_every_process_reaches_litestream_once_in_the_litestream_exec_fallback() {
    let (to_litestream, to_app, log) = clean_stop_counting_signals(true).await;
    assert_eq!(
        to_litestream, 1,
        "Litestream got only the platform's SIGTERM:\n{log}"
    );
    assert!(to_app >= 1, "{log}");
}

/// Where only the entrypoint hears the stop (`docker stop` with `--init`, another init as
/// PID 1), it stops the app; Litestream sees the app exit and stops by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_sent_to_the_entrypoint_alone_stops_the_app_and_then_litestream() {
    let (to_litestream, to_app, log) = clean_stop_counting_signals(false).await;
    assert_eq!(to_app, 1, "the entrypoint stopped the app:\n{log}");
    assert_eq!(
        to_litestream, 0,
        "Litestream stopped because the app did, with no signal:\n{log}"
    );
}
