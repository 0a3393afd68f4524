//! Wiring: open the store, bind the listener, build the HTTP server, stop gracefully.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use actix_web::dev::{Server, ServerHandle, Service};
use actix_web::http::StatusCode;
use actix_web::middleware::{DefaultHeaders, ErrorHandlers};
use actix_web::{web, App, HttpServer};
use futures_util::FutureExt;

use crate::client_addr;
use crate::config::Config;
use crate::memory_budget::{MemoryBudget, SharedBudget};
use crate::rate_limit::RateLimiter;
use crate::routes;
use crate::store::{Store, StoreCloser, StoreError};
use crate::telemetry;
use crate::tick;

/// How long in-flight requests may take to finish after a stop signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Time allowed for a client to send its request headers.
const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(10);
const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// Concurrent connections per worker; beyond it new connections wait in the backlog.
const MAX_CONNECTIONS_PER_WORKER: usize = 4096;
/// Longest path written to the request log: paths are client input.
const LOGGED_PATH_CHARS: usize = 200;

/// What every handler shares.
pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub rate_limiter: Option<RateLimiter>,
    pub max_paste_bytes: usize,
    pub homepage_csp: String,
    pub upload_budget: MemoryBudget,
    /// Large pastes held by responses not yet read by their clients.
    pub response_budget: SharedBudget,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
}

pub struct Application {
    port: u16,
    server: Server,
    store_closer: StoreCloser,
    stop_signal: StopSignal,
}

/// Resolves at the first SIGTERM or SIGINT.
type StopSignal = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

impl Application {
    /// Opens the database and binds the listener (port 0 picks a free port).
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        // First: a stop that comes while the database opens or the server starts (a
        // container stopped right after its start) must be a clean stop, not the signal's
        // default action, which kills the process.
        let stop_signal = listen_for_stop_signals();
        let (store, store_closer) = Store::open(&config.db_path, config.replicated).await?;
        let address = display_address(&config.host, config.port);
        let bind_error = |source| StartupError::Bind {
            address: address.clone(),
            source,
        };
        let listener = bind_listener(&config.host, config.port).map_err(bind_error)?;
        set_send_stall_timeout(&listener, config.send_stall_timeout).map_err(bind_error)?;
        let port = listener.local_addr().map_err(bind_error)?.port();
        log_effective_config(&config, port);

        let state = web::Data::new(AppState {
            rate_limiter: (config.perminutelimit > 0)
                .then(|| RateLimiter::new(config.perminutelimit)),
            max_paste_bytes: config.max_paste_bytes(),
            upload_budget: MemoryBudget::new(routes::paste::largest_upload(
                config.max_paste_bytes(),
            )),
            response_budget: SharedBudget::new(config.max_paste_bytes()),
            homepage_csp: routes::csp::homepage_csp(&config.footer),
            store,
            config,
        });
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let server = HttpServer::new(move || {
            // actix builds each worker's App on the worker's own thread.
            tick::mark_http_worker();
            let behind_proxy = state.config.behind_proxy;
            App::new()
                .app_data(state.clone())
                .wrap(ErrorHandlers::new().handler(
                    StatusCode::METHOD_NOT_ALLOWED,
                    routes::explain_method_not_allowed,
                ))
                .wrap(
                    DefaultHeaders::new()
                        .add(routes::paste::allow_any_origin())
                        .add(("Access-Control-Expose-Headers", "Retry-After"))
                        .add(("X-Content-Type-Options", "nosniff"))
                        .add(("Referrer-Policy", "no-referrer")),
                )
                .wrap_fn(move |req, srv| {
                    let started = Instant::now();
                    let method = req.method().clone();
                    let path: String = req.path().chars().take(LOGGED_PATH_CHARS).collect();
                    let client =
                        client_addr::client_ip(req.headers(), req.peer_addr(), behind_proxy)
                            .map(|ip| ip.to_string())
                            .unwrap_or_else(|| "-".into());
                    srv.call(req).map(move |result| {
                        let status = match &result {
                            Ok(response) => response.status().as_u16(),
                            Err(err) => err.as_response_error().status_code().as_u16(),
                        };
                        telemetry::request_line(|| {
                            tracing::info!(
                                target: "logpaste::request",
                                %method,
                                path,
                                status,
                                latency_ms = %format_args!("{:.2}", started.elapsed().as_secs_f64() * 1000.0),
                                %client,
                                "request"
                            )
                        });
                        result
                    })
                })
                .configure(routes::configure)
        })
        .workers(workers)
        .max_connections(MAX_CONNECTIONS_PER_WORKER)
        .client_request_timeout(REQUEST_HEAD_TIMEOUT)
        .client_disconnect_timeout(Duration::from_secs(2))
        .keep_alive(KEEP_ALIVE)
        // Responses go out whole: a response written in two pieces must not wait for the
        // client's delayed ACK (Nagle's algorithm: up to 40 ms on Linux).
        .tcp_nodelay(true)
        .shutdown_timeout(SHUTDOWN_GRACE.as_secs())
        // Signals are ours: actix would stop abruptly on SIGINT.
        .disable_signals()
        .listen(listener)
        .map_err(bind_error)?
        .run();

        Ok(Application {
            port,
            server,
            store_closer,
            stop_signal,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM or SIGINT (or `handle().stop()`), lets in-flight requests finish,
    /// commits queued uploads and closes the database.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let stop_signal = self.stop_signal;
        let signals = tokio::spawn(async move {
            stop_signal.await;
            tracing::info!("stop signal received, finishing in-flight requests");
            handle.stop(true).await;
        });
        let served = self.server.await;
        signals.abort();
        self.store_closer.close().await;
        tracing::info!("stopped");
        served
    }
}

/// Takes SIGTERM and SIGINT from the default action now; the future resolves at the first.
fn listen_for_stop_signals() -> StopSignal {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => Box::pin(async move {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }),
            _ => {
                tracing::warn!("cannot listen for stop signals");
                Box::pin(std::future::pending::<()>())
            }
        }
    }
    #[cfg(not(unix))]
    {
        Box::pin(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// One line with every setting that matters, and no secret: the footer is summarised and
/// the replica URL (which may carry credentials) is never printed.
fn log_effective_config(config: &Config, port: u16) {
    tracing::info!(
        host = %config.host,
        port,
        // Quoted and escaped, as the request line's path: a line break or an escape
        // sequence in a setting must not start a line of its own or recolour the terminal.
        db_path = ?config.db_path,
        replication = config.replicated,
        behind_proxy = config.behind_proxy,
        max_size_mib = config.max_paste_mib(),
        per_minute_limit = config.perminutelimit,
        show_docs = config.showdocs,
        title = ?config.title,
        subtitle = ?config.subtitle,
        footer_bytes = config.footer.len(),
        version = env!("CARGO_PKG_VERSION"),
        "logpaste started"
    );
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
}

/// The host as an IP address, if it is one; also in the brackets an IPv6 address wears in
/// URLs (`[::1]`), which people also write on a command line.
fn host_ip(host: &str) -> Option<IpAddr> {
    host.strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()
}

/// `host:port` as a message shows it, an IPv6 address in brackets.
fn display_address(host: &str, port: u16) -> String {
    match host_ip(host) {
        Some(ip) => SocketAddr::new(ip, port).to_string(),
        None => format!("{host}:{port}"),
    }
}

/// Listens on `host` (an address, bracketed or not, or a name) and `port`. The wildcard `::`
/// (the default) is one socket for IPv4 and IPv6, as Go opens LogPaste's `:PORT`: clients
/// reaching the host over either get an answer. Where the kernel has no IPv6 at all, it falls back to every
/// IPv4 address, as Go does.
fn bind_listener(host: &str, port: u16) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    match host_ip(host) {
        Some(IpAddr::V6(ip)) if ip == Ipv6Addr::UNSPECIFIED => {}
        Some(ip) => return TcpListener::bind((ip, port)),
        None => return TcpListener::bind((host, port)),
    }
    let dual_stack = || -> std::io::Result<TcpListener> {
        let socket = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
        socket.set_only_v6(false)?;
        // As std's TcpListener::bind: a restarted server may bind while old connections
        // of the previous one linger in TIME_WAIT.
        socket.set_reuse_address(true)?;
        socket.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)).into())?;
        socket.listen(1024)?;
        Ok(socket.into())
    };
    match dual_stack() {
        Err(err) if err.raw_os_error() == Some(libc::EAFNOSUPPORT) => {
            tracing::warn!("IPv6 is not available on this host: listening on IPv4 only");
            TcpListener::bind((Ipv4Addr::UNSPECIFIED, port))
        }
        listener => listener,
    }
}

/// Sets TCP_USER_TIMEOUT on the listener, which every accepted connection inherits: the
/// kernel drops a connection whose sent data has gone unacknowledged, or whose receive
/// window has stayed shut, for `timeout`. actix has no write timeout, and a response waits
/// in memory until its client reads it: clients that ask for large pastes and never read
/// would otherwise hold that memory for as long as they keep the connection open.
fn set_send_stall_timeout(listener: &TcpListener, timeout: Duration) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let millis = libc::c_uint::try_from(timeout.as_millis()).unwrap_or(libc::c_uint::MAX);
    // SAFETY: a valid socket descriptor and a pointer to a c_uint of the length given.
    let result = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_USER_TIMEOUT,
            (&millis as *const libc::c_uint).cast(),
            std::mem::size_of::<libc::c_uint>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
