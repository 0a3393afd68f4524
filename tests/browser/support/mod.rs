pub mod app;
pub mod browser;
pub mod front_proxy;
pub mod other_origin;

use std::path::PathBuf;

pub use app::TestApp;
pub use browser::{paste_id, Browser};
pub use front_proxy::FrontProxy;
pub use other_origin::OtherOrigin;

/// `test-artifacts/` at the repository root (gitignored): files for people to look at.
pub fn artifacts_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test-artifacts");
    std::fs::create_dir_all(&dir).expect("create test-artifacts/");
    dir
}
