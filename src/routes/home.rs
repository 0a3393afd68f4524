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

#[cfg(test)]
mod tests {
    /// The characters of app.js's `BLANK` class, `/^[...]*$/` with `\t`, `\r`, `\uXXXX`,
    /// literal characters and `a-b` ranges.
    fn page_blank_characters() -> Vec<char> {
        let app_js = include_str!("../../static/js/app.js");
        let class = app_js
            .split_once("const BLANK = /^[")
            .and_then(|(_, rest)| rest.split_once("]*$/;"))
            .map(|(class, _)| class)
            .expect("app.js defines BLANK as /^[...]*$/");
        let mut atoms = Vec::new();
        let mut rest = class;
        while let Some(c) = rest.chars().next() {
            let (atom, len) = match rest.strip_prefix('\\') {
                Some(escaped) if escaped.starts_with('t') => (Some('\t'), 2),
                Some(escaped) if escaped.starts_with('r') => (Some('\r'), 2),
                Some(escaped) if escaped.starts_with('u') => {
                    let code = u32::from_str_radix(&escaped[1..5], 16).expect("\\uXXXX");
                    (char::from_u32(code), 6)
                }
                Some(_) => panic!("unexpected escape in {class}"),
                None if c == '-' => (None, 1), // a range marker
                None => (Some(c), c.len_utf8()),
            };
            atoms.push(atom);
            rest = &rest[len..];
        }
        let mut chars = Vec::new();
        let mut i = 0;
        while i < atoms.len() {
            let from = atoms[i].expect("a character, not a dangling '-'");
            if atoms.get(i + 1) == Some(&None) {
                let to = atoms[i + 2].expect("a range's end");
                chars.extend(from..=to);
                i += 3;
            } else {
                chars.push(from);
                i += 1;
            }
        }
        chars.sort_unstable();
        chars
    }

    /// The page's "is it blank?" check must skip exactly what the server's `str::trim` skips,
    /// or a paste is refused by one and accepted by the other.
    #[test]
    fn the_pages_blank_characters_are_rusts_whitespace() {
        let rust: Vec<char> = (0..=char::MAX as u32)
            .filter_map(char::from_u32)
            .filter(|c| c.is_whitespace())
            .collect();
        assert_eq!(page_blank_characters(), rust);
    }
}
