//! A reverse proxy in front of the app, as on Heroku, Fly, Lightsail or behind nginx: pages
//! and assets come from the app, but uploads get the proxy's own answer, an HTML error page
//! as proxies write them when the app is down or they refuse a request themselves.

use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::http::{Method, StatusCode};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

pub struct FrontProxy {
    /// `http://127.0.0.1:PORT`, no trailing slash: where the browser goes.
    pub origin: String,
    /// (status, HTML body) of the proxy's answer to every upload.
    upload_answer: Arc<Mutex<(u16, String)>>,
    handle: ServerHandle,
}

/// The error page nginx writes for `status`, e.g. "502 Bad Gateway".
pub fn nginx_error_page(status: u16) -> String {
    let code = StatusCode::from_u16(status).expect("a status code");
    let line = format!(
        "{} {}",
        code.as_str(),
        code.canonical_reason().unwrap_or("")
    );
    format!(
        "<html>\r\n<head><title>{line}</title></head>\r\n<body>\r\n\
         <center><h1>{line}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
}

impl FrontProxy {
    /// Passes GETs to `app_origin`; answers uploads with `status` and nginx's page for it.
    pub fn serve(app_origin: &str) -> FrontProxy {
        let upload_answer = Arc::new(Mutex::new((502, nginx_error_page(502))));
        let answer = Arc::clone(&upload_answer);
        let app_origin = app_origin.to_string();
        let server = HttpServer::new(move || {
            let answer = Arc::clone(&answer);
            let app_origin = app_origin.clone();
            App::new().default_service(web::to(move |req: HttpRequest| {
                let answer = answer.lock().expect("the answer").clone();
                let url = format!("{app_origin}{}", req.uri());
                async move {
                    if req.method() != Method::GET {
                        let (status, html) = answer;
                        return HttpResponse::build(
                            StatusCode::from_u16(status).expect("a status code"),
                        )
                        .content_type("text/html")
                        .body(html);
                    }
                    let response = reqwest::get(&url).await.expect("GET from the app");
                    let status =
                        StatusCode::from_u16(response.status().as_u16()).expect("a status code");
                    let content_type = response
                        .headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("application/octet-stream")
                        .to_string();
                    let body = response.bytes().await.expect("the app's body");
                    HttpResponse::build(status)
                        .content_type(content_type)
                        .body(body)
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .expect("bind the proxy");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        FrontProxy {
            origin: format!("http://127.0.0.1:{port}"),
            upload_answer,
            handle,
        }
    }

    /// From now on uploads get `status` with nginx's error page for it.
    pub fn answer_uploads_with(&self, status: u16) {
        *self.upload_answer.lock().expect("the answer") = (status, nginx_error_page(status));
    }

    /// From now on uploads get `status` with an empty body (a load balancer's bare answer).
    pub fn answer_uploads_bare(&self, status: u16) {
        *self.upload_answer.lock().expect("the answer") = (status, String::new());
    }
}

impl Drop for FrontProxy {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}
