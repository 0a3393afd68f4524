use crate::common::{spawn_app_with, AppOptions, TestApp};

async fn put_from(app: &TestApp, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = app.client.put(format!("{}/", app.address)).body("log line");
    if let Some(value) = forwarded_for {
        request = request.header("x-forwarded-for", value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn uploads_past_the_limit_get_429_with_retry_after() {
    let app = spawn_app_with(AppOptions::args(&["-perminutelimit", "3"])).await;
    for _ in 0..3 {
        assert_eq!(put_from(&app, None).await.status(), 200);
    }
    let limited = put_from(&app, None).await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(limited
        .text()
        .await
        .unwrap()
        .contains("3 uploads per minute"));
    // Form uploads count against the same budget.
    let form = reqwest::multipart::Form::new().text("_", "x");
    let response = app.post_form(form).await;
    assert_eq!(response.status(), 429);
    // Reading is never limited.
    assert_eq!(app.get("/").await.status(), 200);
}

#[tokio::test]
async fn forwarded_headers_are_ignored_outside_proxy_mode() {
    let app = spawn_app_with(AppOptions::args(&["-perminutelimit", "2"])).await;
    assert_eq!(put_from(&app, Some("198.51.100.1")).await.status(), 200);
    assert_eq!(put_from(&app, Some("198.51.100.2")).await.status(), 200);
    // A third "address" is still the same client: the header cannot buy a fresh budget.
    assert_eq!(put_from(&app, Some("198.51.100.3")).await.status(), 429);
}

/// An app in proxy mode, started with `args`.
async fn proxied_app(args: &[&str]) -> TestApp {
    spawn_app_with(AppOptions {
        behind_proxy: true,
        ..AppOptions::args(args)
    })
    .await
}

/// An app in proxy mode that lets each client upload once a minute.
async fn proxied_app_limited_to_one() -> TestApp {
    proxied_app(&["-perminutelimit", "1"]).await
}

#[tokio::test]
async fn behind_a_proxy_each_forwarded_client_has_its_own_budget() {
    let app = proxied_app_limited_to_one().await;
    assert_eq!(put_from(&app, Some("198.51.100.1")).await.status(), 200);
    let limited = put_from(&app, Some("198.51.100.1")).await;
    assert_eq!(limited.status(), 429);
    let message = limited.text().await.unwrap();
    assert!(message.contains("at most 1 upload per minute"), "{message}");
    assert_eq!(put_from(&app, Some("198.51.100.2")).await.status(), 200);
    // The proxy appends the real client last; what the client wrote before is ignored.
    assert_eq!(
        put_from(&app, Some("203.0.113.9, 198.51.100.1"))
            .await
            .status(),
        429
    );
    assert_eq!(
        put_from(&app, Some("198.51.100.1, [2001:db8::7]:443"))
            .await
            .status(),
        200
    );
}

/// A proxy appends the client's address to the `X-Forwarded-For` the client sent (nginx's
/// `$proxy_add_x_forwarded_for`): `<client's value>, <address>`. A byte that is not ASCII in
/// the client's part must not make the proxy's entry unreadable: the client was then taken
/// for the proxy itself, and a client at its limit got the proxy's budget on top of its own.
#[tokio::test]
async fn a_client_cannot_leave_its_budget_with_a_byte_that_is_not_ascii() {
    let app = proxied_app_limited_to_one().await;
    assert_eq!(put_from(&app, Some("203.0.113.9")).await.status(), 200);
    for prefix in [&b"\xff"[..], b"\xc3\xa9", b"x\x80y, 10.0.0.1"] {
        let value = [prefix, b", 203.0.113.9"].concat();
        let response = app
            .client
            .put(format!("{}/", app.address))
            .body("log line")
            .header(
                "x-forwarded-for",
                reqwest::header::HeaderValue::from_bytes(&value).unwrap(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            429,
            "{}: the client got another budget",
            String::from_utf8_lossy(&value)
        );
    }
    // The proxy's own address (a health check, say) still has its budget.
    assert_eq!(put_from(&app, None).await.status(), 200);
}

#[tokio::test]
async fn malformed_forwarded_headers_never_cause_a_5xx() {
    let app = proxied_app(&["-perminutelimit", "1000"]).await;
    // Values no host could have: the link falls back to https and the Host header.
    let junk = [
        "",
        ",,,",
        "1.2.3.4:notaport",
        "[::1",
        "a b",
        "x/y",
        "\"q\"",
        "1.2.3.4:99999",
    ];
    // Values that are syntactically host names: used as given.
    let odd_but_valid = ["not-an-ip", "999.999.999.999", "unknown"];
    for value in junk.iter().chain(odd_but_valid.iter()) {
        let request = app
            .client
            .put(format!("{}/", app.address))
            .body("x")
            .header("x-forwarded-for", *value)
            .header("x-forwarded-proto", *value)
            .header("x-forwarded-host", *value);
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{value:?}");
        let form = reqwest::multipart::Form::new().text("_", "x");
        let response = app
            .client
            .post(&app.address)
            .multipart(form)
            .header("x-forwarded-for", *value)
            .header("x-forwarded-proto", *value)
            .header("x-forwarded-host", *value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{value:?}");
        let url = response.text().await.unwrap();
        let expected_host = if junk.contains(value) {
            format!("127.0.0.1:{}", app.port)
        } else {
            value.to_string()
        };
        assert!(
            url.starts_with(&format!("https://{expected_host}/")),
            "{value:?} -> {url}"
        );
    }
}

/// A form upload as a proxy forwards it (scheme and host it reports); the answer's link.
async fn post_forwarded(app: &TestApp, proto: &str, host: &str) -> String {
    let form = reqwest::multipart::Form::new().text("_", "x");
    app.client
        .post(&app.address)
        .header("x-forwarded-proto", proto)
        .header("x-forwarded-host", host)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn proxy_mode_links_use_the_proxys_scheme_and_host() {
    let app = proxied_app(&[]).await;
    let url = post_forwarded(&app, "https", "logs.example.com").await;
    assert!(url.starts_with("https://logs.example.com/"), "{url}");

    // A proxy that terminates plain http says so, in whatever case: the link is http.
    for proto in ["http", "HTTP"] {
        let url = post_forwarded(&app, proto, "logs.example.com").await;
        assert!(
            url.starts_with("http://logs.example.com/"),
            "{proto}: {url}"
        );
    }

    // Without forwarded headers LogPaste's rule holds: https, the Host header.
    let form = reqwest::multipart::Form::new().text("_", "x");
    let url = app.post_form(form).await.text().await.unwrap();
    assert!(
        url.starts_with(&format!("https://127.0.0.1:{}/", app.port)),
        "{url}"
    );

    // Outside proxy mode the same headers are ignored.
    let direct = spawn_app_with(AppOptions::default()).await;
    let url = post_forwarded(&direct, "https", "logs.example.com").await;
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{}/", direct.port)),
        "{url}"
    );
}

#[tokio::test]
async fn thousands_of_sprayed_addresses_each_get_their_budget_and_no_5xx() {
    let app = std::sync::Arc::new(proxied_app_limited_to_one().await);
    spray(&app, 16, 125, |app, address| async move {
        let first = put_from(&app, Some(&address)).await.status().as_u16();
        let second = put_from(&app, Some(&address)).await.status().as_u16();
        assert_eq!((first, second), (200, 429), "{address}");
    })
    .await;
}

/// `workers` tasks at once, each calling `visit` for its `each` fresh addresses in turn
/// (10.x.y.z, all different).
async fn spray<F, Fut>(app: &std::sync::Arc<TestApp>, workers: u32, each: u32, visit: F)
where
    F: Fn(std::sync::Arc<TestApp>, String) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let (app, visit) = (app.clone(), visit.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..each {
                let n = worker * each + i;
                let address = format!("10.{}.{}.{}", n >> 16, (n >> 8) & 255, n & 255);
                visit(app.clone(), address).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// The limiter kept times as u32 milliseconds, which wrap after 49.7 days of uptime. Seen
/// through `saturating_sub`, every stamp from before the wrap looked zero seconds old for
/// another 49.7 days: a client that had used its budget was refused ("try again in 60 s")
/// for weeks. (No clock can be turned over HTTP: the limiter is driven through its API.)
#[test]
fn the_limit_still_expires_after_49_days_of_uptime() {
    use logpaste::rate_limit::{Decision, RateLimiter};
    use std::time::{Duration, Instant};
    let wrap = Duration::from_millis(1 << 32);
    let limiter = RateLimiter::new(2);
    let start = Instant::now();
    let client: std::net::IpAddr = "192.0.2.7".parse().unwrap();
    let before_wrap = start + wrap - Duration::from_secs(10);
    for _ in 0..2 {
        assert_eq!(limiter.check_at(client, before_wrap), Decision::Allowed);
    }
    assert!(matches!(
        limiter.check_at(client, before_wrap + Duration::from_secs(20)),
        Decision::Limited { .. }
    ));
    // A minute after those uploads, across the wrap: room again, and only for two.
    let a_minute_later = before_wrap + Duration::from_secs(61);
    assert_eq!(limiter.check_at(client, a_minute_later), Decision::Allowed);
    assert_eq!(limiter.check_at(client, a_minute_later), Decision::Allowed);
    let Decision::Limited { retry_after } = limiter.check_at(client, a_minute_later) else {
        panic!("a third upload in a minute was allowed");
    };
    assert_eq!(retry_after, Duration::from_secs(60));

    // A client last seen weeks before the wrap comes back after it: its old uploads are old.
    let other: std::net::IpAddr = "192.0.2.8".parse().unwrap();
    let weeks_before = start + Duration::from_secs(10 * 24 * 3600);
    for _ in 0..2 {
        assert_eq!(limiter.check_at(other, weeks_before), Decision::Allowed);
    }
    let weeks_later = start + wrap + Duration::from_secs(20 * 24 * 3600);
    assert_eq!(limiter.check_at(other, weeks_later), Decision::Allowed);
}

/// A proxy reached over IPv6 by its address reports the host as `[addr]`, with no port on
/// the default one: the link uses it as given. A host longer than any (255 bytes, port
/// included) is refused, and the link falls back to the Host header.
#[tokio::test]
async fn proxy_mode_links_keep_bracketed_ipv6_hosts_and_refuse_overlong_ones() {
    let app = proxied_app(&[]).await;
    let longest = format!("{}.example:8443", "a".repeat(255 - ".example:8443".len()));
    assert_eq!(longest.len(), 255);
    for host in ["[2001:db8::1]", "[2001:db8::1]:8443", longest.as_str()] {
        let url = post_forwarded(&app, "https", host).await;
        assert!(
            url.starts_with(&format!("https://{host}/")),
            "{host}: {url}"
        );
    }
    let overlong = format!("a{longest}");
    let url = post_forwarded(&app, "https", &overlong).await;
    assert!(
        url.starts_with(&format!("https://127.0.0.1:{}/", app.port)),
        "{url}"
    );
}

/// The limiter's table holds 8 MiB of clients (about 100,000 at one upload a minute, see
/// README): a spray of 13,200 fresh addresses, more than a table a tenth of that size
/// holds, must not make it forget a client that used its budget, which would then upload
/// again within the minute. (The spray sends empty bodies: each is counted, then refused.)
#[tokio::test]
async fn a_spray_of_thousands_of_addresses_does_not_reset_a_quiet_clients_budget() {
    let app = std::sync::Arc::new(proxied_app_limited_to_one().await);
    let client = "192.0.2.200";
    assert_eq!(put_from(&app, Some(client)).await.status(), 200);
    spray(&app, 8, 1_650, |app, address| async move {
        let response = app
            .client
            .put(format!("{}/", app.address))
            .header("x-forwarded-for", address)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
    })
    .await;
    assert_eq!(put_from(&app, Some(client)).await.status(), 429);
}
