//! The open-file limit, raised once at start-up (main.rs) as Go's runtime raised LogPaste's.

/// Below this the server cannot even start its workers (about 30 descriptors idle: the
/// database files and connections, the listener, the runtime), let alone serve clients;
/// actix's workers would panic on the first accept instead of saying why.
pub const MIN_OPEN_FILES: u64 = 64;

/// The (soft, hard) limits on open files, if they can be read.
fn limits() -> Option<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only fills the struct passed.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0).then_some(limit)
}

/// The soft limit on open files, if it can be read.
pub fn soft_limit() -> Option<u64> {
    limits().map(|limit| limit.rlim_cur)
}

/// Every connection holds a file descriptor, and Docker's default soft limit of 1,024 would
/// refuse connections past about a thousand (actix logs "Too many open files" and stops
/// accepting for a while) although the hard limit allows far more. Raising the soft limit
/// to the hard one needs no privilege. Returns the (old, new) soft limit when it changed.
pub fn raise_to_the_hard_limit() -> Option<(libc::rlim_t, libc::rlim_t)> {
    let limit = limits().filter(|limit| limit.rlim_cur < limit.rlim_max)?;
    let raised = libc::rlimit {
        rlim_cur: limit.rlim_max,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: setrlimit only reads the struct passed.
    (unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0)
        .then_some((limit.rlim_cur, raised.rlim_cur))
}
