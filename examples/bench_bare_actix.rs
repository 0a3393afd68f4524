//! Ceiling (a) of `scripts/bench`: a bare actix-web server that answers every GET with the
//! same body a paste GET returns (1 KiB by default), with no state, no database and no
//! middleware. Whatever logpaste's GET costs beyond this is ours to explain.
//!
//! Usage: `bench_bare_actix [--body-bytes N]`. Binds 127.0.0.1 on a free port, prints
//! `port=NNNN` on stdout once listening, and stops on SIGTERM or SIGINT.

use std::io::Write;
use std::net::TcpListener;

use actix_web::{web, App, HttpResponse, HttpServer};
use bytes::Bytes;
use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Size of the body every request gets.
    #[arg(long, default_value_t = 1024)]
    body_bytes: usize,
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    // Printable bytes, like a log file: no compression or encoding shortcut applies.
    let body = Bytes::from(
        (0..args.body_bytes)
            .map(|i| b"0123456789abcdef"[i % 16])
            .collect::<Vec<u8>>(),
    );
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    // The same worker count logpaste uses (one per core).
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let server = HttpServer::new(move || {
        let body = body.clone();
        App::new().default_service(web::to(move || {
            let body = body.clone();
            async move {
                HttpResponse::Ok()
                    .content_type("text/plain; charset=utf-8")
                    .body(body)
            }
        }))
    })
    .workers(workers)
    .listen(listener)?
    .run();
    println!("port={port}");
    std::io::stdout().flush()?;
    server.await
}
