use crate::common::{
    binary_command, free_port, run_binary_to_exit, spawn_binary, with_open_file_limit,
};

fn assert_one_clear_line(case: &str, code: Option<i32>, stderr: &str, mentions: &str) {
    assert!(code.is_some_and(|c| c != 0), "{case}: exit code {code:?}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{case}: expected one line, got {stderr:?}");
    assert!(
        lines[0].starts_with("logpaste: error: "),
        "{case}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{case}: {stderr}");
    assert!(
        lines[0].to_lowercase().contains(&mentions.to_lowercase()),
        "{case}: {stderr:?} should mention {mentions}"
    );
}

#[test]
fn bad_settings_stop_start_up_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    // (case, flags, environment, what the message must name)
    type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        ("negative size", &["-maxsize", "-1"], &[], "maxsize"),
        ("zero size", &["-maxsize=0"], &[], "maxsize"),
        ("size not a number", &["--maxsize", "big"], &[], "maxsize"),
        ("size from env", &[], &[("LP_MAXSIZE", "-3")], "maxsize"),
        (
            "negative limit",
            &["-perminutelimit", "-5"],
            &[],
            "perminutelimit",
        ),
        ("port not a number", &[], &[("PORT", "abc")], "port"),
        ("port out of range", &[], &[("PORT", "70000")], "port"),
        ("not a boolean", &["-showdocs=maybe"], &[], "showdocs"),
        (
            "boolean as a separate word",
            &["-showdocs", "false"],
            &[],
            "-showdocs=false",
        ),
        // Named as typed, not as the `--bogus` it is rewritten to for clap.
        ("unknown flag", &["-bogus", "1"], &[], "'-bogus'"),
        ("unknown flag with a value", &["-bogus=1"], &[], "'-bogus'"),
        ("unknown double-dash flag", &["--bogus"], &[], "'--bogus'"),
        // Was logged with the default filter instead, request lines and all.
        (
            "log filter with a typo",
            &[],
            &[("RUST_LOG", "info,logpaste::request=of")],
            "RUST_LOG",
        ),
    ];
    for (case, args, env, mentions) in cases {
        let mut command = binary_command(&db, free_port());
        command.args(*args);
        for (name, value) in *env {
            command.env(name, value);
        }
        let (code, stderr) = run_binary_to_exit(command);
        assert_one_clear_line(case, code, &stderr, mentions);
    }
}

#[test]
fn an_unusable_database_path_stops_start_up_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let under_a_file = file.join("store.db");
    let (code, stderr) = run_binary_to_exit(binary_command(&under_a_file, free_port()));
    assert_one_clear_line("db under a file", code, &stderr, "database");

    let not_sqlite = dir.path().join("garbage.db");
    std::fs::write(&not_sqlite, vec![0x42u8; 8192]).unwrap();
    let (code, stderr) = run_binary_to_exit(binary_command(&not_sqlite, free_port()));
    assert_one_clear_line("not a database", code, &stderr, "database");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (code, stderr) = run_binary_to_exit(binary_command(&dir.path().join("ok.db"), port));
    assert_one_clear_line("port taken", code, &stderr, "listen");

    // A database file the app may not write (here a read-only bind mount of the file, which
    // binds root too; CI runs as root). SQLite would open it read-only without a word.
    let read_only = dir.path().join("read-only.db");
    let (code, stderr) = run_binary_to_exit(binary_command(&read_only, port));
    assert_eq!(
        code,
        Some(1),
        "port still taken, after creating the database: {stderr}"
    );
    let mount = |args: &[&str]| {
        let status = std::process::Command::new("mount")
            .args(args)
            .arg(&read_only)
            .arg(&read_only)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "mount {args:?} needs root; CI runs as root"
        );
    };
    mount(&["--bind"]);
    let unmount = UnmountOnDrop(read_only.clone());
    mount(&["-o", "remount,bind,ro"]);
    let (code, stderr) = run_binary_to_exit(binary_command(&read_only, free_port()));
    assert_one_clear_line("read-only database", code, &stderr, "read-only");
    drop(unmount);
}

/// SQLite takes `:memory:` as a database in memory, and (sqlx opens with URIs on) `file:...`
/// as a URI: the app started, acknowledged uploads with ids, and lost them all at exit.
#[test]
fn a_db_path_sqlite_would_not_keep_as_that_file_stops_start_up_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    for db_path in [":memory:", "file::memory:", "file:store.db?mode=memory"] {
        let mut command = binary_command(std::path::Path::new(db_path), free_port());
        command.current_dir(dir.path());
        let (code, stderr) = run_binary_to_exit(command);
        assert_one_clear_line(db_path, code, &stderr, "db-path");
    }
}

/// A file of another app with its own `entries` table passes the migration (CREATE TABLE IF
/// NOT EXISTS): the app started healthy and answered every upload 503.
#[test]
fn a_database_whose_entries_table_is_not_logpastes_stops_start_up_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("other-app.db");
    let status = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg("CREATE TABLE entries (title TEXT, body TEXT);")
        .status()
        .expect("sqlite3 runs");
    assert!(status.success());
    let (code, stderr) = run_binary_to_exit(binary_command(&db, free_port()));
    assert_one_clear_line("foreign entries table", code, &stderr, "entries table");
}

/// `ulimit -n 24` left the workers panicking with backtraces before any error line.
#[test]
fn an_open_file_limit_too_low_to_serve_stops_start_up_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = binary_command(&dir.path().join("store.db"), free_port());
    with_open_file_limit(&mut command, 24, 24);
    let (code, stderr) = run_binary_to_exit(command);
    assert_one_clear_line("ulimit -n 24", code, &stderr, "open-file limit is 24");
}

struct UnmountOnDrop(std::path::PathBuf);

impl Drop for UnmountOnDrop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test]
async fn flags_in_both_spellings_and_env_vars_configure_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let port = free_port();
    let footer = r#"<em class="f">"quoted" $HOME `tick` 'single' &amp;</em>"#;
    let mut command = binary_command(&db, port);
    command
        .env("LP_TITLE", "from env")
        .env("LP_SUBTITLE", "subtitle from env")
        .args([
            "-title",
            "Go spelling",
            "--footer",
            footer,
            "-showdocs=false",
        ]);
    let app = spawn_binary(command, &db, port).await;
    let html = app.homepage().await;
    assert!(
        html.contains("<h1 id=\"title\">Go spelling</h1>"),
        "flag beats env"
    );
    assert!(html.contains("subtitle from env"));
    assert!(html.contains(footer), "footer arrives unchanged");
    assert!(!html.contains("id=\"docs\""));
}

/// Go's flag package takes a flag given twice, the last value winning: a wrapper script's
/// defaults followed by the operator's own (`logpaste -showdocs=false "$@"`) must start.
#[tokio::test]
async fn a_flag_given_twice_takes_the_last_value_as_in_go() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let port = free_port();
    let mut command = binary_command(&db, port);
    command.args([
        "-title",
        "wrapper default",
        "-showdocs=false",
        "--maxsize",
        "5",
        "-title=operator's",
        "-showdocs=true",
        "-maxsize",
        "1",
    ]);
    let app = spawn_binary(command, &db, port).await;
    let html = app.homepage().await;
    assert!(
        html.contains("<h1 id=\"title\">operator&#39;s</h1>"),
        "{html}"
    );
    assert!(html.contains("id=\"docs\""), "the last -showdocs wins");
    let response = reqwest::Client::new()
        .put(format!("{}/", app.address))
        .body(vec![b'x'; 1024 * 1024 + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413, "the last -maxsize wins");
}

#[tokio::test]
async fn the_database_defaults_to_data_store_db_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let expected = dir.path().join("data/store.db");
    let mut command = binary_command(&expected, port);
    command.env_remove("DB_PATH").current_dir(dir.path());
    let app = spawn_binary(command, &expected, port).await;
    let id = reqwest::Client::new()
        .put(format!("{}/", app.address))
        .body("default path")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(id, 200);
    assert!(expected.exists(), "data/store.db was not created");
}

#[tokio::test]
async fn maxsize_and_limit_come_from_the_environment_too() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let port = free_port();
    let mut command = binary_command(&db, port);
    command.env("LP_MAXSIZE", "1").env("LP_PERMINUTELIMIT", "1");
    let app = spawn_binary(command, &db, port).await;
    let client = reqwest::Client::new();
    let too_big = vec![b'x'; 1024 * 1024 + 1];
    let response = client
        .put(format!("{}/", app.address))
        .body(too_big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    // The refused upload counted; the next one is over the per-minute limit.
    let response = client
        .put(format!("{}/", app.address))
        .body("small")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
}

/// The page's settings come from the environment as well as the flags: an operator who
/// moves `-showdocs=false` and the footer into LP_SHOWDOCS and LP_FOOTER gets the same page.
#[tokio::test]
async fn showdocs_and_the_footer_come_from_the_environment_too() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let port = free_port();
    let footer = r#"<em class="f">footer from env</em>"#;
    let mut command = binary_command(&db, port);
    command.env("LP_SHOWDOCS", "false").env("LP_FOOTER", footer);
    let app = spawn_binary(command, &db, port).await;
    let html = app.homepage().await;
    assert!(
        !html.contains("id=\"docs\""),
        "LP_SHOWDOCS=false hides the docs"
    );
    assert!(html.contains(footer), "LP_FOOTER is the footer");
}

/// LogPaste turns proxy mode on for any non-empty LP_BEHIND_PROXY, "false" included; we
/// keep that rule, and say so at start-up when the value reads as "off".
#[tokio::test]
async fn lp_behind_proxy_false_still_means_on_and_start_up_warns_about_it() {
    let warning = "turns proxy mode ON";
    for (value, warns) in [("false", true), ("0", true), ("1", false), ("true", false)] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("store.db");
        let port = free_port();
        let mut command = binary_command(&db, port);
        command
            .env("LP_BEHIND_PROXY", value)
            .env("LP_PERMINUTELIMIT", "1");
        let app = spawn_binary(command, &db, port).await;
        // Proxy mode whatever the value: two forwarded clients get one upload each.
        let client = reqwest::Client::new();
        for forwarded in ["203.0.113.7", "198.51.100.9"] {
            let response = client
                .put(format!("{}/", app.address))
                .header("X-Forwarded-For", forwarded)
                .body("a log line")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "LP_BEHIND_PROXY={value}");
        }
        let log = app.log();
        let warned = log
            .lines()
            .find(|line| line.contains(warning))
            .map(str::to_string);
        if warns {
            let line = warned.unwrap_or_else(|| panic!("no warning for {value}:\n{log}"));
            assert!(line.contains("WARN"), "{line}");
            assert!(
                line.contains(&format!("LP_BEHIND_PROXY={value} ")),
                "{line}"
            );
        } else {
            assert_eq!(warned, None, "LP_BEHIND_PROXY={value} warned:\n{log}");
        }
    }
}

/// Env files and platforms' config screens write `NAME=` for "not set". As for LogPaste
/// (Go's `os.Getenv` reads "" either way), an empty setting takes its default instead of
/// stopping start-up; so does the image's HEALTHCHECK with `PORT=`. The default port is
/// 3001, so this test needs 127.0.0.1:3001 free (no other test uses it).
#[tokio::test]
async fn empty_settings_in_the_environment_take_their_defaults() {
    const DEFAULT_PORT: u16 = 3001;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("data/store.db");
    let mut command = binary_command(&db, DEFAULT_PORT);
    command.current_dir(dir.path());
    for name in [
        "PORT",
        "DB_PATH",
        "LP_TITLE",
        "LP_SUBTITLE",
        "LP_SHOWDOCS",
        "LP_MAXSIZE",
        "LP_PERMINUTELIMIT",
    ] {
        command.env(name, "");
    }
    let app = spawn_binary(command, &db, DEFAULT_PORT).await;
    assert!(db.exists(), "the default database path was not used");
    let client = reqwest::Client::new();
    let page = app.homepage().await;
    assert!(page.contains("<title>LogPaste</title>"), "{page}");
    assert!(
        page.contains("id=\"docs\""),
        "the docs are shown by default"
    );
    // The 2 MiB default limit, and no per-minute limit: three uploads of the limit pass.
    for _ in 0..3 {
        let status = client
            .put(format!("{}/", app.address))
            .body(vec![b'x'; 2 * 1024 * 1024])
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
    let status = client
        .put(format!("{}/", app.address))
        .body(vec![b'x'; 2 * 1024 * 1024 + 1])
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 413);

    // The image's HEALTHCHECK command, run as Docker runs it, with PORT= as well.
    let dockerfile =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
    let check = dockerfile
        .split("HEALTHCHECK")
        .nth(1)
        .and_then(|rest| rest.split("CMD ").nth(1))
        .and_then(|rest| rest.lines().next())
        .expect("the Dockerfile's HEALTHCHECK CMD");
    let argv: Vec<String> = serde_json::from_str(check).expect("HEALTHCHECK CMD in exec form");
    let healthy = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .env("PORT", "")
        .output()
        .await
        .unwrap();
    assert!(
        healthy.status.success(),
        "{argv:?}: {}",
        String::from_utf8_lossy(&healthy.stderr)
    );
}

/// LogPaste took any `-maxsize`; SQLite stores no row over 10^9 bytes, so a paste past
/// 953 MiB failed there and answered 503 here. A larger setting now starts with a warning,
/// the limit in force is 953 MiB everywhere (413, the homepage's check), and a paste of
/// exactly that size is stored and served whole.
#[tokio::test]
async fn a_maxsize_beyond_what_sqlite_stores_is_capped_at_953_mib_with_a_warning() {
    const STORABLE: usize = 953 * 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let port = free_port();
    let mut command = binary_command(&db, port);
    command.args(["-maxsize", "2048"]);
    let app = spawn_binary(command, &db, port).await;
    let warning = app
        .log()
        .lines()
        .find(|line| line.contains("WARN") && line.contains("maxsize 2048 MiB"))
        .map(str::to_string);
    assert!(
        warning.is_some_and(|line| line.contains("up to 953 MiB")),
        "{}",
        app.log()
    );
    let client = reqwest::Client::new();
    let page = app.homepage().await;
    assert!(page.contains("data-max-size-mib=\"953\""), "{page}");

    // One byte more than storable, announced: refused before the body is sent.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let head = format!(
            "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            STORABLE + 1
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            stream.read_to_end(&mut answer),
        )
        .await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("the limit is 953 MiB"), "{answer}");
    }

    // Exactly storable, streamed (the test never holds it whole): stored and served whole.
    let chunk = bytes::Bytes::from(vec![b'z'; 1024 * 1024]);
    let chunks = (0..953).map(move |_| Ok::<_, std::io::Error>(chunk.clone()));
    let response = client
        .put(format!("{}/", app.address))
        .header("content-length", STORABLE.to_string())
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", app.log());
    let json: serde_json::Value = response.json().await.unwrap();
    let id = json["id"].as_str().unwrap();
    let head = client
        .head(format!("{}/{id}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        STORABLE.to_string().as_str()
    );
}

/// `--help` lists beside the flags what it cannot show with them: the settings read from
/// the environment only, and LogPaste's single-dash spelling.
#[test]
fn the_help_names_the_settings_read_from_the_environment_only() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_logpaste"))
        .arg("--help")
        .env_clear()
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for expected in ["LP_BEHIND_PROXY", "RUST_LOG", "-title X", "953"] {
        assert!(
            help.contains(expected),
            "--help mentions {expected}:\n{help}"
        );
    }
}
