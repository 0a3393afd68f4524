use std::process::ExitCode;

use logpaste::config::{Config, ConfigError};
use logpaste::startup::Application;
use logpaste::telemetry;

fn main() -> ExitCode {
    let config = match Config::parse_from_env(std::env::args_os()) {
        Ok(config) => config,
        Err(ConfigError::Informational(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(ConfigError::Invalid(message)) => {
            eprintln!("logpaste: error: {message}");
            return ExitCode::from(2);
        }
    };
    telemetry::init();
    return_large_buffers_to_the_system();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("logpaste: error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let app = match Application::build(config).await {
            Ok(app) => app,
            Err(err) => {
                eprintln!("logpaste: error: {err}");
                return ExitCode::FAILURE;
            }
        };
        match app.run_until_stopped().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("logpaste: error: server failed: {err}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Large buffers (uploads, SQLite's copies of them) are memory-mapped by glibc and unmapped
/// when freed. By default glibc raises its mmap threshold after the first large free, up
/// to 32 MiB, so later multi-MiB buffers come from the per-thread heaps instead and stay
/// resident there: eight 2 MiB uploads at once peaked at ~95 MiB and left ~60 MiB behind.
/// Setting the threshold turns that adjustment off. 128 KiB is glibc's initial value.
fn return_large_buffers_to_the_system() {
    #[cfg(target_env = "gnu")]
    {
        const MMAP_THRESHOLD_BYTES: libc::c_int = 128 * 1024;
        // SAFETY: mallopt only sets an allocator parameter; it runs before any other thread.
        if unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) } != 1 {
            tracing::warn!("mallopt(M_MMAP_THRESHOLD) failed; large buffers may stay resident");
        }
    }
}
