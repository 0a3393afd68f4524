use crate::common::{spawn_app, spawn_app_with, AppOptions};

#[tokio::test]
async fn homepage_is_branded_with_escaped_title_and_raw_footer() {
    let app = spawn_app_with(AppOptions::args(&[
        "-title",
        "<script>alert('t')</script>Acme Logs",
        "--subtitle",
        "Send us \"your\" <b>logs</b> & more",
        "-footer",
        "<p class=\"operator\">Made by <a href=\"https://acme.example\">Acme</a> $HOME 'q'</p>",
    ]))
    .await;
    let response = app.get("/").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(script_src(&csp), "'self'", "{csp}");
    let html = response.text().await.unwrap();
    assert!(
        !html.contains("<script>alert('t')</script>"),
        "title must be escaped"
    );
    assert!(html.contains("Acme Logs"));
    assert!(html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"));
    assert!(!html.contains("<b>logs</b>"), "subtitle must be escaped");
    assert!(html.contains(
        "<p class=\"operator\">Made by <a href=\"https://acme.example\">Acme</a> $HOME 'q'</p>"
    ));
    for id in ["id=\"upload-textarea\"", "id=\"upload\"", "id=\"result\""] {
        assert!(html.contains(id), "missing {id}");
    }
    assert!(html.contains("id=\"docs\""), "docs shown by default");
    // The docs show this server's own URL.
    assert!(html.contains(&format!("http://127.0.0.1:{}", app.port)));
}

#[tokio::test]
async fn showdocs_false_hides_the_docs() {
    for flag in ["-showdocs=false", "--showdocs=false", "-showdocs=0"] {
        let app = spawn_app_with(AppOptions::args(&[flag])).await;
        let html = app.get("/").await.text().await.unwrap();
        assert!(!html.contains("id=\"docs\""), "{flag}");
        assert!(html.contains("id=\"upload-textarea\""));
    }
    let app = spawn_app_with(AppOptions::args(&["-showdocs"])).await;
    let html = app.get("/").await.text().await.unwrap();
    assert!(html.contains("id=\"docs\""));
}

#[tokio::test]
async fn footer_inline_scripts_are_allowed_by_hash_only() {
    let app = spawn_app_with(AppOptions::args(&[
        "-footer",
        "<script>document.body.dataset.ok = '1'</script>",
    ]))
    .await;
    let response = app.get("/").await;
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let scripts = script_src(&csp);
    assert!(scripts.contains("'sha256-"), "{csp}");
    assert!(!scripts.contains("unsafe"), "{csp}");
    let plain = spawn_app().await;
    let csp = plain.get("/").await.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(script_src(&csp), "'self'", "{csp}");
}

/// The sources of the CSP's script-src directive.
fn script_src(csp: &str) -> String {
    csp.split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix("script-src "))
        .unwrap_or_default()
        .to_string()
}
