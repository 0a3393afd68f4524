use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{
    binary_command, free_port, get_on_a_small_window, run_binary_to_exit, spawn_binary,
    spawn_binary_answering_at, with_open_file_limit, BinaryApp, WriteLockHolder,
};

/// A stop that comes the moment the port opens (a container stopped right after its start)
/// is a clean stop with exit 0, not the signal's default action. The handlers used to be
/// installed only once the server ran, and about 3 in 10 such stops killed the process.
#[test]
fn a_stop_the_moment_the_port_opens_is_a_clean_stop() {
    const ROUNDS: usize = 30;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let port = free_port();
    for round in 0..ROUNDS {
        let mut child = binary_command(&db, port)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "round {round}: the port never opened"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        // SAFETY: a plain kill(2) of our own child, which has not been waited for.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("round {round}: the stop did not end within 20 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(
            status.code(),
            Some(0),
            "round {round}: a stop right after the start exits 0, not {status}"
        );
    }
}

#[tokio::test]
async fn stop_signals_finish_in_flight_uploads_then_exit_zero() {
    for signal in ["TERM", "INT"] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("store.db");
        let port = free_port();
        let mut app = spawn_binary(binary_command(&db, port), &db, port).await;

        // An upload whose body is only half sent when the signal arrives. It asks for
        // `100 Continue` (as curl does for large bodies), and that answer is the sign that
        // the server has taken the connection and read the head: the upload is in flight.
        // (A fixed 300 ms pause stood in for it. A signal that comes before the server has
        // taken the connection finds it still in the listen queue, where a stop resets it,
        // as it would on any server; without the pause 3 runs in 15 failed so.)
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        stream
            .write_all(
                b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\
                  Expect: 100-continue\r\n\r\n",
            )
            .await
            .unwrap();
        let mut interim = [0u8; 25];
        tokio::time::timeout(Duration::from_secs(30), stream.read_exact(&mut interim))
            .await
            .expect("the server took the upload within 30 s")
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&interim),
            "HTTP/1.1 100 Continue\r\n\r\n",
            "SIG{signal}"
        );
        stream.write_all(b"half-").await.unwrap();
        app.signal(signal);
        // The rest of the body goes once the server has taken the signal (it logs so).
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !app.log().contains("stop signal received") {
            assert!(
                std::time::Instant::now() < deadline,
                "SIG{signal} not taken within 30 s:\n{}",
                app.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stream.write_all(b"done!").await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
            .await
            .expect("in-flight request answered")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer).into_owned();
        assert!(answer.starts_with("HTTP/1.1 200"), "SIG{signal}: {answer}");
        let id = answer
            .rsplit("\"id\":\"")
            .next()
            .and_then(|rest| rest.get(..8))
            .unwrap()
            .to_string();

        assert_eq!(
            app.wait_exit(Duration::from_secs(20)),
            Some(0),
            "SIG{signal}"
        );
        assert!(app.log().contains("stopped"), "{}", app.log());
        // New connections are refused once stopped.
        assert!(tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err());

        // The in-flight paste was committed before the exit.
        let port = free_port();
        let app = spawn_binary(binary_command(&db, port), &db, port).await;
        let back = reqwest::get(format!("{}/{id}", app.address)).await.unwrap();
        assert_eq!(back.text().await.unwrap(), "half-done!");
    }
}

#[tokio::test]
async fn acknowledged_pastes_survive_a_crash_of_the_app() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let port = free_port();
    let app = spawn_binary(binary_command(&db, port), &db, port).await;
    let client = reqwest::Client::new();
    let mut pastes = Vec::new();
    for i in 0..50 {
        let body = format!("paste {i} {}", "x".repeat(i * 100));
        let response = app.put(body.clone()).await;
        assert_eq!(response.status(), 200);
        let json: serde_json::Value = response.json().await.unwrap();
        pastes.push((json["id"].as_str().unwrap().to_string(), body));
    }
    // No chance to clean up: SIGKILL right after the last acknowledgement.
    app.signal("KILL");
    drop(app);

    let port = free_port();
    let app = spawn_binary(binary_command(&db, port), &db, port).await;
    for (id, body) in pastes {
        let back = client
            .get(format!("{}/{id}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(back.status(), 200, "{id} lost in the crash");
        assert_eq!(back.text().await.unwrap(), body);
    }
}

#[tokio::test]
async fn logs_one_line_per_request_and_the_config_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let port = free_port();
    let mut command = binary_command(&db, port);
    command
        .env("DB_REPLICA_URL", "s3://replica-secret-bucket/db")
        .env("LITESTREAM_ACCESS_KEY_ID", "AKIAEXAMPLEKEYID")
        .env("LITESTREAM_SECRET_ACCESS_KEY", "very-secret-access-key")
        .env("LP_TITLE", "Acme");
    let app = spawn_binary(command, &db, port).await;
    let response = reqwest::get(format!("{}/AbCdEfGh", app.address))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let log = app.log();
    let start = log
        .lines()
        .find(|line| line.contains("logpaste started"))
        .unwrap_or_else(|| panic!("no start-up line in {log}"));
    for setting in [
        "port=",
        "db_path=",
        "replication=true",
        "max_size_mib=2",
        "title=\"Acme\"",
    ] {
        assert!(start.contains(setting), "{setting} missing from {start}");
    }
    let request = app.log_line(|line| line.contains("/AbCdEfGh"));
    for part in [
        "method=GET",
        "status=404",
        "latency_ms=",
        "client=127.0.0.1",
    ] {
        assert!(request.contains(part), "{part} missing from {request}");
    }
    let log = app.log();
    for secret in [
        "very-secret-access-key",
        "AKIAEXAMPLEKEYID",
        "replica-secret-bucket",
    ] {
        assert!(!log.contains(secret), "{secret} leaked into the log");
    }
}

/// The start-up line shows the title and subtitle as values, quoted: a line break in one
/// cannot start a line that reads as a log line of its own, and an escape sequence cannot
/// recolour (or clear) the terminal of whoever reads the log.
#[tokio::test]
async fn settings_with_line_breaks_or_escapes_stay_inside_the_start_up_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let port = free_port();
    let mut command = binary_command(&db, port);
    command
        .env(
            "LP_TITLE",
            "Acme\n2026-01-01T00:00:00Z ERROR forged-title-line \u{1b}[2J",
        )
        .env("LP_SUBTITLE", "logs\r\nforged-subtitle-line \u{1b}[31m");
    let app = spawn_binary(command, &db, port).await;
    let log = app.log();
    assert!(
        !log.contains('\u{1b}'),
        "an escape sequence in the log:\n{log:?}"
    );
    for forged in ["forged-title-line", "forged-subtitle-line"] {
        let line = log
            .lines()
            .find(|line| line.contains(forged))
            .unwrap_or_else(|| panic!("{forged} missing from {log}"));
        assert!(
            line.contains("logpaste started"),
            "{forged} on a line of its own: {log:?}"
        );
    }
}

/// An IPv6 address written as URLs write it, in brackets (`--host [::1]`, as people copy
/// it from a URL), is that address: the server listens on it, and its errors show it so.
#[tokio::test]
async fn a_bracketed_ipv6_host_is_that_address() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: this machine has no IPv6 loopback");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let port = free_port();
    let mut command = binary_command(&db, port);
    command.env("LP_HOST", "[::1]");
    let log_path = dir.path().join("logpaste.log");
    let app = spawn_binary_answering_at(command, &db, port, log_path, "[::1]").await;
    let client = reqwest::Client::new();
    let stored: serde_json::Value = client
        .put(format!("{}/", app.address))
        .body("over ::1\n")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = stored["id"].as_str().expect("an id");
    let body = reqwest::get(format!("{}/{id}", app.address))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "over ::1\n");

    // The same address taken: one line naming it, bracketed once.
    let mut second = binary_command(&dir.path().join("other.db"), port);
    second.env("LP_HOST", "[::1]");
    let (code, stderr) = run_binary_to_exit(second);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on [::1]:{port}: ")),
        "{stderr}"
    );
}

/// By default the server answers on every address, IPv4 and IPv6, as LogPaste's Go server
/// did on `:PORT` (Go opens that as one dual-stack socket): a client that reaches the host
/// over IPv6 (`localhost` resolving to ::1, an IPv6-only network) gets its answer. IPv4
/// clients of that socket are still logged (and rate limited) by their IPv4 address.
/// The default binds every address, so the server runs in a network namespace of its own
/// (made with unshare, as root; only a loopback in it), reachable from nowhere else, and
/// the requests are made from inside it with curl.
#[test]
fn by_default_the_server_answers_over_ipv4_and_ipv6() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: this machine has no IPv6 loopback");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    // Any port: nothing else listens in the new namespace.
    let port = 3001;
    let plain = binary_command(&db, port);
    let mut command = std::process::Command::new("unshare");
    command
        .args([
            "--net",
            "--",
            "sh",
            "-c",
            "ip link set lo up && exec \"$0\" \"$@\"",
        ])
        .arg(plain.get_program())
        .env_clear();
    for (name, value) in plain.get_envs() {
        if let (false, Some(value)) = (name == "LP_HOST", value) {
            command.env(name, value);
        }
    }
    let log_path = dir.path().join("logpaste.log");
    let child = command
        .stdout(std::fs::File::create(&log_path).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("unshare starts");
    // unshare and sh exec: the child is the server, in the new namespace.
    let mut app = BinaryApp {
        child,
        log_path,
        port,
        address: String::new(),
        db_path: db.clone(),
    };
    let server = app.child.id();
    let curl = |args: &[&str]| -> Option<String> {
        let output = std::process::Command::new("nsenter")
            .arg(format!("--net=/proc/{server}/ns/net"))
            .args(["--", "curl", "-sS", "-g", "--fail", "--max-time", "5"])
            .args(args)
            .output()
            .expect("run nsenter");
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while curl(&[&format!("http://127.0.0.1:{port}/healthz")]).is_none() {
        if let Ok(Some(status)) = app.child.try_wait() {
            panic!("the server stopped with {status}:\n{}", app.log());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server never answered:\n{}",
            app.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let created = curl(&[
        "-X",
        "PUT",
        "--data-binary",
        "over IPv4",
        &format!("http://127.0.0.1:{port}/"),
    ])
    .expect("a PUT over IPv4 is answered");
    let id = serde_json::from_str::<serde_json::Value>(&created).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let over_ipv6 =
        curl(&[&format!("http://[::1]:{port}/{id}")]).expect("the server answers on ::1");
    assert_eq!(over_ipv6, "over IPv4");

    let log = app.log();
    let start = log
        .lines()
        .find(|line| line.contains("logpaste started"))
        .unwrap();
    assert!(start.contains("host=::"), "{start}");
    let ipv4_put = app.log_line(|line| line.contains("method=PUT"));
    let has = |line: &str, field: &str| line.split_whitespace().any(|word| word == field);
    assert!(has(&ipv4_put, "client=127.0.0.1"), "{ipv4_put}");
    let ipv6_get =
        app.log_line(|line| line.contains(&format!("/{id}")) && line.contains("method=GET"));
    assert!(has(&ipv6_get, "client=::1"), "{ipv6_get}");
}

/// A request actix cannot parse (a TLS hello, a broken header) gets a 400 from actix itself,
/// which also logs it at ERROR. Those are the client's errors, not ours: by default they are
/// not logged, and `RUST_LOG` naming `actix_http` brings them back.
#[tokio::test]
async fn malformed_requests_get_400_without_error_lines_unless_asked_for() {
    async fn start(rust_log: &str, dir: &tempfile::TempDir) -> crate::common::BinaryApp {
        let db = dir.path().join("store.db");
        let port = free_port();
        let mut command = binary_command(&db, port);
        command.env("RUST_LOG", rust_log);
        spawn_binary(command, &db, port).await
    }
    let (quiet_dir, loud_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let quiet = start("info", &quiet_dir).await;
    let loud = start("info,actix_http=error", &loud_dir).await;
    for app in [&quiet, &loud] {
        for garbage in [
            &b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"[..],
            &b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\0\0\0\0\0\0\0\0\r\n\r\n"[..],
        ] {
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
                .await
                .unwrap();
            stream.write_all(garbage).await.unwrap();
            let mut answer = vec![0u8; 64];
            let read = stream.read(&mut answer).await.unwrap();
            let answer = String::from_utf8_lossy(&answer[..read]);
            assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        }
    }
    // The loud app logs them: that is how long the lines take to appear.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while loud.log().matches("stream error").count() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "actix never logged the malformed requests:\n{}",
            loud.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = quiet.log();
    assert!(!log.contains("stream error"), "{log}");
    assert!(!log.contains("ERROR"), "{log}");
}

/// Started with Docker's default soft open-file limit (here 64 of 4,096, to keep the test
/// small), the app raises it to the hard limit, as Go's runtime did for LogPaste: every
/// connection needs a descriptor, and 300 clients at once are all answered.
#[tokio::test]
async fn the_soft_open_file_limit_is_raised_so_many_clients_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let port = free_port();
    let mut command = binary_command(&db, port);
    with_open_file_limit(&mut command, 64, 4096);
    let app = spawn_binary(command, &db, port).await;
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", app.pid())).unwrap();
    let open_files = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap();
    assert_eq!(
        open_files.split_whitespace().collect::<Vec<_>>()[3..5],
        ["4096", "4096"],
        "{open_files}"
    );

    let mut connections = Vec::new();
    for _ in 0..300 {
        connections.push(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap(),
        );
    }
    // A request the server answers from memory. /healthz asks the database, with a 2 s
    // limit: 300 of them at once on a loaded machine (one full run with 16 tests at a
    // time and two CPU hogs) queued past it, and the 194th was told 503. That limit is
    // the health check's (its own test covers it), not what this test is about.
    for connection in &mut connections {
        connection
            .write_all(b"GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
    }
    for (n, connection) in connections.iter_mut().enumerate() {
        let mut answer = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(10), connection.read(&mut answer))
            .await
            .unwrap_or_else(|_| panic!("connection {n} not answered within 10 s"))
            .unwrap();
        assert!(
            answer[..read].starts_with(b"HTTP/1.1 200"),
            "connection {n}: {}",
            String::from_utf8_lossy(&answer[..read])
        );
    }
}

/// Peak resident memory of a process, from /proc.
fn peak_rss_mib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024
}

/// A fleet uploading at once: 120 uploads of 2 MiB (240 MiB) arrive together. Past the
/// upload budget (32 MiB) they wait for room instead of all being held in memory (400 such
/// uploads once took the server to ~975 MB); every one is stored, byte for byte.
#[tokio::test]
async fn a_burst_of_large_uploads_is_stored_whole_within_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_binary_in(dir.path(), &[]).await;
    let body = |n: usize| {
        let line = format!("device {n:04} uploaded this line of its log\n");
        line.repeat(2 * 1024 * 1024 / line.len())
    };
    let uploads = (0..120).map(|n| {
        let app = &app;
        async move {
            let response = app.put(body(n)).await;
            assert_eq!(response.status(), 200, "upload {n}");
            let json: serde_json::Value = response.json().await.unwrap();
            (n, json["id"].as_str().unwrap().to_string())
        }
    });
    let stored = tokio::time::timeout(
        Duration::from_secs(120),
        futures_util::future::join_all(uploads),
    )
    .await
    .expect("the burst was stored within 120 s");
    let peak = peak_rss_mib(app.pid());
    for (n, id) in stored {
        let back = reqwest::get(format!("{}/{id}", app.address)).await.unwrap();
        assert!(back.text().await.unwrap() == body(n), "upload {n} differs");
    }
    assert!(peak < 160, "peak RSS {peak} MiB during the burst");
}

/// Clients asking for a large paste and reading nothing: the kernel takes what fits in
/// each connection's socket buffer (up to 4 MB), and the rest of each response stayed in
/// the server's memory until its client read it (1,500 such GETs of a 2 MiB paste: 2.2 GB).
/// Past the response budget (32 MiB), or past their address's share of it, they wait for
/// room instead, holding nothing, while a client from another address is served; once the
/// stalled clients are gone, a GET gets the paste whole. The paste is larger than a socket
/// buffer, so that what the server holds shows in its own memory.
#[tokio::test]
async fn clients_that_never_read_large_pastes_hold_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_binary_in(dir.path(), &["-maxsize", "16"]).await;
    let line = "a line of a large log that someone will want to read\n";
    let paste = line.repeat(12 * 1024 * 1024 / line.len());
    let response = app.put(paste.clone()).await;
    assert_eq!(response.status(), 200);
    let json: serde_json::Value = response.json().await.unwrap();
    let id = json["id"].as_str().unwrap().to_string();

    let mut stalled = Vec::new();
    for _ in 0..40 {
        stalled.push(get_on_a_small_window(app.port, &id, 4096).await);
    }
    // Time for the server to take every request and fill every window it can.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let peak = peak_rss_mib(app.pid());
    // One address takes at most a quarter of the budget, or one paste if larger (here
    // 16 MiB: one of its 12 MiB responses); a client from another address is served.
    let elsewhere = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let other = tokio::time::timeout(
        Duration::from_secs(10),
        elsewhere.get(format!("{}/{id}", app.address)).send(),
    )
    .await
    .expect("another address served while one address's clients never read")
    .unwrap();
    assert_eq!(other.status(), 200);
    assert!(other.text().await.unwrap() == paste, "the paste differs");
    // A HEAD sends no body, so it neither takes nor waits for room.
    let head = tokio::time::timeout(
        Duration::from_secs(10),
        reqwest::Client::new()
            .head(format!("{}/{id}", app.address))
            .send(),
    )
    .await
    .expect("a HEAD answered while the budget is taken")
    .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()[reqwest::header::CONTENT_LENGTH],
        paste.len().to_string().as_str()
    );
    drop(stalled);
    let back = tokio::time::timeout(
        Duration::from_secs(30),
        reqwest::get(format!("{}/{id}", app.address)),
    )
    .await
    .expect("served once the stalled clients left")
    .unwrap();
    assert_eq!(back.status(), 200);
    assert!(back.text().await.unwrap() == paste, "the paste differs");
    assert!(
        peak < 150,
        "peak RSS {peak} MiB with 40 unread responses of 12 MiB"
    );
}

/// Ports handed to child processes (which bind them a while later) come from outside the
/// kernel's ephemeral range and stay held by this test process: neither a bind to port 0
/// nor another test gets them in the meantime.
#[test]
fn ports_for_child_processes_are_outside_the_ephemeral_range_and_held() {
    use crate::common::ports;
    let taken: Vec<u16> = (0..20).map(|_| free_port()).collect();
    for &port in &taken {
        assert!(
            !ports::is_ephemeral(port),
            "{port} is in the ephemeral range"
        );
        assert!(ports::is_held(port), "{port} is not held");
        std::net::TcpListener::bind(("127.0.0.1", port)).expect("nobody listens on it");
    }
    let distinct: std::collections::HashSet<u16> = taken.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        taken.len(),
        "a port handed out twice: {taken:?}"
    );
}

/// A client that resets its connection (a proxy giving up, a killed shipper) ends its
/// upload's handler at once, but a body already handed to the writer waits in its queue
/// until committed: seconds, while another process holds the write lock (Litestream's
/// checkpoints, a backup) or the disk is slow. Such bodies used to leave the upload budget
/// with their handlers, so reset uploads were read in without limit: 64 of 2 MiB made
/// 128 MiB queued against a 32 MiB budget (150 took the server to 317 MiB). The room now
/// stays taken until the writer is done with the body; afterwards it all comes back.
#[tokio::test]
async fn uploads_whose_clients_reset_keep_their_room_until_the_writer_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_binary_in(dir.path(), &[]).await;

    // Another process takes the write lock: the writer waits (up to 5 s) to commit.
    let holder = WriteLockHolder::take(&app.db_path).await;

    // 64 uploads of 2 MiB, 16 at a time, each reset once its body is sent.
    let request = raw_put("", &vec![b'r'; 2 * 1024 * 1024]);
    let senders = (0..16).map(|_| {
        let request = request.clone();
        async move {
            for _ in 0..4 {
                // Time for the server to read the body in (a few ms) and queue it.
                send_then_reset(app.port, &request, Duration::from_millis(200)).await;
            }
        }
    });
    futures_util::future::join_all(senders).await;
    let peak = peak_rss_mib(app.pid());
    holder.release();

    // Every byte of room came back: a 2 MiB upload from a client that waits is stored.
    let upload = tokio::time::timeout(
        Duration::from_secs(30),
        app.put(vec![b'w'; 2 * 1024 * 1024]),
    )
    .await
    .expect("a well-behaved upload stored within 30 s of the lock's release");
    assert_eq!(upload.status(), 200);
    // Idle: about 10 MiB; the budget: 32 MiB; and the writer's copies of a paste or two.
    assert!(
        peak < 100,
        "peak RSS {peak} MiB with 64 reset uploads of 2 MiB queued behind a lock"
    );
}

/// The binary with these extra flags, on a fresh database in `dir`.
async fn spawn_binary_in(dir: &std::path::Path, args: &[&str]) -> BinaryApp {
    let db = dir.join("store.db");
    let port = free_port();
    let mut command = binary_command(&db, port);
    command.args(args);
    spawn_binary(command, &db, port).await
}

/// A whole `PUT /` request with these extra header lines and body, to send on a raw socket.
fn raw_put(headers: &str, body: &[u8]) -> std::sync::Arc<Vec<u8>> {
    let mut request = format!(
        "PUT / HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    std::sync::Arc::new(request)
}

/// Sends `request` on a new connection, waits `before_reset`, then resets it (RST): the
/// server's handler is dropped at once, whatever it was doing.
async fn send_then_reset(port: u16, request: &[u8], before_reset: Duration) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream.write_all(request).await.unwrap();
    tokio::time::sleep(before_reset).await;
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
}

/// A gzip body is decoded on a thread of its own, which runs on when its client resets:
/// the decoded text (up to the size limit) must stay counted in the upload budget until
/// that thread is done, or each reset upload lets the next one in while its text is still
/// being written out. With `-maxsize 64` (a budget of 128 MiB), 24 small bombs of 64 MiB,
/// each reset 5 ms after it was sent, took the server to 550 MiB-1.2 GB.
/// The bound: the budget's 128 MiB of decoded text, plus, when a reset lands after its
/// decoding ended, that 64 MiB paste's copies in the writer while its statement runs
/// (sqlx's, SQLite's binding, the row: up to 192 MiB, outside the budget, one paste at a
/// time), plus ~10 MiB idle. Seen with the fix: 114-341 MiB in runs beside other tests;
/// without it: 533-1045 MiB.
#[tokio::test]
async fn compressed_uploads_whose_clients_reset_keep_their_room_while_decoding() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_binary_in(dir.path(), &["-maxsize", "64"]).await;
    let bomb = {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&vec![b'z'; 64 * 1024 * 1024]).unwrap();
        encoder.finish().unwrap()
    };
    let request = raw_put("Content-Encoding: gzip\r\n", &bomb);
    let uploads = (0..24u64).map(|n| {
        let request = request.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(3 * n)).await;
            // Reset while the server decodes (64 MiB take it some 30-100 ms).
            send_then_reset(app.port, &request, Duration::from_millis(5)).await;
        }
    });
    futures_util::future::join_all(uploads).await;
    // Two compressed uploads, each holding room for 64 MiB of text, fit in the budget
    // together only once no decoding holds any: then every bomb's thread is done.
    let probes = (0..2).map(|n| {
        reqwest::Client::new()
            .put(format!("{}/", app.address))
            .header("content-encoding", "gzip")
            .body({
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                encoder
                    .write_all(format!("probe {n}\n").as_bytes())
                    .unwrap();
                encoder.finish().unwrap()
            })
            .send()
    });
    let probes = tokio::time::timeout(
        Duration::from_secs(30),
        futures_util::future::join_all(probes),
    )
    .await
    .expect("two compressed uploads stored within 30 s");
    for probe in probes {
        assert_eq!(probe.unwrap().status(), 200);
    }
    let peak = peak_rss_mib(app.pid());
    // See above: 10 + 128 + 192 MiB at most.
    assert!(
        peak < 450,
        "peak RSS {peak} MiB with 24 reset gzip uploads of 64 MiB"
    );
}

/// A form of many tiny parts (`--b` and an empty header block, 7 bytes each) is parsed
/// within the memory its body already holds. The parts were all collected before the
/// first was looked at, 40 bytes each: with `-maxsize 64` one such 64 MiB form took the
/// server to ~450 MiB (six times its room in the budget), and `-maxsize 953` would take
/// some 6 GB. Now: the form, the server's ~10 MiB idle, and its reading's slack.
#[tokio::test]
async fn a_form_of_many_tiny_parts_is_parsed_within_its_room() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_binary_in(dir.path(), &["-maxsize", "64"]).await;
    let mut form = b"--b\r\n\r\n".repeat(64 * 1024 * 1024 / 7);
    form.extend_from_slice(
        b"--b\r\nContent-Disposition: form-data; name=_\r\n\r\nhello\r\n--b--\r\n",
    );
    let response = reqwest::Client::new()
        .post(format!("{}/", app.address))
        .header("content-type", "multipart/form-data; boundary=b")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let link = response.text().await.unwrap();
    let back = reqwest::get(link.trim()).await.unwrap();
    assert_eq!(back.text().await.unwrap(), "hello");
    let peak = peak_rss_mib(app.pid());
    assert!(
        peak < 160,
        "peak RSS {peak} MiB for one 64 MiB form of tiny parts"
    );
}

/// Under load a worker writes its requests' log lines together (telemetry.rs): every
/// request still gets its own whole line, none lost or cut into another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_gets_one_whole_log_line_under_load() {
    const CLIENTS: usize = 16;
    const REQUESTS_EACH: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let port = free_port();
    let app = spawn_binary(binary_command(&db, port), &db, port).await;
    let mut clients = Vec::new();
    // Each request bounded in time: a hung server fails the test, not hangs it.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for client_number in 0..CLIENTS {
        let (client, address) = (client.clone(), app.address.clone());
        clients.push(tokio::spawn(async move {
            for n in 0..REQUESTS_EACH {
                let path = format!("/Zz{client_number:02}x{n:03}");
                let response = client.get(format!("{address}{path}")).send().await.unwrap();
                assert_eq!(response.status(), 404);
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let request_lines = loop {
        let log = app.log();
        let lines: Vec<String> = log
            .lines()
            .filter(|line| line.contains("path=\"/Zz"))
            .map(str::to_string)
            .collect();
        if lines.len() >= CLIENTS * REQUESTS_EACH || std::time::Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(request_lines.len(), CLIENTS * REQUESTS_EACH);
    let mut paths = std::collections::HashSet::new();
    for line in &request_lines {
        assert_eq!(line.matches(" INFO ").count(), 1, "{line}");
        assert_eq!(line.matches("method=GET").count(), 1, "{line}");
        assert!(line.ends_with("client=127.0.0.1"), "{line}");
        let path = line
            .split("path=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(paths.insert(path.to_string()), "two lines for {path}");
    }
}
