//! The branded homepage and the assets compiled into the binary.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use base64::Engine;
use sha2::{Digest, Sha256};

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

/// The homepage's Content-Security-Policy: no inline script of ours, no asset from another
/// host. The operator's footer is trusted configuration, so its inline `<script>` blocks
/// are allowed by their hashes and its external scripts by their origins.
pub fn homepage_csp(footer: &str) -> String {
    let mut script_src = vec!["'self'".to_string()];
    for script in inline_scripts(footer) {
        let digest = Sha256::digest(script.as_bytes());
        let hash = base64::engine::general_purpose::STANDARD.encode(digest);
        script_src.push(format!("'sha256-{hash}'"));
    }
    for origin in external_script_origins(footer) {
        if !script_src.contains(&origin) {
            script_src.push(origin);
        }
    }
    format!(
        "default-src 'self'; script-src {}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data: https:; connect-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        script_src.join(" ")
    )
}

/// Bodies of `<script>` elements without a `src`, exactly as written.
fn inline_scripts(html: &str) -> Vec<&str> {
    script_tags(html)
        .filter(|(attributes, _)| attribute_value(attributes, "src").is_none())
        .map(|(_, body)| body)
        .collect()
}

/// `https://host` of each `<script src="https://host/...">`.
fn external_script_origins(html: &str) -> Vec<String> {
    script_tags(html)
        .filter_map(|(attributes, _)| attribute_value(attributes, "src"))
        .filter_map(|src| {
            let (scheme, rest) = src.split_once("://")?;
            if scheme != "https" && scheme != "http" {
                return None;
            }
            let host = rest.split(['/', '?', '#']).next()?;
            let safe = !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
            safe.then(|| format!("{scheme}://{host}"))
        })
        .collect()
}

/// (attributes, body) of each `<script ...>body</script>`; ASCII case-insensitive.
fn script_tags(html: &str) -> impl Iterator<Item = (&str, &str)> {
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(start) = lower[from..].find("<script").map(|i| i + from) {
        let Some(open_end) = lower[start..].find('>').map(|i| i + start) else {
            break;
        };
        let Some(close) = lower[open_end..].find("</script").map(|i| i + open_end) else {
            break;
        };
        found.push((&html[start + 7..open_end], &html[open_end + 1..close]));
        from = close;
    }
    found.into_iter()
}

fn attribute_value<'a>(attributes: &'a str, name: &str) -> Option<&'a str> {
    let lower = attributes.to_ascii_lowercase();
    let at = lower.find(&format!("{name}="))?;
    let rest = attributes[at + name.len() + 1..].trim_start();
    let quote = rest.chars().next()?;
    if quote == '"' || quote == '\'' {
        rest[1..].split(quote).next()
    } else {
        rest.split(|c: char| c.is_whitespace() || c == '>').next()
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
    use super::*;

    #[test]
    fn csp_allows_footer_scripts_by_hash_and_origin() {
        let footer = r#"<p>hi</p><script>console.log(1)</script>
            <SCRIPT src="https://cdn.example.com/a.js"></SCRIPT>"#;
        let csp = homepage_csp(footer);
        let hash = base64::engine::general_purpose::STANDARD
            .encode(Sha256::digest("console.log(1)".as_bytes()));
        assert!(csp.contains(&format!("'sha256-{hash}'")), "{csp}");
        assert!(csp.contains("https://cdn.example.com"), "{csp}");
    }

    #[test]
    fn csp_without_footer_allows_only_our_scripts() {
        assert!(homepage_csp("").contains("script-src 'self';"));
    }
}
