//! The SQLite store: a pool of readers and one writer task that commits concurrent
//! uploads together, so that many uploads cost one transaction and one WAL sync.
//!
//! A paste is acknowledged only after the transaction holding it has committed.

use std::cell::RefCell;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Row};
use time::format_description::well_known::Rfc3339;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::allocator;
use crate::cache::PasteCache;
use crate::id;
use crate::paste_bytes::PasteBytes;
use crate::tick;
use crate::wal_writeback;

/// Most uploads committed in one transaction.
const MAX_BATCH: usize = 256;
/// Uploads waiting for the writer before new ones wait for room (back-pressure).
const QUEUE_DEPTH: usize = 1024;
/// Committed paste bytes between two checkpoints (without Litestream): about 500 pages,
/// half SQLite's default, as commits made during a checkpoint add to the WAL before it resets.
const CHECKPOINT_BYTES: usize = 2 * 1024 * 1024;
/// Committed paste bytes between two starts of the WAL's writeback (see wal_writeback.rs);
/// the WAL grows by 1 to 6 times as much (small pastes also rewrite a page of the id index).
const WRITEBACK_BYTES: usize = 1024 * 1024;
/// Longest time between two checkpoints (without Litestream).
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);
/// WAL size (pages of 4 KiB: 1 GiB) past which the checkpointer waits for a gap between
/// commits and starts the WAL over (RESTART), stalling uploads for tens to hundreds of
/// milliseconds. Only a flood with no pause gets there: about 7 s of the fastest flood
/// measured (BENCHMARKS.md), whose WAL is otherwise copied back in the background.
const WAL_LIMIT_PAGES: i64 = 256 * 1024;
/// A WAL file larger than this (left by a flood: SQLite reuses the file rather than
/// shrinking it) is cut back once nothing has been written for `WAL_TRIM_AFTER_IDLE`
/// (`trim_wal`). Cutting it while uploads go on would make the next flood allocate the
/// file again.
const WAL_FILE_KEPT_BYTES: u64 = 64 * 1024 * 1024;
const WAL_TRIM_AFTER_IDLE: Duration = Duration::from_secs(30);
/// Bytes cut off the WAL file under one hold of the write lock (see `trim_wal`). Cutting a
/// file takes time in proportion to what it frees: 800 MiB at once took 128 ms on this
/// machine's ext4, 32 MiB at most 7 ms.
const WAL_TRIM_STEP_BYTES: u64 = 16 * 1024 * 1024;
/// The WAL file format: a 32-byte header, then frames of a 24-byte header and one page.
const WAL_HEADER_BYTES: u64 = 32;
const WAL_FRAME_HEADER_BYTES: u64 = 24;
/// Silence after which the writer copies the last pages of the WAL itself, so the next
/// commit starts the WAL over. It takes two fsyncs, 10-50 ms while a flood keeps the disk
/// busy: doing it only when nobody has uploaded for this long keeps it out of their way.
const CATCH_UP_AFTER_IDLE: Duration = Duration::from_millis(5);
/// Longest wait between two tries for a lock another process holds (Litestream, while it
/// checkpoints). SQLite's own busy handler sleeps up to 100 ms a try, and so goes on sleeping
/// long after the lock is free; waking this often wastes little and wastes no time.
const BUSY_RETRY_MAX_SLEEP: Duration = Duration::from_millis(1);
/// Tries before a locked database is an error: about 5 s of waiting (see `retry_when_busy`).
const BUSY_RETRY_ATTEMPTS: i32 = 5_000;
/// Most rows in one INSERT statement (a power of two).
const ROWS_PER_STATEMENT: usize = 64;
/// Most paste bytes in one INSERT statement; a larger paste goes in a statement of its own.
/// Each bound paste is copied twice while its statement runs (sqlx's owned copy of the
/// argument, SQLite's copy of the binding): eight 2 MiB uploads in one statement held
/// 32 MiB besides the uploads themselves. 1 KiB pastes still go 64 to a statement.
const STATEMENT_PAYLOAD_BYTES: usize = 1024 * 1024;
/// Fresh ids tried for one paste before giving up; a clash is already a one-in-2^47 event.
const ID_ATTEMPTS: usize = 16;
/// Connections for the health check; paste reads have their own (see `PasteReaders`).
const READERS: u32 = 1;
/// Idle connections kept for paste reads off the HTTP workers (each worker has its own, see
/// `PasteReaders::with_connection`): one per thread that reads at the same time.
const IDLE_PASTE_READERS: usize = 8;
/// Memory kept for recently read pastes, so a paste read over and over (a shared link)
/// costs no database query. Small enough for a small container.
const CACHE_BYTES: usize = 8 * 1024 * 1024;
/// Larger pastes are always read from the database: one must not evict all the others.
const CACHE_MAX_PASTE_BYTES: usize = 1024 * 1024;
/// Pastes larger than the cache takes are read in slices of this size (see `read_in_slices`):
/// just under the mmap threshold, so each comes from the heap's free lists rather than a
/// fresh mapping, and large, as each slice is one write to the socket (server CPU per 2 MiB
/// response, against the whole paste in one piece: 32 KiB slices +20-30%, these +5-10%).
const READ_SLICE_BYTES: usize = allocator::MMAP_THRESHOLD_BYTES - 8 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the database folder {path}: {source}")]
    CreateFolder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create the database {path}: {source}")]
    CreateFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database {path}: {source}")]
    Open { path: PathBuf, source: sqlx::Error },
    #[error("cannot migrate the database {path}: {source}")]
    Migrate {
        path: PathBuf,
        source: sqlx::migrate::MigrateError,
    },
    #[error("the database {path} has an entries table logpaste cannot use (another app's?): it needs LogPaste's columns id, creation_time and contents: {source}")]
    ForeignTable { path: PathBuf, source: sqlx::Error },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database read error: {0}")]
    Read(#[from] rusqlite::Error),
    #[error("no free id found after {ID_ATTEMPTS} attempts")]
    IdsExhausted,
    #[error("the database writer has stopped")]
    WriterStopped,
    #[error("commit failed: {0}")]
    CommitFailed(String),
    #[error("the disk holding the database is full")]
    DiskFull,
    #[error("the database {path} is read-only: the app must be able to write it (check its owner, mode and mount)")]
    ReadOnly { path: PathBuf },
    #[error("{0} was deleted or replaced while the app ran: uploads are refused until the app restarts (with Litestream, restart the container so that it restores from the replica)")]
    FileReplaced(PathBuf),
}

impl StoreError {
    /// What the writer tells each upload of a batch that failed with `self`.
    fn for_each_upload(&self) -> StoreError {
        match self {
            StoreError::Database(err) if is_disk_full(err) => StoreError::DiskFull,
            other => StoreError::CommitFailed(other.to_string()),
        }
    }
}

/// SQLITE_FULL: the disk (or the file size limit) has no room for the write. Also
/// SQLITE_IOERR_SHMSIZE: the `-shm` file could not grow by its next 32 KiB, which on a
/// full disk is what a commit meets when the WAL crosses a multiple of ~4,000 pages.
fn is_disk_full(err: &sqlx::Error) -> bool {
    const SQLITE_FULL: i32 = 13;
    const SQLITE_IOERR_SHMSIZE: i32 = 10 | (19 << 8);
    err.as_database_error()
        .and_then(|err| err.code())
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == SQLITE_FULL || code == SQLITE_IOERR_SHMSIZE)
}

/// The database file and its WAL as the writer opened them. Someone deleting or replacing
/// them under a running app (a clean-up script, a restore by hand) leaves the writer
/// committing to files no path names any more: every upload would be answered and lost.
struct OpenedFiles {
    database: PathBuf,
    wal: PathBuf,
    database_id: Option<(u64, u64)>,
    wal_id: Option<(u64, u64)>,
}

impl OpenedFiles {
    fn new(database: &Path, wal: &Path) -> Self {
        OpenedFiles {
            database: database.to_path_buf(),
            wal: wal.to_path_buf(),
            database_id: file_id(database),
            wal_id: file_id(wal),
        }
    }

    /// Whether the WAL we opened is gone from its path while the database file is still
    /// the one we opened: the WAL's latest commits are then only in the unlinked file.
    fn wal_deleted(&self) -> bool {
        self.wal_id.is_some()
            && file_id(&self.wal).is_none()
            && self.database_id.is_some()
            && file_id(&self.database) == self.database_id
    }

    /// Err when a path no longer names the file opened (a WAL that did not exist yet is
    /// taken as it first appears).
    fn check(&mut self) -> Result<(), StoreError> {
        if self.database_id.is_none() || file_id(&self.database) != self.database_id {
            return Err(StoreError::FileReplaced(self.database.clone()));
        }
        match (self.wal_id, file_id(&self.wal)) {
            (None, now) => self.wal_id = now,
            (Some(opened), Some(now)) if opened == now => {}
            _ => return Err(StoreError::FileReplaced(self.wal.clone())),
        }
        Ok(())
    }
}

/// Device and inode of the file at `path`, or None when there is none.
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .ok()
        .map(|meta| (meta.dev(), meta.ino()))
}

/// What the writer task is asked to do.
enum WriterMessage {
    Insert {
        contents: Bytes,
        reply: oneshot::Sender<Result<String, StoreError>>,
    },
    /// Health check: answers once the writer could take the write lock.
    Ping {
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

#[derive(Clone)]
pub struct Store {
    readers: SqlitePool,
    paste_readers: Arc<PasteReaders>,
    writer: mpsc::Sender<WriterMessage>,
    cache: Arc<PasteCache>,
}

/// Owns the writer task; closing waits for queued uploads to commit.
pub struct StoreCloser {
    readers: SqlitePool,
    writer_task: JoinHandle<()>,
    writeback_task: JoinHandle<()>,
    checkpointer_task: Option<JoinHandle<()>>,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and runs the embedded migrations.
    /// `replicated`: Litestream owns checkpoints, so SQLite must not checkpoint on its own.
    pub async fn open(path: &Path, replicated: bool) -> Result<(Store, StoreCloser), StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateFolder {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        create_private_if_missing(path).map_err(|source| StoreError::CreateFile {
            path: path.to_path_buf(),
            source,
        })?;
        let open_error = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let base = SqliteConnectOptions::from_str("sqlite://")
            .map_err(open_error)?
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(false);

        // Commits never checkpoint: with Litestream it owns checkpoints, without it our
        // checkpointer task does them on a connection of its own (see run_checkpointer).
        let mut writer = base
            .clone()
            .create_if_missing(true)
            .pragma("wal_autocheckpoint", "0")
            .connect()
            .await
            .map_err(open_error)?;
        retry_soon_when_busy(&mut writer)
            .await
            .map_err(open_error)?;
        sqlx::migrate!("./migrations")
            .run(&mut writer)
            .await
            .map_err(|source| StoreError::Migrate {
                path: path.to_path_buf(),
                source,
            })?;

        // The migration only creates the table if missing: another app's `entries` would
        // pass it, and then every upload failed with 503 while the health check said ok.
        sqlx::query("SELECT id, creation_time, contents FROM entries LIMIT 0")
            .execute(&mut writer)
            .await
            .map_err(|source| StoreError::ForeignTable {
                path: path.to_path_buf(),
                source,
            })?;
        if is_read_only(&mut writer).await.map_err(open_error)? {
            // SQLite opens a file it may not write read-only without a word: every upload
            // would fail while reads and the health check went on as if all were well.
            return Err(StoreError::ReadOnly {
                path: path.to_path_buf(),
            });
        }
        let wal_path = PathBuf::from(format!("{}-wal", path.display()));
        let opened = OpenedFiles::new(path, &wal_path);
        let checkpointer = if replicated {
            None
        } else {
            let conn = base.clone().connect().await.map_err(open_error)?;
            let (wake, woken) = mpsc::channel(1);
            let signals = Arc::new(CheckpointSignals::new());
            let task = tokio::spawn(run_checkpointer(
                conn,
                woken,
                signals.clone(),
                wal_path.clone(),
            ));
            let wake = WakeEvery::new(wake, CHECKPOINT_BYTES);
            Some((Checkpointer { wake, signals }, task))
        };
        let (checkpointer, checkpointer_task) = checkpointer.unzip();

        let readers = SqlitePoolOptions::new()
            .min_connections(1)
            .max_connections(READERS)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(base.pragma("query_only", "1"))
            .await
            .map_err(open_error)?;

        let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
        let (writeback, writeback_task) = wal_writeback::start(wal_path);
        let writeback = WakeEvery::new(writeback, WRITEBACK_BYTES);
        let writer_task = tokio::spawn(run_writer(
            writer,
            receiver,
            checkpointer,
            writeback,
            opened,
        ));
        Ok((
            Store {
                readers: readers.clone(),
                paste_readers: Arc::new(PasteReaders::new(path)),
                writer: sender,
                cache: Arc::new(PasteCache::new(CACHE_BYTES, CACHE_MAX_PASTE_BYTES)),
            },
            StoreCloser {
                readers,
                writer_task,
                writeback_task,
                checkpointer_task,
            },
        ))
    }

    /// Stores a paste and returns its new id once the paste is committed.
    pub async fn insert(&self, contents: Bytes) -> Result<String, StoreError> {
        let (reply, response) = oneshot::channel();
        self.writer
            .send(WriterMessage::Insert { contents, reply })
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        response.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// The paste's bytes exactly as uploaded, or `None` for an unknown id.
    pub async fn fetch(&self, id: &str) -> Result<Option<PasteBytes>, StoreError> {
        if let Some(contents) = self.cache.get(id) {
            return Ok(Some(contents.into()));
        }
        Ok(match self.paste_readers.fetch(id)? {
            None => None,
            Some(Read::Whole(contents)) => {
                let contents = Bytes::from(contents);
                self.cache.insert(id, &contents);
                Some(contents.into())
            }
            Some(Read::Slices(slices)) => Some(PasteBytes::from_pieces(slices)),
        })
    }

    /// Whether a paste with this id is stored, without reading it (for a 304).
    pub async fn exists(&self, id: &str) -> Result<bool, StoreError> {
        if self.cache.get(id).is_some() {
            return Ok(true);
        }
        self.paste_readers.exists(id)
    }

    /// Whether the database answers: a read on the entries table, and the writer able to
    /// take the write lock (another process holding it would stall every upload).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1 FROM entries LIMIT 1")
            .fetch_optional(&self.readers)
            .await?;
        let (reply, response) = oneshot::channel();
        self.writer
            .send(WriterMessage::Ping { reply })
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        response.await.map_err(|_| StoreError::WriterStopped)?
    }
}

impl StoreCloser {
    /// Waits for every queued upload to commit, then closes all connections.
    /// Call after every `Store` clone has been dropped (the HTTP server has stopped).
    pub async fn close(self) {
        if let Err(err) = self.writer_task.await {
            tracing::error!(error = %err, "database writer task failed");
        }
        // The writer has dropped its end of the writeback's wake-up channel: that task ends.
        if let Err(err) = self.writeback_task.await {
            tracing::error!(error = %err, "WAL writeback task failed");
        }
        // The writer has dropped its end of the wake-up channel: the checkpointer ends.
        if let Some(task) = self.checkpointer_task {
            if let Err(err) = task.await {
                tracing::error!(error = %err, "checkpointer task failed");
            }
        }
        self.readers.close().await;
    }
}

/// A new database is readable by its owner only (Litestream runs as the same user): whoever
/// else can log in to the host must not read every paste. SQLite gives the -wal and -shm
/// files the database file's permissions. An existing file keeps its own.
fn create_private_if_missing(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err),
    }
}

/// Paste reads, run on the calling thread. A read by primary key takes microseconds when
/// its pages are in memory; sqlx would hand it to a connection's worker thread and wake
/// the caller when done, and on a busy 2-core machine those two wake-ups cost more than
/// the read (the GET profile was mostly futex wake-ups and context switches). A 2 MiB
/// paste read from disk holds the thread for a few milliseconds.
struct PasteReaders {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl PasteReaders {
    fn new(path: &Path) -> Self {
        PasteReaders {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        }
    }

    fn fetch(&self, id: &str) -> Result<Option<Read>, StoreError> {
        self.with_connection(|connection| {
            Ok(match read_whole_unless_large(connection, id)? {
                Some(Read::Slices(_)) => read_in_slices(connection, id)?.map(Read::Slices),
                whole_or_none => whole_or_none,
            })
        })
    }

    /// Whether the id is stored: a look in the id index, never the paste itself.
    fn exists(&self, id: &str) -> Result<bool, StoreError> {
        // As an Option (`Some(())` when stored): a miss is what sends a tick snapshot's read
        // to a fresh snapshot (see `with_connection`).
        self.with_connection(|connection| {
            Ok(connection
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM entries WHERE id = ?1)")?
                .query_row([id], |row| row.get::<_, bool>(0))?
                .then_some(()))
        })
        .map(|found| found.is_some())
    }

    /// Runs `read` on an HTTP worker's own connection, inside the read snapshot it keeps
    /// until the end of the scheduler tick, or elsewhere on a pooled connection in a
    /// snapshot of its own. Taking a snapshot costs more than the lookup (locks on the
    /// WAL's shared memory, `fcntl`, `fstat`), and under load a tick serves tens of GETs.
    /// A snapshot can only be older than the paste, never show it changed (pastes are never
    /// changed or deleted), so only a miss needs a look in a fresh one: a paste committed
    /// since the tick began, read back at once by its uploader.
    fn with_connection<T>(
        &self,
        read: impl Fn(&rusqlite::Connection) -> Result<Option<T>, rusqlite::Error>,
    ) -> Result<Option<T>, StoreError> {
        if let Some(found) = self.in_tick_snapshot(&read) {
            return found;
        }
        let connection = match self.lock().pop() {
            Some(connection) => connection,
            None => self.open()?,
        };
        let result = read(&connection)?;
        let mut idle = self.lock();
        if idle.len() < IDLE_PASTE_READERS {
            idle.push(connection);
        }
        Ok(result)
    }

    /// `None` off an HTTP worker (no tick to share a snapshot with).
    fn in_tick_snapshot<T>(
        &self,
        read: &impl Fn(&rusqlite::Connection) -> Result<Option<T>, rusqlite::Error>,
    ) -> Option<Result<Option<T>, StoreError>> {
        TICK_READER.with_borrow_mut(|slot| {
            if slot.as_ref().is_some_and(|reader| reader.path != self.path) {
                // A worker thread of another server in this process (tests): not ours.
                *slot = None;
            }
            if !tick::at_end(end_tick_snapshot) {
                return None;
            }
            let result = self.read_in_snapshot(slot, read);
            if result.is_err() {
                // Whatever state the failure left, the next read opens a new connection.
                *slot = None;
            }
            Some(result)
        })
    }

    fn read_in_snapshot<T>(
        &self,
        slot: &mut Option<TickReader>,
        read: &impl Fn(&rusqlite::Connection) -> Result<Option<T>, rusqlite::Error>,
    ) -> Result<Option<T>, StoreError> {
        let reader = match slot {
            Some(reader) => reader,
            None => slot.insert(TickReader {
                path: self.path.clone(),
                connection: self.open()?,
            }),
        };
        let connection = &reader.connection;
        let fresh = connection.is_autocommit();
        if fresh {
            // The snapshot itself begins with the first read.
            connection.execute_batch("BEGIN")?;
        }
        Ok(match read(connection)? {
            None if !fresh => {
                connection.execute_batch("COMMIT; BEGIN")?;
                read(connection)?
            }
            found => found,
        })
    }

    fn open(&self) -> Result<rusqlite::Connection, rusqlite::Error> {
        // The database exists (the writer created and migrated it): never create it here.
        let connection = rusqlite::Connection::open_with_flags(
            &self.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(Duration::from_secs(5))?;
        connection.pragma_update(None, "query_only", true)?;
        Ok(connection)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<rusqlite::Connection>> {
        // Only push and pop happen under the lock: a poisoned list is still a list.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

thread_local! {
    /// An HTTP worker's paste reader (see `PasteReaders::with_connection`).
    static TICK_READER: RefCell<Option<TickReader>> = const { RefCell::new(None) };
}

struct TickReader {
    path: PathBuf,
    connection: rusqlite::Connection,
}

/// Ends this worker's read snapshot, so that checkpoints can copy past it.
fn end_tick_snapshot() {
    let _ = TICK_READER.try_with(|slot| {
        let Ok(mut slot) = slot.try_borrow_mut() else {
            return;
        };
        let ended = match slot.as_ref() {
            Some(reader) if !reader.connection.is_autocommit() => {
                reader.connection.execute_batch("COMMIT")
            }
            _ => Ok(()),
        };
        if let Err(err) = ended {
            tracing::warn!(error = %err, "could not end a read snapshot; reopening the reader");
            *slot = None;
        }
    });
}

/// What a paste read gave: the paste in one buffer, or a large one in slices.
enum Read {
    Whole(Vec<u8>),
    Slices(Vec<Bytes>),
}

/// The paste in one buffer if the cache would take it; for a larger one only the news that
/// it is large (`Read::Slices`, empty), without loading it: `octet_length` of a column reads
/// just the record header.
fn read_whole_unless_large(
    connection: &rusqlite::Connection,
    id: &str,
) -> Result<Option<Read>, rusqlite::Error> {
    // CAST to BLOB: LogPaste stored arbitrary bytes as TEXT; reading them as a blob
    // returns them unchanged, invalid UTF-8 and NUL bytes included.
    let mut statement = connection.prepare_cached(
        "SELECT octet_length(contents) > ?2, \
         CASE WHEN octet_length(contents) > ?2 THEN NULL ELSE CAST(contents AS BLOB) END \
         FROM entries WHERE id = ?1",
    )?;
    let mut rows = statement.query(rusqlite::params![id, CACHE_MAX_PASTE_BYTES as i64])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    if row.get::<_, Option<bool>>(0)? == Some(true) {
        return Ok(Some(Read::Slices(Vec::new())));
    }
    Ok(Some(Read::Whole(
        row.get::<_, Option<Vec<u8>>>(1)?.unwrap_or_default(),
    )))
}

/// A large paste, read with incremental blob I/O straight into `READ_SLICE_BYTES` buffers.
/// Reading the column whole costs SQLite's own buffer of the whole paste plus our copy of
/// it, and a multi-MiB allocation each time (glibc maps and unmaps those, see allocator.rs:
/// page faults on every read halved GET 2 MiB); slices come from the allocator's free lists
/// and are released one by one as the response goes out.
/// Blob I/O reads TEXT values byte for byte, as stored.
fn read_in_slices(
    connection: &rusqlite::Connection,
    id: &str,
) -> Result<Option<Vec<Bytes>>, rusqlite::Error> {
    // One read transaction: the rowid found is the row read (a worker's tick snapshot is
    // one already).
    let transaction = if connection.is_autocommit() {
        Some(connection.unchecked_transaction()?)
    } else {
        None
    };
    let rowid: Option<i64> = connection
        .prepare_cached("SELECT rowid FROM entries WHERE id = ?1")?
        .query_row([id], |row| row.get(0))
        .map(Some)
        .or_else(|err| match err {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            err => Err(err),
        })?;
    let Some(rowid) = rowid else {
        return Ok(None);
    };
    let blob = connection.blob_open(
        rusqlite::DatabaseName::Main,
        "entries",
        "contents",
        rowid,
        true,
    )?;
    let len = blob.len();
    let mut slices = Vec::with_capacity(len.div_ceil(READ_SLICE_BYTES));
    for start in (0..len).step_by(READ_SLICE_BYTES) {
        let slice_len = READ_SLICE_BYTES.min(len - start);
        let mut slice: Vec<u8> = Vec::with_capacity(slice_len);
        // Read into the fresh buffer as it is: zeroing it first cost 3% of a GET's CPU.
        blob.raw_read_at_exact(&mut slice.spare_capacity_mut()[..slice_len], start)?;
        // SAFETY: raw_read_at_exact returned Ok, so it initialized all `slice_len` bytes.
        unsafe { slice.set_len(slice_len) };
        slices.push(Bytes::from(slice));
    }
    drop(blob);
    if let Some(transaction) = transaction {
        transaction.commit()?;
    }
    Ok(Some(slices))
}

/// Wakes a background task each time `every` more bytes of pastes have been committed.
struct WakeEvery {
    wake: mpsc::Sender<()>,
    every: usize,
    committed: usize,
}

impl WakeEvery {
    fn new(wake: mpsc::Sender<()>, every: usize) -> Self {
        WakeEvery {
            wake,
            every,
            committed: 0,
        }
    }

    fn committed(&mut self, bytes: usize) {
        self.committed += bytes;
        if self.committed >= self.every {
            self.committed = 0;
            // Full: a pass is already due, and it will take these pages too.
            let _ = self.wake.try_send(());
        }
    }
}

/// The writer's side of the checkpointer (without Litestream).
struct Checkpointer {
    wake: WakeEvery,
    signals: Arc<CheckpointSignals>,
}

/// What the writer and the checkpointer (without Litestream) tell each other.
struct CheckpointSignals {
    /// Set by the checkpointer after each pass: the WAL is copied up to a recent commit.
    pass_done: AtomicBool,
    /// When the writer last committed uploads, in milliseconds since `epoch`.
    last_commit_ms: AtomicU64,
    epoch: Instant,
    /// A checkpoint (of any kind, by the checkpointer or the writer) failed, and none has
    /// worked since: a full disk fails them every second and after every upload.
    failing: AtomicBool,
}

impl CheckpointSignals {
    fn new() -> Self {
        CheckpointSignals {
            pass_done: AtomicBool::new(false),
            last_commit_ms: AtomicU64::new(0),
            failing: AtomicBool::new(false),
            epoch: Instant::now(),
        }
    }

    fn committed(&self) {
        let now = self.epoch.elapsed().as_millis() as u64;
        self.last_commit_ms.store(now, Ordering::Relaxed);
    }

    /// Logs a checkpoint's failure once per streak of failures, and the streak's end.
    fn report<T>(&self, what: &str, outcome: &Result<T, sqlx::Error>) {
        match outcome {
            Ok(_) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("checkpoints work again");
                }
            }
            Err(err) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %err, "{what} failed; said once until a checkpoint works again");
                } else {
                    tracing::debug!(error = %err, "{what} failed");
                }
            }
        }
    }

    /// Time since the writer last committed uploads (or since the store opened).
    fn quiet_for(&self) -> Duration {
        let last_commit = Duration::from_millis(self.last_commit_ms.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(last_commit)
    }
}

async fn run_writer(
    mut conn: SqliteConnection,
    mut queue: mpsc::Receiver<WriterMessage>,
    mut checkpointer: Option<Checkpointer>,
    mut writeback: WakeEvery,
    mut opened: OpenedFiles,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // The last commit failed for another reason than a full disk (an I/O error, a file
    // system gone read-only) and none has worked since. Taking the write lock writes
    // nothing, so it still works then: health checks must try a real write instead.
    let mut writes_failing = false;
    let mut wal_rescued = false;
    loop {
        // recv_many waits for one message, then takes every other one already waiting.
        let catch_up_due = checkpointer
            .as_ref()
            .filter(|c| c.signals.pass_done.load(Ordering::Relaxed));
        let received = match catch_up_due {
            Some(checkpointer) => {
                let next = queue.recv_many(&mut batch, MAX_BATCH);
                match tokio::time::timeout(CATCH_UP_AFTER_IDLE, next).await {
                    Ok(received) => received,
                    Err(_silence) => {
                        catch_up(&mut conn, checkpointer).await;
                        continue;
                    }
                }
            }
            None => queue.recv_many(&mut batch, MAX_BATCH).await,
        };
        if received == 0 {
            break; // every Store is gone and the queue is empty
        }
        let mut uploads = Vec::with_capacity(batch.len());
        let mut pings = Vec::new();
        for message in batch.drain(..) {
            match message {
                WriterMessage::Insert { contents, reply } => uploads.push((contents, reply)),
                WriterMessage::Ping { reply } => pings.push(reply),
            }
        }
        // Checked before (a database file replaced under a WAL that stays must not take
        // our frames) and after (committed to files that are gone is not stored): no upload
        // is acknowledged, and the health check fails so that the platform restarts us.
        let outcome = match opened.check() {
            Err(err) => Err(err),
            Ok(()) if uploads.is_empty() && writes_failing => {
                commit_probe(&mut conn).await.map(|()| Vec::new())
            }
            Ok(()) if uploads.is_empty() => take_write_lock(&mut conn).await.map(|()| Vec::new()),
            Ok(()) => commit_batch(&mut conn, &uploads).await,
        };
        let outcome = outcome.and_then(|ids| opened.check().map(|()| ids));
        if outcome.is_err() && !wal_rescued && opened.wal_deleted() {
            wal_rescued = true;
            rescue_deleted_wal(&mut conn).await;
        }
        if !uploads.is_empty() || writes_failing {
            writes_failing = match &outcome {
                Ok(_) => false,
                Err(err) => !matches!(err.for_each_upload(), StoreError::DiskFull),
            };
        }
        if outcome.is_ok() && !uploads.is_empty() {
            let committed = uploads.iter().map(|(c, _)| c.len()).sum::<usize>();
            writeback.committed(committed);
            if let Some(checkpointer) = &mut checkpointer {
                checkpointer.signals.committed();
                checkpointer.wake.committed(committed);
            }
        }
        match outcome {
            Ok(ids) => {
                for ((_, reply), id) in uploads.into_iter().zip(ids) {
                    // The client may have gone away; its paste is stored all the same.
                    let _ = reply.send(Ok(id));
                }
                for reply in pings {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(err) => {
                tracing::error!(error = %err, uploads = uploads.len(), "write failed");
                for (_, reply) in uploads {
                    let _ = reply.send(Err(err.for_each_upload()));
                }
                // A full disk is the uploads' failure, not the health check's: the write
                // lock was taken, and a restart frees no space. Answered with the uploads,
                // a check got 503 under a flow of uploads and 200 between them.
                let for_ping = || match err.for_each_upload() {
                    StoreError::DiskFull => Ok(()),
                    other => Err(other),
                };
                for reply in pings {
                    let _ = reply.send(for_ping());
                }
            }
        }
    }
    if let Err(err) = conn.close().await {
        tracing::warn!(error = %err, "closing the writer connection failed");
    }
}

/// The WAL was deleted under us: the pastes it holds (acknowledged, and with Litestream not
/// yet copied back by any checkpoint) would go with the unlinked file at the next crash.
/// The writer still holds it open, so it copies it into the database file now.
async fn rescue_deleted_wal(conn: &mut SqliteConnection) {
    match checkpoint(conn, "PASSIVE").await {
        Ok(wal_pages) => tracing::warn!(
            wal_pages,
            "the WAL was deleted under the app: its pages were copied into the database file"
        ),
        Err(err) => tracing::error!(
            error = %err,
            "the WAL was deleted under the app and its pages could not be copied into the database file: pastes since the last checkpoint are lost at the next restart"
        ),
    }
}

/// Commits made while the checkpointer copied keep the WAL from starting over: the writer
/// copies those last pages itself, between two commits, once uploads have paused for
/// `CATCH_UP_AFTER_IDLE`; the next commit then starts the WAL over. A flood that never
/// pauses only grows the WAL (copied back in the background) up to `WAL_LIMIT_PAGES`.
async fn catch_up(conn: &mut SqliteConnection, checkpointer: &Checkpointer) {
    checkpointer
        .signals
        .pass_done
        .store(false, Ordering::Relaxed);
    let outcome = checkpoint(conn, "PASSIVE").await;
    checkpointer
        .signals
        .report("checkpoint between commits", &outcome);
}

/// Copies the WAL into the database file each time the writer has committed
/// `CHECKPOINT_BYTES`, and once a second in any case,
/// so a pause in uploads leaves a fully copied WAL that the next commit starts over.
/// SQLite's automatic checkpoint would run inside a commit, and every upload queued behind
/// that commit would wait for the page copy and the fsync; a PASSIVE checkpoint on a
/// connection of its own runs while uploads go on committing.
async fn run_checkpointer(
    mut conn: SqliteConnection,
    mut woken: mpsc::Receiver<()>,
    signals: Arc<CheckpointSignals>,
    wal_path: PathBuf,
) {
    let mut previous_wal_pages = 0;
    loop {
        if let Ok(None) = tokio::time::timeout(CHECKPOINT_INTERVAL, woken.recv()).await {
            break; // the writer has stopped
        }
        // Quiet for a while after a flood: give the WAL file's space back. "Quiet" is the
        // writer's own clock, read now: judged from the last pass, as it was, uploads that
        // had just resumed met the truncation.
        if signals.quiet_for() >= WAL_TRIM_AFTER_IDLE
            && std::fs::metadata(&wal_path).is_ok_and(|m| m.len() > WAL_FILE_KEPT_BYTES)
        {
            // Outside the lock, what the truncation would otherwise spend half its time on.
            let path = wal_path.clone();
            if let Err(err) = off_the_runtime(move || wal_writeback::drop_cached_pages(&path)).await
            {
                tracing::debug!(error = %err, "dropping the WAL's cached pages failed");
            }
            let outcome = trim_wal(&mut conn, &wal_path, || {}).await;
            signals.report("cutting the WAL file back", &outcome);
        }
        let outcome = checkpoint(&mut conn, "PASSIVE").await;
        signals.report("checkpoint", &outcome);
        if let Ok(wal_pages) = outcome {
            // The WAL changed since the last pass: something was written.
            let grew = wal_pages != previous_wal_pages;
            // Commits that never pause keep a PASSIVE checkpoint from ever resetting
            // the WAL; past the limit, and if it grew since the last time (no pause
            // yet), wait for a gap between commits (RESTART).
            previous_wal_pages = if grew && wal_pages > WAL_LIMIT_PAGES {
                let outcome = checkpoint(&mut conn, "RESTART").await;
                signals.report("checkpoint (restart)", &outcome);
                outcome.unwrap_or(wal_pages)
            } else {
                wal_pages
            };
        }
        signals.pass_done.store(true, Ordering::Relaxed);
    }
    if let Err(err) = conn.close().await {
        tracing::warn!(error = %err, "closing the checkpointer connection failed");
    }
}

/// Replaces SQLite's busy handler on `conn` with `retry_when_busy`. Litestream takes the
/// write lock for every checkpoint it makes, for up to hundreds of milliseconds under a
/// flood of uploads; the writer should start again as soon as the lock is free.
async fn retry_soon_when_busy(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is the open connection `handle` gives exclusive use of while it lives;
    // the handler is a plain function that keeps no state.
    let code = unsafe {
        rusqlite::ffi::sqlite3_busy_handler(db, Some(retry_when_busy), std::ptr::null_mut())
    };
    if code != rusqlite::ffi::SQLITE_OK {
        return Err(sqlx::Error::Protocol(format!(
            "cannot set the busy handler (SQLite code {code})"
        )));
    }
    Ok(())
}

/// SQLite's busy handler: sleeps 50 µs, then twice as long each try up to
/// `BUSY_RETRY_MAX_SLEEP`, and gives up (SQLITE_BUSY) after `BUSY_RETRY_ATTEMPTS` tries.
extern "C" fn retry_when_busy(
    _: *mut std::ffi::c_void,
    attempts: std::ffi::c_int,
) -> std::ffi::c_int {
    if attempts >= BUSY_RETRY_ATTEMPTS {
        return 0;
    }
    let sleep = Duration::from_micros(50 << attempts.clamp(0, 5)).min(BUSY_RETRY_MAX_SLEEP);
    std::thread::sleep(sleep);
    1
}

/// Runs a checkpoint; returns the pages in the WAL.
async fn checkpoint(conn: &mut SqliteConnection, mode: &str) -> Result<i64, sqlx::Error> {
    let started = Instant::now();
    let row = sqlx::query(&format!("PRAGMA wal_checkpoint({mode})"))
        .fetch_one(&mut *conn)
        .await?;
    let (busy, wal_pages, copied): (i64, i64, i64) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    let ms = started.elapsed().as_millis() as u64;
    tracing::debug!(mode, busy, wal_pages, copied, ms, "checkpoint");
    Ok(wal_pages)
}

/// Gives the space of a large WAL file back, `WAL_TRIM_STEP_BYTES` at a time. A TRUNCATE
/// checkpoint does it in one `ftruncate` under the write lock: 120-170 ms for the 700-800
/// MiB a flood leaves (0.76 s once on a busy machine), every upload waiting. Here each cut
/// holds the lock for one step, and uploads take it in between.
///
/// Cutting is safe past the frames in use: readers read no frame past the WAL's last valid
/// one, and while the cut holds the write lock, nobody adds one. A write that changes
/// nothing first starts the WAL over (SQLite does so at the first write after a complete
/// checkpoint, unless a reader still reads from the WAL), so that the frames in use are
/// its first few; if it could not, they are all of it and nothing is cut. A commit by
/// another connection between the count and a cut ends the cutting (`data_version`
/// changes): its frames may lie past the count. Answers the file's size afterwards, or
/// None if it stopped so; the next quiet spell goes on from there.
async fn trim_wal(
    conn: &mut SqliteConnection,
    wal_path: &Path,
    mut between_cuts: impl FnMut(),
) -> Result<Option<u64>, sqlx::Error> {
    // Copies what is left, so that the write below finds the WAL complete.
    checkpoint(conn, "PASSIVE").await?;
    write_without_change(conn).await?;
    // Read before the count of frames, so that any commit it misses changes this.
    let data_version: i64 = sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(&mut *conn)
        .await?;
    let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(&mut *conn)
        .await?;
    let (Ok(frames), Ok(page_size)) = (
        u64::try_from(checkpoint(conn, "PASSIVE").await?),
        u64::try_from(page_size),
    ) else {
        return Ok(None); // not in WAL mode: nothing to cut
    };
    let in_use = WAL_HEADER_BYTES + frames * (WAL_FRAME_HEADER_BYTES + page_size);
    let started_at = std::fs::metadata(wal_path)?.len();
    let mut size = started_at;
    while size > in_use {
        let cut_to = size.saturating_sub(WAL_TRIM_STEP_BYTES).max(in_use);
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        let cut = async {
            let now: i64 = sqlx::query_scalar("PRAGMA data_version")
                .fetch_one(&mut *conn)
                .await?;
            if now != data_version {
                return Ok(false);
            }
            let path = wal_path.to_path_buf();
            off_the_runtime(move || {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)?
                    .set_len(cut_to)
            })
            .await?;
            Ok::<_, sqlx::Error>(true)
        }
        .await;
        // The transaction wrote nothing: ending it only lets the write lock go.
        let released = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        if !cut? {
            tracing::debug!(
                from = started_at,
                to = size,
                "WAL file cut back in part: another commit came"
            );
            return Ok(None);
        }
        released?;
        size = cut_to;
        between_cuts();
    }
    tracing::debug!(from = started_at, to = size, "WAL file cut back");
    Ok(Some(size))
}

/// Runs a blocking file operation on tokio's blocking threads. The writer shares its
/// runtime (a single thread) with the checkpointer: dropping a flood's WAL from the page
/// cache (~190 ms) done in place held back every upload for as long.
async fn off_the_runtime<T: Send + 'static>(
    operation: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(operation)
        .await
        .unwrap_or_else(|err| Err(std::io::Error::other(err)))
}

/// Whether SQLite opened the database read-only (a file or mount it may not write).
async fn is_read_only(conn: &mut SqliteConnection) -> Result<bool, sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is the open connection `handle` gives exclusive use of while it lives;
    // the name is a NUL-terminated literal.
    let read_only = unsafe { rusqlite::ffi::sqlite3_db_readonly(db, c"main".as_ptr()) };
    Ok(read_only == 1)
}

// The writer's transactions are plain BEGIN/COMMIT/ROLLBACK statements, not sqlx's
// `Transaction`: when a COMMIT fails (a full disk), SQLite may or may not have rolled back
// already, and sqlx's count of open transactions goes wrong either way. Its next
// "transaction" was then a savepoint inside one that never committed: uploads were
// acknowledged and lost. A ROLLBACK after every failure is what SQLite's documentation
// asks for; it fails harmlessly when SQLite already rolled back, and if a transaction
// stayed open regardless, the next BEGIN fails instead of acknowledging anything.

/// Takes and releases the write lock, writing nothing.
async fn take_write_lock(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    sqlx::query("ROLLBACK").execute(&mut *conn).await?;
    Ok(())
}

/// Commits a transaction that changes nothing but still writes a page (the header's
/// user_version, set to what it is): whether the WAL can be written again.
async fn commit_probe(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    let outcome = async {
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        write_without_change(conn).await?;
        sqlx::query("COMMIT").execute(&mut *conn).await?;
        Ok(())
    }
    .await;
    rolled_back_if_failed(conn, outcome).await
}

/// Writes a page and changes nothing: the header's user_version, set to what it is.
async fn write_without_change(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query(&format!("PRAGMA user_version = {version}"))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Rolls back the transaction a failed write left open, so that the connection goes on.
async fn rolled_back_if_failed<T>(
    conn: &mut SqliteConnection,
    outcome: Result<T, StoreError>,
) -> Result<T, StoreError> {
    if outcome.is_err() {
        if let Err(err) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
            tracing::debug!(error = %err, "rollback after a failed write");
        }
    }
    outcome
}

async fn commit_batch(
    conn: &mut SqliteConnection,
    uploads: &[(Bytes, oneshot::Sender<Result<String, StoreError>>)],
) -> Result<Vec<String>, StoreError> {
    let outcome = insert_and_commit(conn, uploads).await;
    rolled_back_if_failed(conn, outcome).await
}

async fn insert_and_commit(
    conn: &mut SqliteConnection,
    uploads: &[(Bytes, oneshot::Sender<Result<String, StoreError>>)],
) -> Result<Vec<String>, StoreError> {
    let created = creation_time();
    sqlx::query("BEGIN").execute(&mut *conn).await?;
    let mut ids: Vec<Option<String>> = vec![None; uploads.len()];
    for _ in 0..ID_ATTEMPTS {
        // Fresh ids for every upload still without one, distinct within the batch, so the
        // ids the database returns say exactly which uploads went in.
        let mut drawn = HashSet::new();
        let candidates: Vec<(usize, String)> = (0..uploads.len())
            .filter(|&upload| ids[upload].is_none())
            .map(|upload| loop {
                let id = id::generate();
                if drawn.insert(id.clone()) {
                    break (upload, id);
                }
            })
            .collect();
        if candidates.is_empty() {
            break;
        }
        let inserted = insert_rows(conn, &created, uploads, &candidates).await?;
        for (upload, id) in candidates {
            if inserted.contains(&id) {
                ids[upload] = Some(id);
            } else {
                tracing::warn!("id collision, drawing another id");
            }
        }
    }
    let ids = ids
        .into_iter()
        .collect::<Option<Vec<String>>>()
        .ok_or(StoreError::IdsExhausted)?;
    sqlx::query("COMMIT").execute(&mut *conn).await?;
    Ok(ids)
}

/// Inserts the candidates with as few statements as possible (each statement is one
/// round trip to SQLite's worker thread) and returns the ids that went in; an id that
/// clashes with a stored paste is skipped (OR IGNORE) and missing from the answer.
async fn insert_rows(
    conn: &mut SqliteConnection,
    created: &str,
    uploads: &[(Bytes, oneshot::Sender<Result<String, StoreError>>)],
    candidates: &[(usize, String)],
) -> Result<HashSet<String>, StoreError> {
    let mut inserted = HashSet::with_capacity(candidates.len());
    let mut rest = candidates;
    while !rest.is_empty() {
        let rows = rows_for_statement(rest.iter().map(|(upload, _)| uploads[*upload].0.len()));
        let (chunk, after) = rest.split_at(rows);
        rest = after;
        let sql = insert_statement(rows);
        let mut query = sqlx::query(&sql).bind(created);
        for (upload, id) in chunk {
            query = query.bind(id.as_str()).bind(&uploads[*upload].0[..]);
        }
        for row in query.fetch_all(&mut *conn).await? {
            inserted.insert(row.try_get::<String, _>(0)?);
        }
    }
    Ok(inserted)
}

/// How many of the next pastes (their sizes, in order) go in one statement: at most
/// `ROWS_PER_STATEMENT` and `STATEMENT_PAYLOAD_BYTES` (but at least one), rounded down to a
/// power of two: a handful of distinct statements, all cached.
fn rows_for_statement(sizes: impl Iterator<Item = usize>) -> usize {
    let mut rows: usize = 0;
    let mut bytes = 0;
    for size in sizes.take(ROWS_PER_STATEMENT) {
        bytes += size;
        if rows > 0 && bytes > STATEMENT_PAYLOAD_BYTES {
            break;
        }
        rows += 1;
    }
    1 << rows.max(1).ilog2()
}

/// `INSERT OR IGNORE ... VALUES (?2, ?1, CAST(?3 AS TEXT)), ... RETURNING id` for `rows`
/// rows; `?1` is the creation time every row shares.
fn insert_statement(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let id = 2 + 2 * row;
            format!("(?{id}, ?1, CAST(?{} AS TEXT))", id + 1)
        })
        .collect();
    format!(
        "INSERT OR IGNORE INTO entries (id, creation_time, contents) VALUES {} RETURNING id",
        values.join(", ")
    )
}

/// RFC 3339 in UTC to the second, as LogPaste wrote it (Go's `time.RFC3339`).
fn creation_time() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn open_store(folder: &tempfile::TempDir) -> (Store, StoreCloser) {
        Store::open(&folder.path().join("store.db"), false)
            .await
            .unwrap()
    }

    /// Queues every upload at once, so the writer takes them in as few batches as it can.
    async fn insert_all_at_once(store: &Store, uploads: &[Bytes]) -> Vec<String> {
        futures_util::future::join_all(uploads.iter().map(|u| store.insert(u.clone())))
            .await
            .into_iter()
            .collect::<Result<Vec<String>, _>>()
            .unwrap()
    }

    /// A write that fails inside the transaction (here the table is briefly renamed away;
    /// in production a full disk or no free id) must not leave the transaction open, or
    /// every later BEGIN fails and the store takes no upload again.
    #[tokio::test]
    async fn a_failed_write_leaves_no_transaction_open() {
        let folder = tempfile::tempdir().unwrap();
        let (store, closer) = open_store(&folder).await;
        let other = rusqlite::Connection::open(folder.path().join("store.db")).unwrap();
        other
            .execute_batch("ALTER TABLE entries RENAME TO entries_away")
            .unwrap();
        let failed = store.insert(Bytes::from_static(b"lost")).await;
        assert!(failed.is_err(), "inserted without a table: {failed:?}");
        other
            .execute_batch("ALTER TABLE entries_away RENAME TO entries")
            .unwrap();
        let id = store
            .insert(Bytes::from_static(b"kept"))
            .await
            .expect("the writer takes uploads again");
        let kept: String = other
            .query_row("SELECT contents FROM entries WHERE id = ?1", [&id], |row| {
                row.get(0)
            })
            .expect("the upload is committed");
        assert_eq!(kept, "kept");
        drop(store);
        closer.close().await;
    }

    #[test]
    fn the_quiet_spell_before_the_wal_is_cut_back_counts_from_the_last_commit() {
        let signals = CheckpointSignals::new();
        std::thread::sleep(Duration::from_millis(1500));
        assert!(signals.quiet_for() >= Duration::from_millis(1500));
        signals.committed();
        assert!(
            signals.quiet_for() < Duration::from_secs(1),
            "a commit just now, yet quiet for {:?}",
            signals.quiet_for()
        );
    }

    /// .cargo/config.toml's SQLite options reached the build: a GET's page reads take no
    /// process-wide lock.
    #[test]
    fn sqlite_is_built_without_shared_page_cache_lock_or_memory_statistics() {
        let connection = rusqlite::Connection::open_in_memory().unwrap();
        let mut statement = connection.prepare("PRAGMA compile_options").unwrap();
        let options: Vec<String> = statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            options.iter().any(|o| o == "THREADSAFE=1"),
            "not the bundled SQLite's options: {options:?}"
        );
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "{options:?}"
        );
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
    }

    #[test]
    fn insert_statement_numbers_each_row() {
        assert_eq!(
            insert_statement(2),
            "INSERT OR IGNORE INTO entries (id, creation_time, contents) VALUES \
             (?2, ?1, CAST(?3 AS TEXT)), (?4, ?1, CAST(?5 AS TEXT)) RETURNING id"
        );
    }

    #[test]
    fn statements_take_64_small_pastes_and_large_ones_alone() {
        let kib = 1024;
        let mib = 1024 * kib;
        assert_eq!(
            rows_for_statement([kib; 300].into_iter()),
            ROWS_PER_STATEMENT
        );
        assert_eq!(rows_for_statement([kib; 63].into_iter()), 32);
        assert_eq!(rows_for_statement([kib].into_iter()), 1);
        assert_eq!(rows_for_statement([2 * mib; 8].into_iter()), 1);
        assert_eq!(rows_for_statement([kib, 2 * mib, kib].into_iter()), 1);
        assert_eq!(rows_for_statement([300 * kib; 8].into_iter()), 2);
        assert_eq!(rows_for_statement([mib / 2, mib / 2, 1].into_iter()), 2);
    }

    #[tokio::test]
    async fn a_batch_of_large_pastes_commits_every_one_unchanged() {
        let folder = tempfile::tempdir().unwrap();
        let (store, closer) = open_store(&folder).await;
        // Large ones (read back in slices, not a multiple of the slice size, bytes that
        // are not UTF-8) between small ones, all queued at once.
        let uploads: Vec<Bytes> = (0..9usize)
            .map(|n| {
                let len = if n % 3 == 1 {
                    10
                } else {
                    CACHE_MAX_PASTE_BYTES + READ_SLICE_BYTES * n + 7
                };
                Bytes::from(
                    (0..len)
                        .map(|i| (i * 31 + n) as u8)
                        .chain(*b"\xff\xfe\0")
                        .collect::<Vec<u8>>(),
                )
            })
            .collect();
        let ids = insert_all_at_once(&store, &uploads).await;
        for (id, upload) in ids.iter().zip(&uploads) {
            let back = store.fetch(id).await.unwrap().unwrap();
            assert_eq!(back.len(), upload.len());
            assert!(
                back.to_vec() == upload.as_ref(),
                "paste {id} came back changed"
            );
        }
        assert!(store.fetch("AAAAAAAA").await.unwrap().is_none());
        drop(store);
        closer.close().await;
    }

    #[tokio::test]
    async fn a_batch_commits_every_upload_with_its_own_id() {
        let folder = tempfile::tempdir().unwrap();
        let (store, closer) = open_store(&folder).await;
        // More uploads than one statement takes, and not a power of two.
        let uploads: Vec<Bytes> = (0..ROWS_PER_STATEMENT * 2 + 3)
            .map(|n| Bytes::from(format!("paste {n}\n")))
            .collect();
        let ids = insert_all_at_once(&store, &uploads).await;
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), uploads.len());
        for (id, upload) in ids.iter().zip(&uploads) {
            assert_eq!(
                store.fetch(id).await.unwrap().unwrap().to_vec(),
                upload.as_ref()
            );
        }
        drop(store);
        closer.close().await;
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn committed_pages_are_handed_to_the_disk_before_any_checkpoint() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("store.db");
        // As with Litestream: the app itself never checkpoints, so nothing fsyncs the WAL.
        let (store, closer) = Store::open(&path, true).await.unwrap();
        let paste = Bytes::from(vec![b'd'; WRITEBACK_BYTES]);
        for _ in 0..4 {
            store.insert(paste.clone()).await.unwrap();
        }
        // The kernel alone would keep these pages dirty for 30 s (vm.dirty_expire_centisecs).
        let wal = folder.path().join("store.db-wal");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let dirty = wal_writeback::page_cache(&wal).dirty;
            if dirty == 0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{dirty} of the WAL's pages ({} bytes) are still dirty after 10 s",
                std::fs::metadata(&wal).unwrap().len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(store);
        closer.close().await;
    }

    #[tokio::test]
    async fn without_litestream_the_wal_is_copied_into_the_database_file() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("store.db");
        let (store, closer) = Store::open(&path, false).await.unwrap();
        let paste = Bytes::from(vec![b'x'; 1024 * 1024]);
        for _ in 0..(CHECKPOINT_BYTES / paste.len() + 1) {
            store.insert(paste.clone()).await.unwrap();
        }
        // Commits only append to the WAL; the file grows once the checkpointer has run.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::fs::metadata(&path).unwrap().len() < CHECKPOINT_BYTES as u64 {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint copied the WAL into the database file"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(store);
        closer.close().await;
    }

    /// On an HTTP worker, reads share one snapshot until the end of the scheduler tick.
    /// A paste committed after that snapshot began, read in the same tick, is still found
    /// (pastes never change, so only a miss needs a fresh look); and the tick's end lets
    /// the snapshot go.
    #[tokio::test]
    async fn a_tick_snapshot_older_than_a_paste_still_finds_it() {
        let folder = tempfile::tempdir().unwrap();
        let db = folder.path().join("store.db");
        tokio::task::LocalSet::new()
            .run_until(async {
                tick::mark_http_worker();
                let (store, closer) = Store::open(&db, false).await.unwrap();
                let older = store.insert(Bytes::from_static(b"older")).await.unwrap();
                // No await that could yield from here on: one tick.
                assert!(store.fetch("AbCdEfGh").await.unwrap().is_none());
                let in_snapshot = TICK_READER.with_borrow(|reader| {
                    reader
                        .as_ref()
                        .is_some_and(|r| !r.connection.is_autocommit())
                });
                assert!(in_snapshot, "the read did not begin a tick snapshot");
                rusqlite::Connection::open(&db)
                    .unwrap()
                    .execute(
                        "INSERT INTO entries (id, creation_time, contents) \
                         VALUES ('NewPaste', '2026-01-01T00:00:00Z', 'newer')",
                        [],
                    )
                    .unwrap();
                let newer = store.fetch("NewPaste").await.unwrap().unwrap();
                assert_eq!(newer.to_vec(), b"newer");
                let older = store.fetch(&older).await.unwrap().unwrap();
                assert_eq!(older.to_vec(), b"older");
                // The tick ends at the first yield; so does the snapshot.
                tokio::task::yield_now().await;
                tokio::task::yield_now().await;
                let ended = TICK_READER.with_borrow(|reader| {
                    reader
                        .as_ref()
                        .is_some_and(|r| r.connection.is_autocommit())
                });
                assert!(ended, "the snapshot outlived its tick");
                drop(store);
                closer.close().await;
            })
            .await;
    }

    const MIB: usize = 1024 * 1024;

    /// A connection that never checkpoints on its own, as the app's writer.
    fn connection_without_checkpoints(db: &Path) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0; PRAGMA busy_timeout = 5000")
            .unwrap();
        conn
    }

    /// A database whose WAL holds `pastes` pastes of 1 MiB, none copied back yet, and the
    /// connection `trim_wal` runs on (kept open: the last connection to close would copy
    /// the WAL back and delete it).
    async fn database_with_a_large_wal(
        folder: &tempfile::TempDir,
        pastes: usize,
    ) -> (PathBuf, PathBuf, SqliteConnection, Vec<(String, Vec<u8>)>) {
        let db = folder.path().join("store.db");
        let mut conn = SqliteConnectOptions::from_str("sqlite://")
            .unwrap()
            .filename(&db)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .pragma("wal_autocheckpoint", "0")
            .connect()
            .await
            .unwrap();
        sqlx::query(
            "CREATE TABLE entries (id TEXT PRIMARY KEY, creation_time TEXT, contents TEXT)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        let writer = connection_without_checkpoints(&db);
        let rows: Vec<(String, Vec<u8>)> = (0..pastes)
            .map(|i| (format!("paste{i:03}"), vec![b'a' + (i % 26) as u8; MIB]))
            .collect();
        for (id, contents) in &rows {
            writer
                .execute(
                    "INSERT INTO entries VALUES (?1, 'then', ?2)",
                    rusqlite::params![id, contents],
                )
                .unwrap();
        }
        let wal = folder.path().join("store.db-wal");
        (db, wal, conn, rows)
    }

    /// Every row reads back whole through `reader`.
    fn assert_rows_read_back(reader: &rusqlite::Connection, rows: &[(String, Vec<u8>)]) {
        for (id, contents) in rows {
            let stored: Vec<u8> = reader
                .query_row("SELECT contents FROM entries WHERE id = ?1", [id], |row| {
                    row.get(0)
                })
                .unwrap_or_else(|err| panic!("{id}: {err}"));
            assert!(stored == *contents, "{id} reads back changed");
        }
    }

    /// Every row reads back whole through a connection of its own, and the file is sound.
    fn assert_rows_intact(db: &Path, rows: &[(String, Vec<u8>)]) {
        let reader = rusqlite::Connection::open(db).unwrap();
        assert_rows_read_back(&reader, rows);
        let check: String = reader
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }

    #[tokio::test]
    async fn a_large_wal_is_cut_back_in_steps_and_keeps_every_paste() {
        let folder = tempfile::tempdir().unwrap();
        let (db, wal, mut conn, mut rows) = database_with_a_large_wal(&folder, 40).await;
        let before = std::fs::metadata(&wal).unwrap().len();
        assert!(before > 40 * MIB as u64, "the WAL is only {before} bytes");

        let mut sizes = vec![before];
        let after = trim_wal(&mut conn, &wal, || {
            sizes.push(std::fs::metadata(&wal).unwrap().len())
        })
        .await
        .unwrap()
        .expect("nobody else wrote: the cutting goes to the end");
        assert!(after < 64 * 1024, "the WAL is still {after} bytes");
        assert_eq!(sizes.last(), Some(&after));
        assert!(
            sizes.len() >= 4,
            "cut in {} steps: {sizes:?}",
            sizes.len() - 1
        );
        for step in sizes.windows(2) {
            assert!(
                step[0] > step[1] && step[0] - step[1] <= WAL_TRIM_STEP_BYTES,
                "one cut went from {} to {} bytes",
                step[0],
                step[1]
            );
        }
        assert_rows_intact(&db, &rows);

        // The WAL goes on: a new paste, then every connection closed and the file reopened.
        let late = ("late".to_string(), vec![b'z'; MIB]);
        connection_without_checkpoints(&db)
            .execute(
                "INSERT INTO entries VALUES (?1, 'now', ?2)",
                rusqlite::params![late.0, late.1],
            )
            .unwrap();
        rows.push(late);
        conn.close().await.unwrap();
        assert_rows_intact(&db, &rows);
    }

    #[tokio::test]
    async fn a_commit_between_two_cuts_ends_the_cutting_and_keeps_its_paste() {
        let folder = tempfile::tempdir().unwrap();
        let (db, wal, mut conn, mut rows) = database_with_a_large_wal(&folder, 40).await;
        let other = connection_without_checkpoints(&db);
        let late = ("late".to_string(), vec![b'z'; MIB]);
        let mut committed = false;
        let outcome = trim_wal(&mut conn, &wal, || {
            if !committed {
                other
                    .execute(
                        "INSERT INTO entries VALUES (?1, 'now', ?2)",
                        rusqlite::params![late.0, late.1],
                    )
                    .unwrap();
                committed = true;
            }
        })
        .await
        .unwrap();
        assert!(committed, "the WAL was cut in one step");
        assert_eq!(outcome, None, "the cutting went on past another commit");
        rows.push(late);
        // Read while the WAL is still in use, so the late paste comes from its frames.
        assert_rows_intact(&db, &rows);
        drop(other);
        conn.close().await.unwrap();
        assert_rows_intact(&db, &rows);
    }

    #[tokio::test]
    async fn a_reader_still_reading_from_the_wal_keeps_it_whole() {
        let folder = tempfile::tempdir().unwrap();
        let (db, wal, mut conn, rows) = database_with_a_large_wal(&folder, 40).await;
        let before = std::fs::metadata(&wal).unwrap().len();
        // Its snapshot was taken before any checkpoint: it reads the pastes from the WAL.
        let reader = rusqlite::Connection::open(&db).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let count: usize = reader
            .query_row("SELECT count(*) FROM entries", [], |row| row.get(0))
            .unwrap();
        assert_eq!(count, rows.len());

        let outcome = trim_wal(&mut conn, &wal, || panic!("cut under a reader"))
            .await
            .unwrap()
            .expect("nobody else wrote");
        assert!(
            outcome >= before,
            "the WAL shrank from {before} to {outcome} bytes"
        );
        assert_rows_read_back(&reader, &rows);

        // Once the reader is done, the next quiet spell cuts.
        reader.execute_batch("COMMIT").unwrap();
        let after = trim_wal(&mut conn, &wal, || {}).await.unwrap();
        assert!(after.is_some_and(|size| size < 64 * 1024), "{after:?}");
        assert_rows_intact(&db, &rows);
    }
}
