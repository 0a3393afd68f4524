//! Starts the kernel writing the WAL to disk as it grows, without waiting for it.
//!
//! Commits run with `synchronous=NORMAL`, so nothing syncs the WAL until the next
//! checkpoint, which first fsyncs every WAL page written since the one before. With
//! Litestream that checkpoint runs while Litestream holds SQLite's write lock (0.5.17 does so
//! for its PASSIVE checkpoints too), and every upload waits for it: under a flood of uploads
//! that fsync was about half of each 250–300 ms stall (BENCHMARKS.md). Written back as it
//! grows, the WAL is mostly on disk by then. Without Litestream our own checkpointer's
//! fsyncs get shorter the same way.
//!
//! Also: dropping the WAL's pages from the page cache before the checkpointer cuts a large
//! WAL file back, which it does under SQLite's write lock.

use std::path::{Path, PathBuf};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Starts the task that writes back the WAL at `wal` each time it is woken (the writer
/// wakes it as pastes are committed); it ends once the returned sender is dropped.
pub fn start(wal: PathBuf) -> (mpsc::Sender<()>, JoinHandle<()>) {
    let (wake, mut woken) = mpsc::channel(1);
    // A blocking thread: each pass first waits for the last one's writes to finish.
    let task = tokio::task::spawn_blocking(move || {
        let mut warned = false;
        while woken.blocking_recv().is_some() {
            match start_writeback(&wal) {
                Ok(()) => {}
                Err(err) if lacks_the_call(&err) => {
                    // For good: say it once and stop; checkpoints then write the whole WAL
                    // themselves, as before.
                    tracing::warn!(error = %err, "cannot start the WAL's writeback; not trying again");
                    break;
                }
                // Passing (no file descriptor free under a burst of connections): the next
                // wake-up tries again; said once, as it may recur under every burst.
                Err(err) if !warned => {
                    tracing::warn!(error = %err, "cannot start the WAL's writeback this time; trying again as it grows");
                    warned = true;
                }
                Err(_) => {}
            }
        }
    });
    (wake, task)
}

/// Errors that say the file system or kernel cannot do this at all, as opposed to a
/// passing shortage (EMFILE, ENOMEM) that the next try may not meet.
fn lacks_the_call(err: &std::io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::ENOSYS | libc::EINVAL | libc::EOPNOTSUPP | libc::ESPIPE)
    )
}

/// Asks the kernel to start writing every dirty page of `path` to disk, and returns
/// without waiting for those writes (only for earlier ones still in flight). A missing
/// file (no WAL yet) is not an error.
pub fn start_writeback(path: &Path) -> std::io::Result<()> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    start_file_writeback(&file)
}

#[cfg(target_os = "linux")]
fn start_file_writeback(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // WAIT_BEFORE first waits for writes still in flight from the last pass: a page being
    // written then and filled further since (WAL frames straddle pages) would otherwise be
    // skipped, and stay dirty until the kernel's own flush 30 s later.
    let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE;
    // SAFETY: a plain system call on a descriptor `file` keeps open; offset 0 and length 0
    // mean the whole file.
    let done = unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, flags) };
    if done == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn start_file_writeback(_file: &std::fs::File) -> std::io::Result<()> {
    Ok(()) // no such call: the checkpoint's fsync writes it all
}

/// Drops the clean pages of the file at `path` from the page cache (dirty ones stay).
/// Cutting back a 1 GiB WAL file took 320-420 ms under SQLite's write lock, half of it
/// spent freeing those pages; dropped beforehand, outside the lock, they cost it nothing.
#[cfg(target_os = "linux")]
pub fn drop_cached_pages(path: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path)?;
    // SAFETY: a plain system call on a descriptor `file` keeps open; offset 0 and length 0
    // mean the whole file.
    match unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) } {
        0 => Ok(()),
        err => Err(std::io::Error::from_raw_os_error(err)),
    }
}

#[cfg(not(target_os = "linux"))]
pub fn drop_cached_pages(_path: &Path) -> std::io::Result<()> {
    Ok(()) // the truncation frees them itself
}

/// Test helper: the file's pages in the page cache, from Linux's `cachestat` (6.5 and
/// later), laid out as the kernel's `struct cachestat`.
#[cfg(all(test, target_os = "linux"))]
#[repr(C)]
#[derive(Default)]
pub(crate) struct PageCache {
    pub cached: u64,
    /// Not yet handed to the disk.
    pub dirty: u64,
    writeback: u64,
    evicted: u64,
    recently_evicted: u64,
}

#[cfg(all(test, target_os = "linux"))]
pub(crate) fn page_cache(path: &Path) -> PageCache {
    use std::os::fd::AsRawFd;
    #[repr(C)]
    struct Range {
        offset: u64,
        length: u64,
    }
    let file = std::fs::File::open(path).unwrap();
    let range = Range {
        offset: 0,
        length: 0, // to the end
    };
    // The same number on every architecture; the libc crate lacks it for x86_64.
    const SYS_CACHESTAT: libc::c_long = 451;
    let mut stat = PageCache::default();
    // SAFETY: both structs match the kernel's `cachestat_range` and `cachestat`.
    let done = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            file.as_raw_fd(),
            &range as *const Range,
            &mut stat as *mut PageCache,
            0,
        )
    };
    assert_eq!(
        done,
        0,
        "cachestat failed (the tests need Linux 6.5 or later): {}",
        std::io::Error::last_os_error()
    );
    stat
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::Write;

    /// A WAL-like file with 8 MiB just written to it (not synced).
    fn freshly_written_wal() -> (tempfile::TempDir, std::path::PathBuf, std::fs::File) {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("store.db-wal");
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(&vec![b'w'; 8 * 1024 * 1024]).unwrap();
        (folder, path, file)
    }

    #[test]
    fn writeback_hands_every_dirty_page_to_the_disk() {
        let (_folder, path, _file) = freshly_written_wal();
        // Not synced: the kernel would leave these pages dirty for 30 s by default.
        assert!(
            page_cache(&path).dirty > 0,
            "the fresh writes are not dirty"
        );
        start_writeback(&path).unwrap();
        assert_eq!(page_cache(&path).dirty, 0);
    }

    #[test]
    fn written_back_pages_can_be_dropped_from_the_page_cache() {
        let (_folder, path, file) = freshly_written_wal();
        file.sync_all().unwrap();
        assert!(
            page_cache(&path).cached > 0,
            "the pages just written are not cached"
        );
        drop_cached_pages(&path).unwrap();
        assert_eq!(page_cache(&path).cached, 0);
    }

    /// A burst of connections using every file descriptor once switched the writeback off
    /// for the life of the process; only a missing system call does now.
    #[test]
    fn only_a_missing_call_stops_the_writeback_for_good() {
        let errno = std::io::Error::from_raw_os_error;
        for passing in [libc::EMFILE, libc::ENFILE, libc::ENOMEM, libc::EIO] {
            assert!(!lacks_the_call(&errno(passing)), "errno {passing}");
        }
        for lasting in [libc::ENOSYS, libc::EINVAL, libc::EOPNOTSUPP, libc::ESPIPE] {
            assert!(lacks_the_call(&errno(lasting)), "errno {lasting}");
        }
    }

    #[test]
    fn a_missing_wal_is_not_an_error() {
        let folder = tempfile::tempdir().unwrap();
        start_writeback(&folder.path().join("store.db-wal")).unwrap();
    }
}
