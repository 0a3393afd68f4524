//! The branded homepage and the assets compiled into the binary.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use crate::client_addr;
use crate::startup::AppState;

/// Static assets are cached a week, as LogPaste did.
const ASSET_CACHE_CONTROL: &str = "public, max-age=604800";

#[derive(Template)]
#[template(path = "index.html")]
struct HomePage<'a> {
    title: &'a str,
    subtitle: &'a str,
    /// The operator's raw HTML: rendered unescaped, on purpose.
    footer: &'a str,
    show_docs: bool,
    base_url: &'a str,
    max_size_mib: u64,
}

pub async fn homepage(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let config = &state.config;
    let base_url = client_addr::base_url(&req, config.behind_proxy);
    let page = HomePage {
        title: &config.title,
        subtitle: &config.subtitle,
        footer: &config.footer,
        show_docs: config.showdocs,
        base_url: &base_url,
        max_size_mib: config.max_paste_mib(),
    };
    match page.render() {
        Ok(html) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CONTENT_SECURITY_POLICY, state.homepage_csp.as_str()))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(html),
        Err(err) => {
            tracing::error!(error = %err, "homepage template failed");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("the homepage could not be rendered\n")
        }
    }
}

struct Asset {
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $content_type:literal) => {
        Asset {
            path: $path,
            content_type: $content_type,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/static/", $path)),
        }
    };
}

const ASSETS: &[Asset] = &[
    asset!("css/style.css", "text/css; charset=utf-8"),
    asset!("js/app.js", "text/javascript; charset=utf-8"),
    asset!("js/logpaste.js", "text/javascript; charset=utf-8"),
    asset!("favicon.ico", "image/x-icon"),
];

fn asset_response(path: &str) -> HttpResponse {
    match ASSETS.iter().find(|asset| asset.path == path) {
        Some(asset) => HttpResponse::Ok()
            .content_type(asset.content_type)
            .insert_header((header::CACHE_CONTROL, ASSET_CACHE_CONTROL))
            .body(asset.bytes),
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("asset not found\n"),
    }
}

/// `GET /static/{path}`.
pub async fn static_asset(req: HttpRequest) -> HttpResponse {
    asset_response(req.match_info().get("path").unwrap_or_default())
}

/// `GET /js/logpaste.js`: where LogPaste's embedding snippets load the client from.
pub async fn legacy_client_script() -> HttpResponse {
    asset_response("js/logpaste.js")
}

pub async fn favicon() -> HttpResponse {
    asset_response("favicon.ico")
}
