//! Logs: one line per event on stdout, filtered by `RUST_LOG` (default
//! `info,sqlx=warn,actix_server=warn`).

use tracing_subscriber::EnvFilter;

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
        // Colour codes only for people at a terminal, never in collected logs.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .try_init();
    Ok(())
}
