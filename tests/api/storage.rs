use std::process::Command;
use std::time::Duration;

use crate::common::{spawn_app, spawn_app_with, AppOptions, WriteLockHolder};

fn sqlite3(db: &std::path::Path, sql: &str) -> String {
    let output = Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .expect("the sqlite3 CLI runs (scripts/setup installs it)");
    assert!(
        output.status.success(),
        "sqlite3 failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A store.db as LogPaste leaves it: its table, its own migration bookkeeping, its rows.
fn logpaste_fixture(db: &std::path::Path) {
    sqlite3(
        db,
        "CREATE TABLE IF NOT EXISTS entries (
             id TEXT PRIMARY KEY,
             creation_time TEXT,
             contents TEXT
         );
         CREATE TABLE migrations (version INTEGER PRIMARY KEY, applied_at TEXT);
         INSERT INTO migrations VALUES (1, '2021-03-01T10:00:00Z');
         INSERT INTO entries VALUES ('fFnL9cU6', '2021-03-01T10:01:00Z', 'Hello, world!');
         INSERT INTO entries VALUES ('Crlf0042', '2021-03-02T10:01:00Z',
             'a' || char(13) || char(10) || 'b');
         INSERT INTO entries VALUES ('Bin00001', '2021-03-03T10:01:00Z',
             CAST(X'FF00FE0A6C6F67' AS TEXT));",
    );
}

#[tokio::test]
async fn a_store_db_written_by_logpaste_opens_unchanged_and_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    logpaste_fixture(&db);

    let app = spawn_app_with(AppOptions {
        db_path: Some(db.clone()),
        ..Default::default()
    })
    .await;
    let hello = app.get("/fFnL9cU6").await;
    assert_eq!(hello.status(), 200);
    assert_eq!(hello.text().await.unwrap(), "Hello, world!");
    let crlf = app.get("/Crlf0042").await.bytes().await.unwrap();
    assert_eq!(crlf.as_ref(), b"a\r\nb");
    let binary = app.get("/Bin00001").await.bytes().await.unwrap();
    assert_eq!(binary.as_ref(), b"\xff\x00\xfe\nlog");
    let new_id = app.put_ok("written by us").await;
    app.stop().await;

    // LogPaste's bookkeeping is untouched, and our row has LogPaste's shape.
    assert_eq!(
        sqlite3(&db, "SELECT version, applied_at FROM migrations;"),
        "1|2021-03-01T10:00:00Z\n"
    );
    assert_eq!(sqlite3(&db, "SELECT count(*) FROM entries;"), "4\n");
    let row = sqlite3(
        &db,
        &format!(
            "SELECT typeof(contents), contents, creation_time FROM entries WHERE id = '{new_id}';"
        ),
    );
    let parts: Vec<&str> = row.trim_end().split('|').collect();
    assert_eq!(parts[..2], ["text", "written by us"]);
    let time = parts[2];
    assert_eq!(time.len(), 20, "{time}");
    assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{time}");
    assert_eq!(sqlite3(&db, "PRAGMA journal_mode;"), "wal\n");

    // Opening it again (migrations already applied) works just as well.
    let again = spawn_app_with(AppOptions {
        db_path: Some(db.clone()),
        ..Default::default()
    })
    .await;
    assert_eq!(again.get(&format!("/{new_id}")).await.status(), 200);
}

fn db_size(db: &std::path::Path) -> u64 {
    std::fs::metadata(db).map(|m| m.len()).unwrap_or(0)
}

fn wal_size(db: &std::path::Path) -> u64 {
    let wal = db.with_file_name(format!("{}-wal", db.file_name().unwrap().to_string_lossy()));
    std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
}

#[tokio::test]
async fn the_wal_stays_bounded_unless_litestream_owns_checkpoints() {
    let chunk = vec![b'w'; 256 * 1024];
    let uploads = 48; // 12 MiB, three times SQLite's default checkpoint threshold.

    // In groups of 2 MiB, each time waiting (bounded) until the checkpointer has copied
    // them into the database file: on a starved machine it may run late, and the WAL then
    // grows for a while, which is not what this checks. What it checks: the WAL file is
    // started over after checkpoints instead of growing with every upload.
    let local = spawn_app().await;
    let group = 8;
    for done in (group..=uploads).step_by(group) {
        for _ in 0..group {
            local.put_ok(chunk.clone()).await;
        }
        let copied = (done * chunk.len()) as u64;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while db_size(&local.db_path) < copied {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint copied {copied} bytes of uploads into the database file"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let bounded = wal_size(&local.db_path);
    assert!(bounded < 8 * 1024 * 1024, "WAL grew to {bounded} bytes");

    // The binary, told by DB_REPLICA_URL (as the image tells it) that Litestream replicates.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let port = crate::common::free_port();
    let mut command = crate::common::binary_command(&db, port);
    command.env("DB_REPLICA_URL", "s3://bucket/logpaste");
    let replicated = crate::common::spawn_binary(command, &db, port).await;
    for _ in 0..uploads {
        assert_eq!(replicated.put(chunk.clone()).await.status(), 200);
    }
    let unbounded = wal_size(&db);
    assert!(
        unbounded >= 12 * 1024 * 1024,
        "with DB_REPLICA_URL the app must leave checkpoints to Litestream (WAL {unbounded})"
    );
    // Nor does it copy the WAL into the database file in the background: time for a few
    // passes of a checkpointer (one a second), were one running, then the file is as small.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let copied = db_size(&db);
    assert!(
        copied < 1024 * 1024,
        "with DB_REPLICA_URL the app checkpointed {copied} bytes into the database file"
    );
}

#[tokio::test]
async fn healthz_answers_200_while_the_database_answers_and_503_when_it_does_not() {
    let app = spawn_app().await;
    let ok = app.get("/healthz").await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "ok\n");

    // Another process holds the write lock: uploads would stall, so the check must fail.
    let holder = WriteLockHolder::take(&app.db_path).await;
    let down = app.get("/healthz").await;
    let status = down.status();
    holder.release();
    assert_eq!(status, 503);
    assert_eq!(down.text().await.unwrap(), "database unavailable\n");

    // Once the lock is gone the service is healthy again.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        if app.get("/healthz").await.status() == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_flood_grows_the_wal_and_a_quiet_spell_gives_its_space_back() {
    // Uploads that never pause are not held up by checkpoints: the WAL absorbs them (it is
    // copied back into the database file in the background) and grows. Once nothing has
    // been written for a while, the file is cut back. This takes about 40 s.
    let app = spawn_app().await;
    let paste = vec![b'f'; 1024 * 1024];
    let streams = 16;
    let per_stream = 10; // 160 MiB in all, well past the 64 MiB kept afterwards
    let ids: Vec<String> = futures_util::future::join_all((0..streams).map(|_| async {
        let mut ids = Vec::new();
        for _ in 0..per_stream {
            ids.push(app.put_ok(paste.clone()).await);
        }
        ids
    }))
    .await
    .into_iter()
    .flatten()
    .collect();
    let after_flood = wal_size(&app.db_path);
    assert!(
        after_flood > 64 * 1024 * 1024,
        "160 MiB uploaded without a pause left a WAL file of {after_flood} bytes: \
         was the flood held up to start the WAL over?"
    );

    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while wal_size(&app.db_path) > 64 * 1024 * 1024 {
        assert!(
            std::time::Instant::now() < deadline,
            "the WAL file is still {} bytes a minute after the last upload",
            wal_size(&app.db_path)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for id in [&ids[0], &ids[ids.len() / 2], &ids[ids.len() - 1]] {
        let response = app.get(&format!("/{id}")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.bytes().await.unwrap().len(), paste.len());
    }
}

/// A database the app creates is its owner's alone, and so are its WAL and shared-memory
/// files: other users of the host must not read every paste. A file that exists keeps
/// the mode its owner gave it.
#[tokio::test]
async fn a_new_database_and_its_wal_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let app = spawn_app().await;
    app.put_ok("a private log").await;
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", app.db_path.display()));
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }

    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared.db");
    std::fs::write(&shared, b"").unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o640)).unwrap();
    let app = spawn_app_with(AppOptions {
        db_path: Some(shared.clone()),
        ..Default::default()
    })
    .await;
    app.put_ok("a shared log").await;
    assert_eq!(mode(&shared), 0o640);
}

/// A small tmpfs mounted for one test (mounting needs root; CI runs as root), unmounted
/// on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "mounting a tmpfs needs root; CI runs as root"
        );
        SmallDisk { dir }
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.dir.path())
            .status()
            .expect("mount runs");
        assert!(status.success(), "remounting the tmpfs failed");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: the app may still be exiting when a failed assertion drops us.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// A different log-like text for each `seed`, `len` bytes long.
fn log_text(seed: u64, len: usize) -> String {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut text = String::with_capacity(len + 64);
    while text.len() < len {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
        text.push_str(&format!("{seed} {state:016x} worker ok\n"));
    }
    text.truncate(len);
    text
}

/// A full disk refuses uploads with 507 and a reason, loses none that it acknowledged
/// (before, after, or across a crash), and takes uploads again once space is freed.
/// Before the fix, the failed COMMIT left sqlx's transaction bookkeeping wrong: the next
/// uploads were answered 200 inside a transaction that never committed, and vanished.
#[tokio::test]
async fn a_full_disk_refuses_uploads_with_507_and_loses_nothing_it_acknowledged() {
    let disk = SmallDisk::mount("2m");
    let log_dir = tempfile::tempdir().unwrap();
    let db = disk.dir.path().join("store.db");
    let start = |port| {
        crate::common::spawn_binary_logging_to(
            crate::common::binary_command(&db, port),
            &db,
            port,
            log_dir.path().join("logpaste.log"),
        )
    };
    let app = start(crate::common::free_port()).await;
    let client = reqwest::Client::new();
    let mut stored = Vec::new();
    let mut refused = 0;
    // Big pastes fill the 2 MiB disk within a few uploads; small ones then try the space
    // left in the last pages.
    let sizes = std::iter::repeat_n(300_000, 12).chain(std::iter::repeat_n(1_000, 20));
    for (seed, size) in (0..).zip(sizes) {
        let body = log_text(seed, size);
        let response = app.put(body.clone()).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        match status.as_u16() {
            200 => {
                let json: serde_json::Value = serde_json::from_str(&text).unwrap();
                stored.push((json["id"].as_str().unwrap().to_string(), body));
            }
            507 => {
                assert_eq!(
                    text,
                    "the server is out of disk space: the paste was not stored\n"
                );
                refused += 1;
            }
            other => panic!("upload {seed} of {size} bytes: {other} {text}"),
        }
    }

    let read_back = |address: String, stored: Vec<(String, String)>| {
        let client = client.clone();
        async move {
            for (id, body) in stored {
                let response = client.get(format!("{address}/{id}")).send().await.unwrap();
                assert_eq!(response.status(), 200, "{id} was acknowledged, then lost");
                assert!(response.text().await.unwrap() == body, "{id} changed");
            }
        }
    };
    read_back(app.address.clone(), stored.clone()).await;
    assert!(refused >= 5, "the disk never filled: {refused} refused");
    assert!(stored.len() >= 3, "only {} uploads stored", stored.len());
    let log = std::fs::read_to_string(log_dir.path().join("logpaste.log")).unwrap();
    assert!(
        log.contains("the disk holding the database is full; free some space"),
        "{log}"
    );

    // Checkpoints fail every second, and after every upload and health check, while the
    // disk is full: one warning per streak of failures says so.
    let log_path = log_dir.path().join("logpaste.log");
    for _ in 0..5 {
        assert_eq!(app.put("x".repeat(400_000)).await.status(), 507);
        let _ = reqwest::get(format!("{}/healthz", app.address)).await;
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    }
    let log = std::fs::read_to_string(&log_path).unwrap();
    let warnings = log
        .lines()
        .filter(|line| line.contains("WARN") && line.contains("checkpoint"))
        .count();
    let streaks_ended = log.matches("checkpoints work again").count();
    assert!(warnings >= 1, "no warning while the disk was full: {log}");
    assert!(warnings <= streaks_ended + 1, "{warnings} warnings: {log}");

    disk.resize("16m");
    for seed in 100..103 {
        let body = log_text(seed, 300_000);
        let response = app.put(body.clone()).await;
        assert_eq!(response.status(), 200, "uploads fail after space was freed");
        let json: serde_json::Value = response.json().await.unwrap();
        stored.push((json["id"].as_str().unwrap().to_string(), body));
    }

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !std::fs::read_to_string(&log_path)
        .unwrap()
        .contains("checkpoints work again")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "checkpoints never resumed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    app.signal("KILL");
    drop(app);
    let app = start(crate::common::free_port()).await;
    read_back(app.address.clone(), stored).await;
}

/// Deleting or replacing the database or its WAL under the running app (a clean-up script,
/// a restore by hand) left it committing to unlinked files: uploads were answered 200 and
/// lost, and the health check stayed 200. Now such uploads get 503 and the check fails.
#[tokio::test]
async fn files_removed_under_the_running_app_refuse_uploads_and_fail_the_health_check() {
    for removed in [&["-wal"][..], &["", "-wal", "-shm"][..]] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("store.db");
        let options = AppOptions {
            db_path: Some(db.clone()),
            ..Default::default()
        };
        let app = spawn_app_with(options).await;
        app.put_ok("before the removal").await;
        for suffix in removed {
            std::fs::remove_file(format!("{}{suffix}", db.display())).unwrap();
        }
        let response = app.put("after the removal").await;
        assert_eq!(response.status(), 503, "removed {removed:?}");
        assert_eq!(
            response.text().await.unwrap(),
            "storage is unavailable, please try again later\n"
        );
        assert_eq!(
            app.get("/healthz").await.status(),
            503,
            "removed {removed:?}"
        );
        app.stop().await;
    }
}

/// The files can also go while a batch is committing, after the writer's check before the
/// commit: that batch went to unlinked files too, and must not be acknowledged either.
/// Another process holds the write lock, so the upload waits inside its transaction while
/// the files are removed; then the lock is let go and the upload commits.
#[tokio::test]
async fn an_upload_committed_while_its_files_are_removed_is_not_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let app = spawn_app_with(AppOptions {
        db_path: Some(db.clone()),
        ..Default::default()
    })
    .await;
    app.put_ok("before the removal").await;

    let holder = WriteLockHolder::take(&db).await;
    let upload = tokio::spawn(
        app.client
            .put(format!("{}/", app.address))
            .body("committed to removed files")
            .send(),
    );
    // Time for the upload to reach the writer and wait for the lock (the writer waits up
    // to 5 s). Had it not got there yet, the check before its commit refuses it: the
    // answer must be 503 either way.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for suffix in ["", "-wal", "-shm"] {
        std::fs::remove_file(format!("{}{suffix}", db.display())).unwrap();
    }
    holder.release();

    let response = upload.await.unwrap().unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.text().await.unwrap(),
        "storage is unavailable, please try again later\n"
    );
    assert_eq!(app.get("/healthz").await.status(), 503);
    app.stop().await;
}

/// Bytes the file system holding `path` still has for an unprivileged writer.
fn free_bytes(path: &std::path::Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: statvfs fills the zeroed struct from a NUL-terminated path.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut stat) }, 0);
    stat.f_bavail as u64 * stat.f_frsize as u64
}

/// When the WAL passes its 4,062nd page, SQLite grows the `-shm` file by 32 KiB; on a full
/// disk that fails as SQLITE_IOERR_SHMSIZE, not SQLITE_FULL. It is still a full disk: 507
/// and its message, not a 503 "storage is unavailable".
#[tokio::test]
async fn a_full_disk_met_while_the_wal_index_grows_is_still_a_full_disk() {
    const WAL_FRAME: u64 = 4096 + 24;
    const FRAMES_IN_FIRST_INDEX_BLOCK: u64 = 4062;
    let disk = SmallDisk::mount("24m");
    let db = disk.dir.path().join("store.db");
    // Replicated: checkpoints are Litestream's (not running here), so the WAL only grows.
    let app = spawn_app_with(AppOptions {
        db_path: Some(db.clone()),
        replicated: true,
        ..Default::default()
    })
    .await;
    let wal = std::path::PathBuf::from(format!("{}-wal", db.display()));
    let frames = || {
        (std::fs::metadata(&wal)
            .map_or(0, |m| m.len())
            .saturating_sub(32))
            / WAL_FRAME
    };
    let mut seed = 0;
    // A commit of one small paste appends 2-3 pages.
    while frames() < FRAMES_IN_FIRST_INDEX_BLOCK - 3 {
        app.put_ok(log_text(seed, 1_000)).await;
        seed += 1;
    }
    // Leave room for the next commits' WAL pages, not for the index's next 32 KiB.
    let filler = disk.dir.path().join("filler");
    let room = 28 * 1024;
    std::fs::write(
        &filler,
        vec![0u8; (free_bytes(disk.dir.path()) - room) as usize],
    )
    .unwrap();

    let mut refused = 0;
    for _ in 0..20 {
        let response = app.put(log_text(seed, 1_000)).await;
        seed += 1;
        match response.status().as_u16() {
            200 => {}
            507 => refused += 1,
            other => panic!(
                "at WAL page {}: {other} {}",
                frames(),
                response.text().await.unwrap()
            ),
        }
    }
    assert!(
        refused > 0,
        "the disk never filled; WAL at page {}",
        frames()
    );
    std::fs::remove_file(&filler).unwrap();
    let id = app.put_ok("room again").await;
    assert_eq!(
        app.get(&format!("/{id}")).await.text().await.unwrap(),
        "room again"
    );
    app.stop().await;
}

/// An ext4 file system on a loop device (mounting needs root; CI runs as root), mounted
/// with `errors=remount-ro` as many hosts mount their data disks; unmounted on drop.
struct LoopExt4 {
    dir: tempfile::TempDir,
    device: String,
}

impl LoopExt4 {
    fn mount() -> LoopExt4 {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("disk.img");
        std::fs::File::create(&image)
            .unwrap()
            .set_len(32 * 1024 * 1024)
            .unwrap();
        let mkfs = Command::new("mkfs.ext4")
            .args(["-q", "-F"])
            .arg(&image)
            .status()
            .expect("mkfs.ext4 runs");
        assert!(mkfs.success(), "mkfs.ext4 failed");
        let losetup = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(&image)
            .output()
            .expect("losetup runs");
        assert!(
            losetup.status.success(),
            "losetup needs root; CI runs as root"
        );
        let device = String::from_utf8(losetup.stdout)
            .unwrap()
            .trim()
            .to_string();
        std::fs::create_dir(dir.path().join("mnt")).unwrap();
        let mount = Command::new("mount")
            .args(["-o", "errors=remount-ro", &device])
            .arg(dir.path().join("mnt"))
            .status()
            .expect("mount runs");
        let disk = LoopExt4 { dir, device };
        assert!(mount.success(), "mounting {} failed", disk.device);
        disk
    }

    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("mnt")
    }

    /// What ext4 does on a disk error: with errors=remount-ro, it goes read-only at once,
    /// files open for writing included.
    fn fail(&self) {
        let name = self.device.trim_start_matches("/dev/");
        std::fs::write(format!("/sys/fs/ext4/{name}/trigger_fs_error"), "test\n")
            .expect("the kernel's ext4 has trigger_fs_error");
    }
}

impl Drop for LoopExt4 {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
        let _ = Command::new("losetup").arg("-d").arg(&self.device).status();
    }
}

/// The file system holding the database turns read-only under the running app (ext4's
/// errors=remount-ro after a disk error). Every upload fails with 503, so the health check
/// must fail too, for the platform to notice; it used to say ok, as reads and the write
/// lock (taken in the already open `-shm` file) still worked.
#[tokio::test]
async fn a_file_system_gone_read_only_under_the_app_fails_the_health_check() {
    let disk = LoopExt4::mount();
    let db = disk.path().join("store.db");
    let app = spawn_app_with(AppOptions {
        db_path: Some(db.clone()),
        ..Default::default()
    })
    .await;
    let id = app.put_ok("before the disk error").await;
    assert_eq!(app.get("/healthz").await.status(), 200);

    disk.fail();
    let response = app.put("after the disk error").await;
    assert_eq!(response.status(), 503);
    assert_eq!(
        app.get("/healthz").await.status(),
        503,
        "uploads fail, yet the health check says ok"
    );
    // What was stored can still be read.
    assert_eq!(
        app.get(&format!("/{id}")).await.text().await.unwrap(),
        "before the disk error"
    );
    app.stop().await;
}

/// The WAL deleted under the running app while Litestream owns checkpoints (so nothing
/// has copied the latest pastes into the database file): the pastes acknowledged before
/// the deletion live only in the unlinked WAL the app still holds open. A graceful stop
/// copied them over as SQLite closed, but a crash (here kill -9) lost every one. The
/// writer now copies the WAL it holds into the database file as soon as it sees it gone.
#[tokio::test]
async fn pastes_acknowledged_before_the_wal_was_deleted_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let port = crate::common::free_port();
    let mut command = crate::common::binary_command(&db, port);
    // Replicated: checkpoints are Litestream's (not running here), so the app makes none.
    command.env("DB_REPLICA_URL", "s3://bucket/logpaste");
    let app = crate::common::spawn_binary(command, &db, port).await;
    let mut stored = Vec::new();
    for seed in 0..20 {
        let body = log_text(seed, 2_000);
        let response = app.put(body.clone()).await;
        assert_eq!(response.status(), 200);
        let json: serde_json::Value = response.json().await.unwrap();
        stored.push((json["id"].as_str().unwrap().to_string(), body));
    }
    std::fs::remove_file(format!("{}-wal", db.display())).unwrap();
    assert_eq!(app.put("after the deletion").await.status(), 503);
    app.signal("KILL");
    drop(app);

    let port = crate::common::free_port();
    let app =
        crate::common::spawn_binary(crate::common::binary_command(&db, port), &db, port).await;
    let client = reqwest::Client::new();
    for (id, body) in stored {
        let response = client
            .get(format!("{}/{id}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{id} was acknowledged, then lost");
        assert!(response.text().await.unwrap() == body, "{id} changed");
    }
}

/// After a commit failed for a passing reason (here another process held the write lock
/// for longer than the writer waits), the health check's own write works and it says ok
/// again, without any upload: it does not stay at 503, and its write changes nothing.
#[tokio::test]
async fn after_a_passing_commit_failure_the_health_check_recovers_on_its_own() {
    let app = spawn_app().await;
    let version_before = sqlite3(&app.db_path, "PRAGMA user_version;");
    let holder = WriteLockHolder::take(&app.db_path).await;
    assert_eq!(app.put("waits for the lock").await.status(), 503);
    holder.release();
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(
        sqlite3(&app.db_path, "PRAGMA user_version;"),
        version_before
    );
    app.put_ok("the writer takes uploads again").await;
}

/// A full disk refuses uploads with 507, and the health check stays 200 (the database
/// answers, the write lock is taken: restarting the app frees no space), whether or not
/// uploads are arriving. A health check that reached the writer together with uploads
/// used to get their failure, so under a steady flow of uploads it answered 503 and the
/// platform restarted an app that a restart cannot help.
#[tokio::test]
async fn a_full_disk_under_a_flow_of_uploads_keeps_the_health_check_at_200() {
    let disk = SmallDisk::mount("2m");
    let db = disk.dir.path().join("store.db");
    let app = spawn_app_with(AppOptions {
        db_path: Some(db),
        ..Default::default()
    })
    .await;
    let filler = disk.dir.path().join("filler");
    std::fs::write(
        &filler,
        vec![0u8; free_bytes(disk.dir.path()).saturating_sub(8 * 1024) as usize],
    )
    .unwrap();
    let flowing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let uploaders: Vec<_> = (0..8)
        .map(|n| {
            let (client, address) = (app.client.clone(), app.address.clone());
            let flowing = flowing.clone();
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                while flowing.load(std::sync::atomic::Ordering::Relaxed) {
                    let response = client
                        .put(format!("{address}/"))
                        .body(log_text(n, 200_000))
                        .send()
                        .await
                        .unwrap();
                    statuses.push(response.status().as_u16());
                }
                statuses
            })
        })
        .collect();
    let mut health = Vec::new();
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        health.push(app.get("/healthz").await.status().as_u16());
    }
    flowing.store(false, std::sync::atomic::Ordering::Relaxed);
    for uploader in uploaders {
        let statuses = uploader.await.unwrap();
        assert!(statuses.iter().all(|&s| s == 507), "{statuses:?}");
    }
    assert!(
        health.iter().all(|&s| s == 200),
        "health checks: {health:?}"
    );
    std::fs::remove_file(&filler).unwrap();
    app.put_ok("room again").await;
    app.stop().await;
}

/// GETs on an HTTP worker share one read snapshot per scheduler tick (store.rs), which may
/// have begun before a paste was committed: the GET right after its PUT still finds it,
/// while other clients keep both workers reading.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paste_reads_back_at_once_while_other_reads_keep_the_workers_busy() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let app = spawn_app().await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    // Every request and the whole test are bounded in time: a hung server fails, not hangs.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for _ in 0..32 {
        let (client, address, stop) = (client.clone(), app.address.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            let mut reads = 0u32;
            while !stop.load(Ordering::Relaxed) {
                // An unknown id is never cached: every GET is a read in the worker's snapshot.
                let response = client.get(format!("{address}/AbCdEfGh")).send().await;
                assert_eq!(response.unwrap().status(), 404);
                reads += 1;
            }
            reads
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let read_backs = async {
        for n in 0..300 {
            let body = format!("paste {n}");
            let id = app.put_ok(body.clone()).await;
            let back = app.get(&format!("/{id}")).await;
            assert_eq!(
                back.status(),
                200,
                "paste {n} not found right after its PUT"
            );
            assert_eq!(back.text().await.unwrap(), body);
        }
    };
    let finished = tokio::time::timeout(Duration::from_secs(120), read_backs).await;
    stop.store(true, Ordering::Relaxed);
    assert!(
        finished.is_ok(),
        "300 uploads and reads took over 2 minutes"
    );
    for reader in readers {
        assert!(reader.await.unwrap() > 0);
    }
}

/// A worker's read snapshot ends with its tick: once the reads stop, nothing holds the WAL,
/// and a checkpoint can copy all of it back and start it over (TRUNCATE waits for readers
/// and reports busy while one holds an old snapshot).
#[tokio::test]
async fn reads_leave_no_snapshot_open_once_they_stop() {
    let app = spawn_app().await;
    for n in 0..20 {
        let id = app.put_ok(format!("paste {n}")).await;
        assert_eq!(app.get(&format!("/{id}")).await.status(), 200);
        assert_eq!(app.get("/AbCdEfGh").await.status(), 404);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        // busy_timeout prints its value first; the checkpoint's "busy|log|copied" follows.
        let result = sqlite3(
            &app.db_path,
            "PRAGMA busy_timeout = 200; PRAGMA wal_checkpoint(TRUNCATE);",
        );
        if result
            .lines()
            .last()
            .is_some_and(|line| line.starts_with("0|"))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a reader still holds the WAL 5 s after the last GET: {result}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        sqlite3(&app.db_path, "SELECT count(*) FROM entries;"),
        "20\n"
    );
}
