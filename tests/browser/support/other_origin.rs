//! A second web server on another port, so another origin: it serves the pages that
//! embed logpaste's JS client the way other products' web UIs do, and the scripts,
//! stylesheets and endpoints an operator's footer loads from elsewhere.

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
        let files: Vec<(&str, &str, String)> = pages
            .iter()
            .map(|(path, html)| (*path, "text/html; charset=utf-8", html.clone()))
            .collect();
        OtherOrigin::serve_files(&files)
    }

    /// Serves each `(path, content type, body)` at `/path`, readable from any origin
    /// (`Access-Control-Allow-Origin: *`), as a CDN or an analytics endpoint is.
    pub fn serve_files(files: &[(&str, &str, String)]) -> OtherOrigin {
        let files: Arc<HashMap<String, (String, String)>> = Arc::new(
            files
                .iter()
                .map(|(path, content_type, body)| {
                    (path.to_string(), (content_type.to_string(), body.clone()))
                })
                .collect(),
        );
        let server = HttpServer::new(move || {
            let files = Arc::clone(&files);
            App::new().default_service(web::to(move |req: HttpRequest| {
                let file = files.get(req.path().trim_start_matches('/')).cloned();
                async move {
                    match file {
                        Some((content_type, body)) => HttpResponse::Ok()
                            .content_type(content_type)
                            .insert_header(("access-control-allow-origin", "*"))
                            .body(body),
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
