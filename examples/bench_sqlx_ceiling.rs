//! Ceiling (b) of `scripts/bench`: what sqlx alone does with logpaste's schema and pragmas
//! on the same disk, with no HTTP in the way.
//!
//! - `--mode insert`: `--tasks` tasks each insert one paste-sized row per statement into a
//!   fresh database, for `--seconds`. Each statement is its own transaction (autocommit): the
//!   naive way to store an upload, which the app's batching writer must beat.
//! - `--mode read`: `--tasks` tasks each read one row by primary key, the id drawn at random
//!   from `--ids` (one id per line), exactly the query the app's GET runs.
//!
//! Prints one JSON line: `{"mode":"insert","operations":N,"seconds":S,"per_second":R,
//! "cpu_seconds":C}`, where C is this process's CPU time (user + system, every thread)
//! over those S seconds: what the ceiling's rate cost in cores.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;
use time::format_description::well_known::Rfc3339;

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Insert,
    Read,
}

#[derive(Parser)]
struct Args {
    #[arg(long, value_enum)]
    mode: Mode,
    /// The database: created (must not exist) for `insert`, read for `read`.
    #[arg(long)]
    db: PathBuf,
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Concurrent tasks, like concurrent HTTP connections.
    #[arg(long, default_value_t = 64)]
    tasks: usize,
    /// Connections in the sqlx pool: the fastest size found for both modes (1 to 64 were
    /// tried, BENCHMARKS.md). Each connection has SQLite's default 2 MiB page cache.
    #[arg(long, default_value_t = 32)]
    connections: u32,
    /// Size of each inserted row's contents.
    #[arg(long, default_value_t = 1024)]
    body_bytes: usize,
    /// For `read`: a file of ids, one per line.
    #[arg(long)]
    ids: Option<PathBuf>,
}

/// The pragmas `Store::open` sets, so the ceiling runs on the same terms as the app.
fn options(args: &Args) -> Result<SqliteConnectOptions, sqlx::Error> {
    Ok(SqliteConnectOptions::from_str("sqlite://")?
        .filename(&args.db)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(false))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let deadline = Duration::from_secs_f64(args.seconds);
    let Measured {
        operations,
        elapsed,
        cpu,
    } = match args.mode {
        Mode::Insert => insert(&args, deadline).await?,
        Mode::Read => read(&args, deadline).await?,
    };
    let seconds = elapsed.as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "mode": match args.mode { Mode::Insert => "insert", Mode::Read => "read" },
            "operations": operations,
            "seconds": seconds,
            "per_second": operations as f64 / seconds,
            "cpu_seconds": cpu.as_secs_f64(),
        })
    );
    Ok(())
}

async fn insert(args: &Args, deadline: Duration) -> Result<Measured, sqlx::Error> {
    if args.db.exists() {
        return Err(sqlx::Error::Configuration(
            format!(
                "{} exists; insert needs a fresh database",
                args.db.display()
            )
            .into(),
        ));
    }
    let pool = SqlitePoolOptions::new()
        .min_connections(args.connections)
        .max_connections(args.connections)
        .connect_with(
            options(args)?
                .create_if_missing(true)
                .pragma("wal_autocheckpoint", "1000"),
        )
        .await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    let contents: Arc<Vec<u8>> = Arc::new(
        (0..args.body_bytes)
            .map(|i| b"0123456789abcdef"[i % 16])
            .collect(),
    );
    run_tasks(args.tasks, deadline, move |_| {
        let pool = pool.clone();
        let contents = contents.clone();
        async move {
            let created = creation_time();
            // The app's statement, one per upload, outside any explicit transaction.
            sqlx::query(
                "INSERT OR IGNORE INTO entries (id, creation_time, contents) \
                 VALUES (?1, ?2, CAST(?3 AS TEXT))",
            )
            .bind(logpaste::id::generate())
            .bind(created)
            .bind(&contents[..])
            .execute(&pool)
            .await
            .map(|_| ())
        }
    })
    .await
}

async fn read(args: &Args, deadline: Duration) -> Result<Measured, sqlx::Error> {
    let ids_path = args
        .ids
        .as_ref()
        .ok_or_else(|| sqlx::Error::Configuration("--ids is required for read".into()))?;
    let ids: Arc<Vec<String>> = Arc::new(
        std::fs::read_to_string(ids_path)?
            .lines()
            .map(str::to_owned)
            .filter(|id| !id.is_empty())
            .collect(),
    );
    if ids.is_empty() {
        return Err(sqlx::Error::Configuration("the ids file is empty".into()));
    }
    let pool: SqlitePool = SqlitePoolOptions::new()
        .min_connections(args.connections)
        .max_connections(args.connections)
        .connect_with(options(args)?.pragma("query_only", "1"))
        .await?;
    run_tasks(args.tasks, deadline, move |draw| {
        let pool = pool.clone();
        let id = ids[(draw % ids.len() as u64) as usize].clone();
        async move {
            let row = sqlx::query("SELECT CAST(contents AS BLOB) FROM entries WHERE id = ?1")
                .bind(&id)
                .fetch_optional(&pool)
                .await?;
            let found = row
                .map(|row| row.try_get::<Vec<u8>, _>(0))
                .transpose()?
                .is_some();
            if found {
                Ok(())
            } else {
                Err(sqlx::Error::RowNotFound)
            }
        }
    })
    .await
}

/// Runs `tasks` loops of `operation` until `deadline` has passed; returns how many
/// operations completed, how long it took and the CPU time it used. Each call gets a fresh
/// pseudo-random number.
async fn run_tasks<F, Fut>(
    tasks: usize,
    deadline: Duration,
    operation: F,
) -> Result<Measured, sqlx::Error>
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(), sqlx::Error>> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let cpu_before = process_cpu_time();
    let started = Instant::now();
    let mut handles = Vec::with_capacity(tasks);
    for task in 0..tasks {
        let operation = operation.clone();
        let done = done.clone();
        handles.push(tokio::spawn(async move {
            let mut random = XorShift::new(task as u64);
            while started.elapsed() < deadline {
                operation(random.next()).await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<(), sqlx::Error>(())
        }));
    }
    for handle in handles {
        handle
            .await
            .map_err(|err| sqlx::Error::Protocol(err.to_string()))??;
    }
    Ok(Measured {
        operations: done.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        cpu: process_cpu_time().saturating_sub(cpu_before),
    })
}

struct Measured {
    operations: u64,
    elapsed: Duration,
    cpu: Duration,
}

/// User and system CPU time of the whole process so far, every thread included (sqlx's
/// connection threads do most of the work).
fn process_cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct it is given; all-zero is a valid rusage.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// A small fast generator: picking ids needs spread, not secrecy.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        XorShift((nanos ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn creation_time() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&Rfc3339).unwrap_or_default()
}
