//! Supervision: the s6-rc service tree checked statically, and its real run and finish
//! scripts run under Debian's s6-svscan. s6-rc and s6-overlay are not packaged here, so
//! only what s6-overlay alone provides is stood in for: `with-contenv` (which here keeps
//! the environment, as S6_KEEP_ENV=1 does), the container results folder and `halt`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use crate::harness::*;

pub const BUCKET: &str = "logpaste-supervision";
pub const PATH: &str = "logpaste";
/// Services that s6-overlay itself defines and ours may depend on.
const S6_OVERLAY_SERVICES: &[&str] = &["base"];

fn service_tree() -> PathBuf {
    repo_path("rootfs/etc/s6-overlay/s6-rc.d")
}

fn names_in(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|entry| {
                    entry
                        .expect("dir entry")
                        .file_name()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn assert_executable_sh_script(path: &Path) {
    let mode = fs::metadata(path)
        .unwrap_or_else(|_| panic!("{} exists", path.display()))
        .permissions()
        .mode();
    assert!(mode & 0o111 != 0, "{} is executable", path.display());
    let text = fs::read_to_string(path).expect("read script");
    assert!(
        text.starts_with("#!/bin/sh\n"),
        "{} is a /bin/sh script (so shellcheck covers it)",
        path.display()
    );
}

#[test]
fn the_s6_rc_service_tree_is_well_formed() {
    let tree = service_tree();
    let mut types = BTreeMap::new();
    for name in names_in(&tree) {
        let kind = fs::read_to_string(tree.join(&name).join("type"))
            .unwrap_or_else(|_| panic!("service {name} has a type file"));
        types.insert(name, kind.trim().to_string());
    }
    let known = |name: &str| types.contains_key(name) || S6_OVERLAY_SERVICES.contains(&name);

    for (name, kind) in &types {
        let dir = tree.join(name);
        match kind.as_str() {
            "oneshot" => {
                let up = fs::read_to_string(dir.join("up")).expect("a oneshot has an up file");
                let lines: Vec<&str> = up
                    .lines()
                    .map(str::trim)
                    .filter(|line| !line.is_empty() && !line.starts_with('#'))
                    .collect();
                assert_eq!(lines.len(), 1, "{name}/up is a single command line: {up:?}");
            }
            "longrun" => {
                assert_executable_sh_script(&dir.join("run"));
                if dir.join("finish").exists() {
                    assert_executable_sh_script(&dir.join("finish"));
                }
            }
            "bundle" => {
                for member in names_in(&dir.join("contents.d")) {
                    assert!(known(&member), "bundle {name} contains unknown {member}");
                }
            }
            other => panic!("service {name} has unknown type {other:?}"),
        }
        for dependency in names_in(&dir.join("dependencies.d")) {
            assert!(known(&dependency), "{name} depends on unknown {dependency}");
        }
    }

    assert_eq!(types.get("restore").map(String::as_str), Some("oneshot"));
    assert_eq!(types.get("litestream").map(String::as_str), Some("longrun"));
    assert_eq!(types.get("logpaste").map(String::as_str), Some("longrun"));
    assert_eq!(types.get("user").map(String::as_str), Some("bundle"));
    let user = names_in(&tree.join("user/contents.d"));
    for service in ["restore", "litestream", "logpaste"] {
        assert!(user.contains(service), "the user bundle starts {service}");
    }
    // Start order restore -> litestream -> logpaste; s6-rc stops in reverse, so the app
    // stops first and Litestream makes the final sync.
    let depends = |name: &str| names_in(&tree.join(name).join("dependencies.d"));
    assert!(depends("litestream").contains("restore"));
    assert!(depends("logpaste").contains("restore"));
    assert!(depends("logpaste").contains("litestream"));

    // Litestream's finish makes the last sync of a stop; s6-supervise kills a finish
    // script after timeout-finish (default 5 s), which must outlast the sync's own bound.
    assert!(
        tree.join("litestream/finish").is_file(),
        "litestream has a finish script"
    );
    let timeout_finish_ms: u64 = fs::read_to_string(tree.join("litestream/timeout-finish"))
        .expect("litestream/timeout-finish exists")
        .trim()
        .parse()
        .expect("timeout-finish is a number of milliseconds");
    let final_sync = fs::read_to_string(repo_path("rootfs/usr/local/bin/logpaste-final-sync"))
        .expect("read logpaste-final-sync");
    let default_limit_s: u64 = final_sync
        .split("LOGPASTE_FINAL_SYNC_TIMEOUT:-")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .and_then(|number| number.parse().ok())
        .expect("logpaste-final-sync has a default time limit");
    let kill_grace_s: u64 = final_sync
        .split("timeout -k ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .expect("logpaste-final-sync kills a hung Litestream after a grace time");
    assert!(
        timeout_finish_ms > (default_limit_s + kill_grace_s) * 1000,
        "timeout-finish ({timeout_finish_ms} ms) outlasts the last sync's bound \
         ({default_limit_s} s + {kill_grace_s} s)"
    );

    // No cycles.
    fn visit(tree: &Path, name: &str, path: &mut Vec<String>) {
        assert!(
            !path.contains(&name.to_string()),
            "dependency cycle: {path:?} -> {name}"
        );
        path.push(name.to_string());
        for dependency in names_in(&tree.join(name).join("dependencies.d")) {
            if !S6_OVERLAY_SERVICES.contains(&dependency.as_str()) {
                visit(tree, &dependency, path);
            }
        }
        path.pop();
    }
    for name in types.keys() {
        visit(&tree, name, &mut Vec::new());
    }
}

#[test]
fn the_dockerfile_pins_the_litestream_version_the_tests_run() {
    let dockerfile = fs::read_to_string(repo_path("Dockerfile")).expect("read Dockerfile");
    let pinned = dockerfile
        .lines()
        .find_map(|line| line.strip_prefix("ARG LITESTREAM_VERSION="))
        .expect("the Dockerfile pins LITESTREAM_VERSION");
    let output = Command::new(litestream_bin())
        .arg("version")
        .output()
        .expect("litestream version");
    let installed = String::from_utf8_lossy(&output.stdout).trim().to_string();
    assert_eq!(
        pinned,
        installed.trim_start_matches('v'),
        "image and tests run one Litestream"
    );
    let setup = fs::read_to_string(repo_path("scripts/setup")).expect("read scripts/setup");
    assert!(
        setup.contains(&format!("LITESTREAM_VERSION={pinned}")),
        "scripts/setup installs the Dockerfile's Litestream"
    );
}

/// A scan directory with our two longruns, as s6-rc would lay them out, and the stand-ins.
pub struct Supervised {
    pub scandir: PathBuf,
    pub results: PathBuf,
    pub base_url: String,
    pub svscan: ProcessGroup,
}

/// s6-supervise starts each service in a session of its own, out of the supervision tree's
/// process group: a test that fails before stopping the tree must not leave the app and
/// Litestream running. Kill them (and keep them down) before the tree goes.
impl Drop for Supervised {
    fn drop(&mut self) {
        if self.svscan.exited().is_some() {
            return;
        }
        for service in ["logpaste", "litestream"] {
            let _ = Command::new(system_tool("s6-svc"))
                .args(["-O", "-k", "--"])
                .arg(self.scandir.join(service))
                .output();
        }
    }
}

/// A scan directory holding our two longruns as s6-rc lays them out, the stand-ins for
/// what s6-overlay provides, and the environment variables that point our scripts at
/// them (the halt command and the container results folder).
struct ServiceTree {
    scandir: PathBuf,
    stubs: PathBuf,
    results: PathBuf,
    env: Vec<(&'static str, String)>,
}

fn lay_out_service_tree(dir: &Path) -> ServiceTree {
    let scandir = dir.join("scandir");
    let stubs = dir.join("s6-overlay-stubs");
    let results = dir.join("container-results");
    for folder in [&scandir, &stubs, &results, &scandir.join(".s6-svscan")] {
        fs::create_dir_all(folder).expect("create folder");
    }
    for service in ["litestream", "logpaste"] {
        let target = scandir.join(service);
        fs::create_dir(&target).expect("create service dir");
        // What s6-rc-compile copies into a longrun's service directory.
        for file in ["run", "finish", "timeout-finish", "timeout-kill"] {
            let source = service_tree().join(service).join(file);
            if source.exists() {
                fs::copy(&source, target.join(file)).expect("copy service file");
            }
        }
    }
    write_executable(&stubs.join("with-contenv"), "#!/bin/sh\nexec \"$@\"\n");
    write_executable(
        &stubs.join("halt"),
        &format!("#!/bin/sh\nexec s6-svscanctl -t '{}'\n", scandir.display()),
    );
    // s6-linux-init ends the container with the code in the results; so does this.
    write_executable(
        &scandir.join(".s6-svscan/finish"),
        &format!(
            "#!/bin/sh\ncode=$(cat '{}/exitcode' 2>/dev/null || echo 99)\nexit \"$code\"\n",
            results.display()
        ),
    );

    let env = vec![
        ("PATH", script_path(&[&stubs])),
        ("LOGPASTE_S6_HALT", stubs.join("halt").display().to_string()),
        ("LOGPASTE_S6_RESULTS_DIR", results.display().to_string()),
    ];
    ServiceTree {
        scandir,
        stubs,
        results,
        env,
    }
}

pub fn start_supervised(dir: &Path, moto: &Moto, app_args: &[&str], data_dir: &Path) -> Supervised {
    start_supervised_with(dir, moto, app_args, data_dir, &[])
}

/// As `start_supervised`, with more environment variables for every service.
pub fn start_supervised_with(
    dir: &Path,
    moto: &Moto,
    app_args: &[&str],
    data_dir: &Path,
    extra_env: &[(&'static str, String)],
) -> Supervised {
    let ServiceTree {
        scandir,
        results,
        env: tree_env,
        ..
    } = lay_out_service_tree(dir);
    let port = free_port();
    let mut env = vec![
        ("PORT", port.to_string()),
        ("DB_PATH", data_dir.join("store.db").display().to_string()),
        ("DB_REPLICA_URL", moto.replica_url(BUCKET, PATH)),
        ("DB_SYNC_INTERVAL", "1s".to_string()),
        ("LOGPASTE_ARGS", shell_quote(app_args)),
    ];
    env.extend(tree_env);
    env.extend(extra_env.iter().cloned());

    // The oneshot first, exactly as its up file says.
    let mut restore = container_command(&system_tool("execlineb"), &env);
    restore.arg("-P").arg(service_tree().join("restore/up"));
    let output = restore.output().expect("run the restore oneshot");
    assert!(
        output.status.success(),
        "the restore oneshot succeeds: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    let mut command = container_command(&system_tool("s6-svscan"), &env);
    command.arg(&scandir);
    let svscan = ProcessGroup::spawn(command, "s6-svscan", &dir.join("s6-svscan.log"));
    Supervised {
        scandir,
        results,
        base_url: format!("http://127.0.0.1:{port}"),
        svscan,
    }
}

fn service_pid(scandir: &Path, service: &str) -> Option<u32> {
    let output = Command::new(system_tool("s6-svstat"))
        .args(["-o", "pid"])
        .arg(scandir.join(service))
        .output()
        .ok()?;
    let pid: i64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .ok()?;
    (pid > 0).then_some(pid as u32)
}

async fn wait_service_pid(scandir: &Path, service: &str, not: Option<u32>) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(pid) = service_pid(scandir, service) {
            if Some(pid) != not {
                return pid;
            }
        }
        assert!(Instant::now() < deadline, "{service} is (re)started by s6");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `docker stop` as s6-overlay carries it out: its rc.shutdown runs `s6-rc -da change`,
/// which stops the services in reverse dependency order, each with `s6-svc -dwD`
/// (down, and wait until the finish script is done too): the app, then Litestream.
/// The app's finish script then ends the supervision tree with the app's code.
pub async fn stop_supervised(supervised: &mut Supervised) -> ExitStatus {
    for (service, limit_ms) in [("logpaste", "30000"), ("litestream", "60000")] {
        // Litestream's supervisor may already be gone: the app's finish halts the tree.
        let _ = Command::new(system_tool("s6-svc"))
            .args(["-dwD", "-T", limit_ms, "--"])
            .arg(supervised.scandir.join(service))
            .output()
            .expect("run s6-svc");
    }
    supervised.svscan.wait_exit(Duration::from_secs(60)).await
}

pub async fn wait_healthy(supervised: &mut Supervised) {
    let http = http_client();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = http
            .get(format!("{}/healthz", supervised.base_url))
            .send()
            .await
        {
            if response.status() == 200 {
                return;
            }
        }
        if Instant::now() > deadline || supervised.svscan.exited().is_some() {
            panic!(
                "the supervised app never became healthy:\n{}",
                supervised.svscan.log_text()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s6_restarts_litestream_and_the_app_exit_stops_the_supervisor_with_its_code() {
    let dir = temp_dir();
    let moto = Moto::start(dir.path()).await;
    moto.create_bucket(BUCKET).await;
    let replica = moto.replica_url(BUCKET, PATH);
    let http = http_client();
    let data_dir = dir.path().join("data");

    let mut supervised = start_supervised(dir.path(), &moto, &["-title", "Supervised"], &data_dir);
    wait_healthy(&mut supervised).await;
    let base_url = supervised.base_url.clone();

    let first = put_paste(&http, &base_url, b"before Litestream dies\n".to_vec()).await;
    wait_replicated(
        &replica,
        &dir.path().join("check.db"),
        std::slice::from_ref(&first),
        Duration::from_secs(60),
    )
    .await;

    // Kill Litestream: s6 brings it back and replication goes on.
    let litestream = wait_service_pid(&supervised.scandir, "litestream", None).await;
    assert!(
        send_signal("KILL", &litestream.to_string()),
        "kill -9 Litestream"
    );
    let restarted = wait_service_pid(&supervised.scandir, "litestream", Some(litestream)).await;
    assert_ne!(restarted, litestream);
    let log = supervised.svscan.log_text();
    assert!(
        log.contains("s6 restarts it; no last sync") && !log.contains("logpaste-final-sync"),
        "a restart does not wait for a last sync:\n{log}"
    );
    let second = put_paste(&http, &base_url, b"after Litestream came back\n".to_vec()).await;
    wait_replicated(
        &replica,
        &dir.path().join("check.db"),
        &[first, second],
        Duration::from_secs(60),
    )
    .await;

    // The app dies: the supervisor goes down with the app's exit code (128 + SIGKILL).
    let app = service_pid(&supervised.scandir, "logpaste").expect("the app runs");
    assert!(send_signal("KILL", &app.to_string()), "kill -9 the app");
    let status = supervised.svscan.wait_exit(Duration::from_secs(60)).await;
    let recorded =
        fs::read_to_string(supervised.results.join("exitcode")).expect("exit code recorded");
    assert_eq!(recorded.trim(), "137", "the finish script records 128 + 9");
    assert_eq!(
        status.code(),
        Some(137),
        "the supervision tree exits with the app's code"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_that_exits_on_bad_config_stops_the_supervisor_with_its_own_code() {
    let dir = temp_dir();
    let moto = Moto::start(dir.path()).await;
    moto.create_bucket(BUCKET).await;
    let data_dir = dir.path().join("data");

    // The app refuses this flag with exit code 2.
    let mut supervised =
        start_supervised(dir.path(), &moto, &["-maxsize", "not-a-number"], &data_dir);
    let status = supervised.svscan.wait_exit(Duration::from_secs(60)).await;
    let log = supervised.svscan.log_text();
    assert!(log.contains("logpaste: error:"), "the app said why:\n{log}");
    assert_eq!(
        fs::read_to_string(supervised.results.join("exitcode"))
            .expect("exit code recorded")
            .trim(),
        "2"
    );
    assert_eq!(
        status.code(),
        Some(2),
        "the supervision tree exits 2:\n{log}"
    );
}

/// s6-supervise starts each service in its own service directory, not in the image's
/// working directory, so a relative `DB_PATH` (which the contract allows) must not reach
/// the services as it is: the app and Litestream would each open a file of their own, and
/// every paste would be acknowledged but never replicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relative_db_path_names_one_file_for_the_restore_litestream_and_the_app() {
    let dir = temp_dir();
    let moto = Moto::start(dir.path()).await;
    moto.create_bucket(BUCKET).await;
    let replica = moto.replica_url(BUCKET, "relative");
    let tree = lay_out_service_tree(dir.path());
    // Stands in for s6-overlay's /init: the restore oneshot (s6-rc runs it from a service
    // directory of its own too), then the supervision tree.
    let init = tree.stubs.join("init");
    write_executable(
        &init,
        &format!(
            "#!/bin/sh\nset -eu\n(cd '{}' && execlineb -P '{}')\nexec s6-svscan '{}'\n",
            tree.stubs.display(),
            service_tree().join("restore/up").display(),
            tree.scandir.display()
        ),
    );
    let port = free_port();
    let mut env = vec![
        ("PORT", port.to_string()),
        ("DB_PATH", "data/store.db".to_string()),
        ("DB_REPLICA_URL", replica.clone()),
        ("DB_SYNC_INTERVAL", "1s".to_string()),
        ("LOGPASTE_RUN_MODE", "s6".to_string()),
        ("S6_INIT", init.display().to_string()),
    ];
    env.extend(tree.env.iter().cloned());
    let mut command = container_command(&repo_path("docker_entrypoint.sh"), &env);
    // The image's WORKDIR.
    command.current_dir(dir.path());
    let svscan = ProcessGroup::spawn(command, "entrypoint", &dir.path().join("entrypoint.log"));
    let mut supervised = Supervised {
        scandir: tree.scandir.clone(),
        results: tree.results.clone(),
        base_url: format!("http://127.0.0.1:{port}"),
        svscan,
    };
    wait_healthy(&mut supervised).await;

    let http = http_client();
    let id = put_paste(&http, &supervised.base_url, b"written under s6\n".to_vec()).await;
    wait_replicated(
        &replica,
        &dir.path().join("check.db"),
        std::slice::from_ref(&id),
        Duration::from_secs(60),
    )
    .await;
    let status = stop_supervised(&mut supervised).await;
    assert!(
        status.success(),
        "a clean stop: {status}\n{}",
        supervised.svscan.log_text()
    );
    assert!(
        dir.path().join("data/store.db").is_file(),
        "the database is where DB_PATH says, from the working directory the container started in"
    );
    for service in ["litestream", "logpaste"] {
        assert!(
            !tree.scandir.join(service).join("data").exists(),
            "no stray database in the {service} service directory"
        );
    }
}
