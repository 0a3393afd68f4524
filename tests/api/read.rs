use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{
    get_on_a_small_window, raw_request, spawn_app, spawn_app_with, AppOptions, TestApp,
};

/// Sends a raw request line so that no client normalises the path first.
async fn raw_get(port: u16, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    raw_request(port, request.as_bytes()).await
}

/// A CORS preflight from another origin asking to send `method` to `path`, with the
/// request headers it names, if any.
async fn preflight(
    app: &TestApp,
    path: &str,
    method: &str,
    headers: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(reqwest::Method::OPTIONS, format!("{}{path}", app.address))
        .header("origin", "https://device.example")
        .header("access-control-request-method", method);
    if let Some(headers) = headers {
        request = request.header("access-control-request-headers", headers);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn unknown_and_hostile_ids_are_404_entry_not_found() {
    let app = spawn_app().await;
    let id = app.put_ok("exists").await;
    let long = "a".repeat(5 * 1024);
    let paths = [
        "/AAAAAAAA".to_string(),
        "/abc".to_string(),
        format!("/{long}"),
        format!("/{id}/extra"),
        format!("/{id}x"),
        "/../x".to_string(),
        "/..%2F..%2Fetc%2Fpasswd".to_string(),
        "/%ZZ%00".to_string(),
        "/%E2%98%83%E2%98%83%E2%98%83".to_string(),
        "/abc%00def".to_string(),
        "//".to_string(),
        "/static/../../etc/passwd".to_string(),
        "/%2e%2e/%2e%2e/".to_string(),
    ];
    for path in &paths {
        let answer = raw_get(app.port, path).await;
        let status_line = answer.lines().next().unwrap_or_default();
        assert!(
            status_line.starts_with("HTTP/1.1 404"),
            "{path}: {status_line}"
        );
        if !path.starts_with("/static/") {
            assert!(answer.ends_with("entry not found\n"), "{path}: {answer}");
        }
    }
    let unicode = app.get("/ünïcödé").await;
    assert_eq!(unicode.status(), 404);
    // Request targets that are not paths at all get the same answer, with its message.
    for target in ["*", "x", "AAAAAAAA"] {
        let answer = raw_get(app.port, target).await;
        assert!(answer.starts_with("HTTP/1.1 404"), "{target}: {answer}");
        assert!(answer.ends_with("entry not found\n"), "{target}: {answer}");
    }
}

#[tokio::test]
async fn pastes_cannot_run_script_and_are_cached_as_immutable() {
    let app = spawn_app().await;
    let html = "<html><script>alert(document.domain)</script><svg onload=alert(1)>";
    let id = app.put_ok(html).await;
    let response = app.get(&format!("/{id}")).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(
        headers["content-type"].to_str().unwrap().to_lowercase(),
        "text/plain; charset=utf-8"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    // A link followed from a paste (browsers and extensions that linkify plain text) must
    // not hand the linked site the paste's address, which is all that keeps it private.
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("sandbox"),
        "{csp}"
    );
    let cache = headers["cache-control"].to_str().unwrap();
    assert!(cache.contains("immutable"), "{cache}");
    assert_eq!(headers["access-control-allow-origin"], "*");
    let etag = headers["etag"].to_str().unwrap().to_string();
    assert_eq!(response.text().await.unwrap(), html);

    let revalidated = app
        .client
        .get(format!("{}/{id}", app.address))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);
    assert!(revalidated.bytes().await.unwrap().is_empty());
    // A proxy that compresses makes our tag weak; If-None-Match compares weakly.
    for tags in [format!("W/{etag}"), format!("\"other\", W/{etag}")] {
        let revalidated = app
            .client
            .get(format!("{}/{id}", app.address))
            .header("if-none-match", &tags)
            .send()
            .await
            .unwrap();
        assert_eq!(revalidated.status(), 304, "{tags}");
    }
    let other = app
        .client
        .get(format!("{}/{id}", app.address))
        .header("if-none-match", "W/\"AAAAAAAA\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
}

/// A 304 is only for ids that are stored, whether the paste is in the cache, too large for
/// it, or never read yet; `If-None-Match: *` on an unknown id is still a 404.
#[tokio::test]
async fn revalidation_answers_304_only_for_stored_pastes() {
    let app = spawn_app().await;
    let small = app.put_ok("a small paste").await;
    // Over 1 MiB: never cached, read in slices.
    let large = app.put_ok("0123456789abcdef\n".repeat(80_000)).await;
    let unknown = "AAAAAAAA";
    assert_ne!(small, unknown);
    assert_ne!(large, unknown);
    let revalidate = |id: String, tag: &'static str| {
        let request = app
            .client
            .get(format!("{}/{id}", app.address))
            .header("if-none-match", tag.replace("ID", &id));
        async move { request.send().await.unwrap() }
    };
    for id in [&small, &large] {
        for tag in ["\"ID\"", "*"] {
            let response = revalidate(id.clone(), tag).await;
            assert_eq!(response.status(), 304, "{id} {tag}");
            assert_eq!(response.headers()["etag"], format!("\"{id}\"").as_str());
            assert!(response.bytes().await.unwrap().is_empty());
        }
    }
    for tag in ["\"ID\"", "*"] {
        let response = revalidate(unknown.to_owned(), tag).await;
        assert_eq!(response.status(), 404, "{tag}");
    }
}

#[tokio::test]
async fn preflight_allows_cross_origin_uploads() {
    let app = spawn_app().await;
    for path in ["/", "/some/path"] {
        let response = preflight(&app, path, "PUT", None).await;
        assert_eq!(response.status(), 200);
        let headers = response.headers();
        assert_eq!(headers["access-control-allow-origin"], "*");
        let methods = headers["access-control-allow-methods"].to_str().unwrap();
        for method in ["GET", "PUT", "POST"] {
            assert!(methods.contains(method), "{methods}");
        }
        assert_eq!(headers["access-control-allow-headers"], "Content-Type");
    }
    // Headers an embedding app adds to every request are allowed, so its uploads go through.
    let response = preflight(&app, "/", "POST", Some("x-requested-with,authorization")).await;
    assert_eq!(
        response.headers()["access-control-allow-headers"],
        "x-requested-with,authorization"
    );
    assert_eq!(response.headers()["vary"], "Access-Control-Request-Headers");
    // Error answers can be read cross-origin too (the JS client shows their text).
    let response = app.put("").await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
}

/// Only a list of header names is allowed back as asked; anything else a preflight asks for
/// (parameters, quotes, a list past 1 KiB) gets the default answer, `Content-Type`.
#[tokio::test]
async fn preflight_allows_back_only_lists_of_header_names() {
    let app = spawn_app().await;
    let long = vec!["x-a"; 300].join(",");
    assert!(long.len() > 1024);
    for asked in ["x-a; q=1", "\"x-a\"", "x-a/b", long.as_str()] {
        let response = preflight(&app, "/", "PUT", Some(asked)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["access-control-allow-headers"],
            "Content-Type",
            "{asked}"
        );
    }
}

#[tokio::test]
async fn assets_are_embedded_and_cached_a_week() {
    let app = spawn_app().await;
    let favicon = app.get("/favicon.ico").await;
    assert_eq!(favicon.status(), 200);
    assert_eq!(favicon.headers()["content-type"], "image/x-icon");
    let icon = favicon.bytes().await.unwrap();
    assert_eq!(&icon[..4], &[0, 0, 1, 0], "an ICO header");

    let client = app.get("/static/js/logpaste.js").await;
    assert_eq!(client.status(), 200);
    let cache = client.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cache.contains("max-age=604800"), "{cache}");
    assert!(client.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    let client_js = client.text().await.unwrap();
    assert!(client_js.contains("uploadText"));
    let legacy = app.get("/js/logpaste.js").await;
    assert_eq!(legacy.status(), 200);
    assert_eq!(legacy.text().await.unwrap(), client_js);

    let css = app.get("/static/css/style.css").await;
    assert_eq!(css.status(), 200);
    assert!(css.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("text/css"));
    assert_eq!(app.get("/static/nope.js").await.status(), 404);
}

#[tokio::test]
async fn head_requests_answer_like_get_without_a_body() {
    let app = spawn_app().await;
    let id = app.put_ok("twelve bytes").await;
    let response = app.head(&format!("/{id}")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-length"], "12");
    let missing = app.head("/AAAAAAAA").await;
    assert_eq!(missing.status(), 404);
    // Every page and asset: the same status and headers as a GET, and no body.
    for path in [
        "/",
        "/static/js/logpaste.js",
        "/js/logpaste.js",
        "/favicon.ico",
        "/healthz",
        "/static/nope.js",
    ] {
        let get = app.get(path).await;
        let head = app.head(path).await;
        assert_eq!(head.status(), get.status(), "HEAD {path}");
        for name in ["content-type", "content-length", "cache-control"] {
            assert_eq!(
                head.headers().get(name),
                get.headers().get(name),
                "HEAD {path}: {name}"
            );
        }
        assert!(
            head.bytes().await.unwrap().is_empty(),
            "HEAD {path} sent a body"
        );
    }
}

/// A method a path does not take: 405 with the methods that work, in the header and in
/// a sentence (LogPaste's JS client shows an error's response text).
#[tokio::test]
async fn a_method_a_path_does_not_take_gets_405_with_a_reason() {
    let app = spawn_app().await;
    let id = app.put_ok("a paste").await;
    for (method, path) in [
        (reqwest::Method::DELETE, "/".to_string()),
        (reqwest::Method::PATCH, format!("/{id}")),
        (reqwest::Method::DELETE, format!("/{id}")),
        (reqwest::Method::DELETE, "/a/b".to_string()),
        // Paths of their own that the catch-all routes match too.
        (reqwest::Method::DELETE, "/healthz".to_string()),
        (reqwest::Method::DELETE, "/static/js/app.js".to_string()),
        (reqwest::Method::PATCH, "/favicon.ico".to_string()),
    ] {
        let response = app
            .client
            .request(method.clone(), format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        let allow = response.headers()["allow"].to_str().unwrap().to_string();
        assert!(
            ["GET", "PUT", "POST"].iter().all(|m| allow.contains(m)),
            "{allow}"
        );
        let methods: Vec<&str> = allow.split(", ").collect();
        let mut unique = methods.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(methods.len(), unique.len(), "{method} {path}: {allow}");
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; charset=utf-8"
        );
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
        let text = response.text().await.unwrap();
        assert_eq!(
            text,
            format!("method not allowed: this address answers {allow}\n"),
            "{method} {path}"
        );
    }
    // The paste is untouched.
    assert_eq!(
        app.get(&format!("/{id}")).await.text().await.unwrap(),
        "a paste"
    );
}

#[tokio::test]
async fn hostile_connections_cannot_hold_the_server() {
    let app = spawn_app().await;
    // Huge request headers are refused with a 4xx, never a 5xx.
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    let big = "a".repeat(128 * 1024);
    let request = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = vec![0u8; 256];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("answered")
        .unwrap_or(0);
    let head = String::from_utf8_lossy(&answer[..read]).into_owned();
    assert!(
        read == 0 || head.starts_with("HTTP/1.1 4"),
        "oversized headers: {head}"
    );

    // A client that sends half a request line is disconnected after the head timeout,
    // while other clients are served normally meanwhile.
    let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    slow.write_all(b"GET /healthz HT").await.unwrap();
    assert_eq!(app.get("/healthz").await.status(), 200);
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        slow.read_to_end(&mut rest),
    )
    .await;
    assert!(closed.is_ok(), "a stalled client was never disconnected");
    let text = String::from_utf8_lossy(&rest);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
}

/// Reads `stream` for at most `limit`, `chunk` bytes at a time with `pause` between reads;
/// returns the bytes read and whether the connection ended (EOF or an error).
async fn read_paced(
    stream: &mut tokio::net::TcpStream,
    chunk: usize,
    pause: std::time::Duration,
    limit: std::time::Duration,
    enough: usize,
) -> (Vec<u8>, bool) {
    let deadline = tokio::time::Instant::now() + limit;
    let mut received = Vec::new();
    let mut buffer = vec![0u8; chunk];
    while received.len() < enough {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return (received, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (received, true),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
        tokio::time::sleep(pause).await;
    }
    (received, false)
}

/// actix has no write timeout: a client that asks for a large paste and never reads held
/// the response in the server's memory for as long as it kept the connection open (1,500
/// such clients on one 2 MiB paste: 2.2 GB). Once its window has stayed shut for the stall
/// timeout, the connection is dropped. A client that reads slowly but steadily, for longer
/// than the timeout in all, gets the whole paste.
#[tokio::test]
async fn a_client_that_never_reads_its_response_is_dropped() {
    use std::time::Duration;
    // Long enough that a steady reader on a loaded machine is not mistaken for a stalled one.
    let stall = Duration::from_secs(3);
    let app = spawn_app_with(AppOptions {
        send_stall_timeout: Some(stall),
        ..Default::default()
    })
    .await;
    let paste: Vec<u8> = (0..2 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let id = app.put_ok(paste.clone()).await;
    let whole = |received: &[u8]| received.len() > paste.len() && received.ends_with(&paste);

    let mut stalled = get_on_a_small_window(app.port, &id, 4096).await;
    tokio::time::sleep(stall * 4).await;
    let (received, ended) = read_paced(
        &mut stalled,
        64 * 1024,
        Duration::ZERO,
        Duration::from_secs(10),
        paste.len() + 1024,
    )
    .await;
    assert!(
        ended && !whole(&received),
        "a client that read nothing for {:?} still got its response ({} bytes, ended: {ended})",
        stall * 4,
        received.len()
    );

    // 64 KiB every 100 ms: over 3 s for the paste, longer than the stall timeout, with the
    // window shut between reads.
    let mut steady = get_on_a_small_window(app.port, &id, 64 * 1024).await;
    let (received, _) = read_paced(
        &mut steady,
        64 * 1024,
        Duration::from_millis(100),
        Duration::from_secs(60),
        paste.len() + 1024,
    )
    .await;
    let head_end = received
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4);
    assert_eq!(
        head_end.map(|start| &received[start..]),
        Some(&paste[..]),
        "a steady reader lost its response ({} bytes)",
        received.len()
    );
}
