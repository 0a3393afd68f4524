//! One module per resource; `configure` wires every route in one place.

pub mod csp;
pub mod health;
pub mod home;
pub mod paste;

use actix_web::dev::ServiceResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{guard, web, Route};

/// GET, and HEAD with the same headers (actix sends no body for HEAD): link checkers,
/// CDNs and load balancers ask with HEAD.
fn get_or_head() -> Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", get_or_head().to(health::healthz))
        .route("/favicon.ico", get_or_head().to(home::favicon))
        .route("/static/{path:.*}", get_or_head().to(home::static_asset))
        .route(
            "/js/logpaste.js",
            get_or_head().to(home::legacy_client_script),
        )
        .service(
            web::resource("/")
                .route(get_or_head().to(home::homepage))
                .route(web::post().to(paste::post_paste))
                .route(web::put().to(paste::put_paste))
                .route(web::method(Method::OPTIONS).to(paste::preflight)),
        )
        .service(
            web::resource("/{id}")
                .route(get_or_head().to(paste::get_paste))
                .route(web::post().to(paste::post_paste))
                .route(web::put().to(paste::put_paste))
                .route(web::method(Method::OPTIONS).to(paste::preflight)),
        )
        // Any other path: LogPaste takes a PUT or a form POST anywhere (its routes are
        // `PathPrefix("/")`) and answers GET with 404.
        .service(
            web::resource("/{tail:.*}")
                .route(web::post().to(paste::post_paste))
                .route(web::put().to(paste::put_paste))
                .route(web::method(Method::OPTIONS).to(paste::preflight))
                .route(get_or_head().to(paste::not_found)),
        )
        // Request targets no path pattern matches (`*`, `x`): the same 404 with its message.
        .default_service(web::to(paste::not_found));
}

/// actix answers a method a path does not take with an empty 405; clients (LogPaste's JS
/// client shows the response text) get a sentence naming the methods that work.
pub fn explain_method_not_allowed<B>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let (request, response) = response.into_parts();
    // actix lists the methods of every resource the path matched (`/healthz`, then the
    // catch-all ones), repeating GET and HEAD: each is named once.
    let mut allowed: Vec<&str> = Vec::new();
    for method in response
        .headers()
        .get(header::ALLOW)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("GET, PUT, POST")
        .split(',')
        .map(str::trim)
    {
        if !method.is_empty() && !allowed.contains(&method) {
            allowed.push(method);
        }
    }
    let allowed = allowed.join(", ");
    let mut response = response.set_body(format!(
        "method not allowed: this address answers {allowed}\n"
    ));
    if let Ok(value) = HeaderValue::from_str(&allowed) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(request, response)
            .map_into_boxed_body()
            .map_into_right_body(),
    ))
}
