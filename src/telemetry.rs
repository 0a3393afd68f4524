//! Logs: one line per event on stdout, filtered by `RUST_LOG` (default
//! `info,sqlx=warn,actix_server=warn`).

use std::cell::{Cell, RefCell};
use std::io::Write;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::tick;

/// actix-http logs every malformed request at ERROR ("stream error: request parse error"),
/// before our code sees it: TLS hellos and scanners on a public port would fill the log
/// with errors that are not ours. The client gets its 400 either way. Off unless
/// `RUST_LOG` names `actix_http` itself.
const CLIENT_PROTOCOL_ERRORS_OFF: &str = "actix_http::h1::dispatcher=off";

/// Err (the message for the operator) when `RUST_LOG` is set but not a valid filter, rather
/// than logging with the default filter as if the operator's (`logpaste::request=off`, say)
/// were in force.
pub fn init() -> Result<(), String> {
    let from_env = std::env::var(EnvFilter::DEFAULT_ENV).ok();
    let mut filter = match from_env.as_deref() {
        Some(directives) => EnvFilter::try_new(directives).map_err(|err| {
            format!("invalid value '{directives}' for RUST_LOG: {err} (e.g. info,logpaste::request=off)")
        })?,
        None => EnvFilter::new("info,sqlx=warn,actix_server=warn"),
    };
    if !from_env.is_some_and(|directives| directives.contains("actix_http")) {
        if let Ok(directive) = CLIENT_PROTOCOL_ERRORS_OFF.parse() {
            filter = filter.add_directive(directive);
        }
    }
    // A second init (tests start many apps in one process) is harmless: keep the first.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(LogOutput)
        // Colour codes only for people at a terminal, never in collected logs.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .try_init();
    Ok(())
}

thread_local! {
    /// Request lines of this worker thread not yet written out.
    static BATCH: RefCell<Batch> = const { RefCell::new(Batch(Vec::new())) };
    /// Set while a request line is being formatted: its bytes go to BATCH.
    static BATCHING: Cell<bool> = const { Cell::new(false) };
}

/// Past this many bytes a batch goes out at once.
const BATCH_LIMIT: usize = 32 * 1024;

struct Batch(Vec<u8>);

impl Batch {
    fn write_out(&mut self) {
        if self.0.is_empty() {
            return;
        }
        // A log line that cannot be written has nowhere to be reported.
        let _ = std::io::stdout().lock().write_all(&self.0);
        self.0.clear();
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.write_out();
    }
}

fn write_out_batch() {
    // try_with: a thread being torn down has already written its batch (Batch's drop).
    let _ = BATCH.try_with(|batch| {
        if let Ok(mut batch) = batch.try_borrow_mut() {
            batch.write_out();
        }
    });
}

/// Emits a request's log line. On an HTTP worker the line joins the lines of the other
/// requests of this scheduler tick, written out together at its end (see tick.rs): under
/// load one `write` carries tens of lines, where one each cost ~5% of a GET's CPU.
pub fn request_line(emit: impl FnOnce()) {
    if !tick::at_end(write_out_batch) {
        return emit();
    }
    BATCHING.set(true);
    emit();
    BATCHING.set(false);
    if BATCH.with_borrow(|batch| batch.0.len() >= BATCH_LIMIT) {
        write_out_batch();
    }
}

/// stdout for the fmt layer: request lines into the batch, every other line straight out,
/// after this thread's batch so that one thread's lines keep their order.
struct LogOutput;

impl<'a> MakeWriter<'a> for LogOutput {
    type Writer = LogOutput;
    fn make_writer(&'a self) -> LogOutput {
        LogOutput
    }
}

impl Write for LogOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf).map(|()| buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if BATCHING.get() {
            BATCH.with_borrow_mut(|batch| batch.0.extend_from_slice(buf));
            return Ok(());
        }
        write_out_batch();
        std::io::stdout().lock().write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}
