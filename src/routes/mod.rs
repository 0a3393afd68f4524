//! One module per resource; `configure` wires every route in one place.

pub mod health;
pub mod home;
pub mod paste;

use actix_web::http::Method;
use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/favicon.ico", web::get().to(home::favicon))
        .route("/static/{path:.*}", web::get().to(home::static_asset))
        .route("/js/logpaste.js", web::get().to(home::legacy_client_script))
        .service(
            web::resource("/")
                .route(web::get().to(home::homepage))
                .route(web::post().to(paste::post_paste))
                .route(web::put().to(paste::put_paste))
                .route(web::method(Method::OPTIONS).to(paste::preflight)),
        )
        .service(
            web::resource("/{id}")
                .route(web::get().to(paste::get_paste))
                .route(web::head().to(paste::get_paste))
                .route(web::put().to(paste::put_paste))
                .route(web::method(Method::OPTIONS).to(paste::preflight)),
        )
        // Any other path: LogPaste takes a PUT anywhere and answers GET with 404.
        .service(
            web::resource("/{tail:.*}")
                .route(web::put().to(paste::put_paste))
                .route(web::method(Method::OPTIONS).to(paste::preflight))
                .route(web::get().to(paste::not_found))
                .route(web::head().to(paste::not_found)),
        );
}
