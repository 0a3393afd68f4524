//! Work put off to the end of an HTTP worker's current scheduler tick.
//!
//! Each actix worker is one thread running one tokio scheduler. Under load a tick serves
//! many requests, one after the other; some per-request costs can be paid once per tick
//! instead: the request log lines go out in one `write`, and paste reads share one SQLite
//! read snapshot (see store.rs). The deferred work runs in a task queued behind the tasks
//! ready now (`yield_now` puts it after the scheduler's next look for I/O), so nothing
//! waits for it: an idle worker runs it as soon as its last request is done.

use std::cell::{Cell, RefCell};

thread_local! {
    /// Set on the threads of the HTTP workers, which run a scheduler that can take a
    /// local task. Anywhere else `at_end` refuses, and callers do without.
    static ON_HTTP_WORKER: Cell<bool> = const { Cell::new(false) };
    /// Work waiting for the end of this tick, each once (compared by address: a function
    /// whose address differed between codegen units would run twice, which is harmless for
    /// the idempotent work queued here).
    static AT_END: RefCell<Vec<fn()>> = const { RefCell::new(Vec::new()) };
}

/// Called on each HTTP worker's thread (actix builds each worker's `App` on its thread).
pub fn mark_http_worker() {
    ON_HTTP_WORKER.set(true);
}

/// Runs `work` once at the end of this worker's current tick, with any other work put off
/// until then. Returns false, and queues nothing, off an HTTP worker: the caller has no tick
/// to share and must not leave anything open.
pub fn at_end(work: fn()) -> bool {
    if !ON_HTTP_WORKER.get() {
        return false;
    }
    let first = AT_END.with_borrow_mut(|queued| {
        let first = queued.is_empty();
        if !queued.contains(&work) {
            queued.push(work);
        }
        first
    });
    if first {
        actix_web::rt::spawn(async {
            // Runs when the task is dropped too (a worker stopping with the task queued).
            let _run = RunQueuedOnDrop;
            tokio::task::yield_now().await;
        });
    }
    true
}

struct RunQueuedOnDrop;

impl Drop for RunQueuedOnDrop {
    fn drop(&mut self) {
        // try_with: a thread being torn down has already dropped what the work would touch.
        let queued = AT_END.try_with(|queued| std::mem::take(&mut *queued.borrow_mut()));
        for work in queued.unwrap_or_default() {
            work();
        }
    }
}
