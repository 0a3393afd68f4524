use std::process::ExitCode;

use logpaste::config::{Config, ConfigError};
use logpaste::startup::Application;
use logpaste::telemetry;
use logpaste::{allocator, fd_limit};

fn main() -> ExitCode {
    unset_empty_settings();
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
    if let Err(message) = telemetry::init() {
        eprintln!("logpaste: error: {message}");
        return ExitCode::from(2);
    }
    allocator::return_large_buffers_to_the_system();
    if let Some((old, new)) = fd_limit::raise_to_the_hard_limit() {
        tracing::debug!(old, new, "raised the open-file limit");
    }
    if let Some(limit) = fd_limit::soft_limit().filter(|&l| l < fd_limit::MIN_OPEN_FILES) {
        eprintln!(
            "logpaste: error: the open-file limit is {limit}; logpaste needs at least {} (raise it with `ulimit -n`)",
            fd_limit::MIN_OPEN_FILES
        );
        return ExitCode::FAILURE;
    }

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

/// `PORT=` in an env file or a platform's config means "not set", as it did for LogPaste
/// (Go's `os.Getenv` gives "" either way): an empty setting takes its default instead of
/// stopping start-up (an empty log filter would log nothing). Done first, while this is
/// the only thread.
fn unset_empty_settings() {
    let log_filter = tracing_subscriber::EnvFilter::DEFAULT_ENV.to_string();
    for name in Config::setting_env_vars().into_iter().chain([log_filter]) {
        if std::env::var_os(&name).is_some_and(|value| value.is_empty()) {
            std::env::remove_var(&name);
        }
    }
}
