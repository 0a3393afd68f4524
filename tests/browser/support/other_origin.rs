//! A second web server on another port, so another origin: it serves the pages that
//! embed logpaste's JS client the way other products' web UIs do.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

pub struct OtherOrigin {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub origin: String,
    handle: ServerHandle,
}

impl OtherOrigin {
    /// Serves each `(path, html)` at `/path`.
    pub fn serve(pages: &[(&str, String)]) -> OtherOrigin {
        let pages: Arc<HashMap<String, String>> = Arc::new(
            pages
                .iter()
                .map(|(path, html)| (path.to_string(), html.clone()))
                .collect(),
        );
        let server = HttpServer::new(move || {
            let pages = Arc::clone(&pages);
            App::new().default_service(web::to(move |req: HttpRequest| {
                let page = pages.get(req.path().trim_start_matches('/')).cloned();
                async move {
                    match page {
                        Some(html) => HttpResponse::Ok()
                            .content_type("text/html; charset=utf-8")
                            .body(html),
                        None => HttpResponse::NotFound().body("no such test page"),
                    }
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .expect("bind the second-origin server");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        OtherOrigin {
            origin: format!("http://127.0.0.1:{port}"),
            handle,
        }
    }
}

impl Drop for OtherOrigin {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}
