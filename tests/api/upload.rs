use reqwest::multipart::{Form, Part};

use crate::common::{id_from_link, raw_request, spawn_app, spawn_app_with, AppOptions, TestApp};

const MIB: usize = 1024 * 1024;

fn is_id(s: &str) -> bool {
    s.len() == 8 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[tokio::test]
async fn put_answers_json_id_and_get_returns_the_same_bytes() {
    let app = spawn_app().await;
    let response = app.put("Hello, world!").await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(content_type.contains("application/json"), "{content_type}");
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let text = response.text().await.unwrap();
    // One line, as LogPaste's Go encoder wrote it: a terminal's prompt starts on the next.
    assert!(
        text.ends_with("}\n") && text.lines().count() == 1,
        "{text:?}"
    );
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let id = json["id"].as_str().unwrap();
    assert!(is_id(id), "{id}");

    let paste = app.get(&format!("/{id}")).await;
    assert_eq!(paste.status(), 200);
    assert_eq!(
        paste.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_lowercase(),
        "text/plain; charset=utf-8"
    );
    assert_eq!(paste.bytes().await.unwrap(), "Hello, world!".as_bytes());
}

#[tokio::test]
async fn put_on_any_path_is_an_upload() {
    let app = spawn_app().await;
    for path in ["/anything", "/deep/er/path", "/abcdefgh"] {
        let response = app
            .client
            .put(format!("{}{path}", app.address))
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let json: serde_json::Value = response.json().await.unwrap();
        assert!(is_id(json["id"].as_str().unwrap()));
    }
}

/// LogPaste routes a form POST like a PUT, on any path (`PathPrefix("/")`): a client
/// posting to `/upload` or to the paste service's address with a path gets its link.
#[tokio::test]
async fn post_on_any_path_is_an_upload() {
    let app = spawn_app().await;
    let existing = app.put_ok("an earlier paste").await;
    let paths = [
        "/upload".to_string(),
        "/deep/er/path".to_string(),
        format!("/{existing}"),
        "/healthz".to_string(),
    ];
    for path in paths {
        let response = app
            .client
            .post(format!("{}{path}", app.address))
            .multipart(Form::new().text("_", format!("posted to {path}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let link = response.text().await.unwrap();
        let id = id_from_link(&link);
        assert!(is_id(&id), "{path}: {link:?}");
        let back = app.get(&format!("/{id}")).await.text().await.unwrap();
        assert_eq!(back, format!("posted to {path}"));
    }
    // The paste whose address was posted to is untouched.
    let earlier = app.get(&format!("/{existing}")).await.text().await.unwrap();
    assert_eq!(earlier, "an earlier paste");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Log shippers gzip their bodies: the paste is the text they carry, the limit applies to
/// that text (a small bomb is refused), and a coding we cannot read is refused, not stored.
#[tokio::test]
async fn compressed_uploads_are_stored_decoded_within_the_limit() {
    let app = spawn_app().await;
    let put = |coding: &'static str, body: Vec<u8>| put_encoded(&app, coding, body);
    let text = "2026-11-26 level=info msg=\"gzip upload\"\n".repeat(1000);
    let deflated = {
        use std::io::Write;
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(text.as_bytes()).unwrap();
        encoder.finish().unwrap()
    };
    // `x-gzip` is gzip under its old name (RFC 9110 8.4.1.3), which some shippers still send.
    for (coding, body) in [
        ("gzip", gzip(text.as_bytes())),
        ("x-gzip", gzip(text.as_bytes())),
        ("deflate", deflated),
    ] {
        let response = put(coding, body).await.unwrap();
        assert_eq!(response.status(), 200, "{coding}");
        let json: serde_json::Value = response.json().await.unwrap();
        let back = app.get(&format!("/{}", json["id"].as_str().unwrap())).await;
        assert!(back.text().await.unwrap() == text, "{coding} paste differs");
    }

    // A form, gzipped whole.
    let form =
        "--XX\r\nContent-Disposition: form-data; name=\"_\"\r\n\r\ngzipped form\r\n--XX--\r\n";
    let response = app
        .client
        .post(format!("{}/", app.address))
        .header("content-type", "multipart/form-data; boundary=XX")
        .header("content-encoding", "gzip")
        .body(gzip(form.as_bytes()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let link = response.text().await.unwrap();
    let back = app.get(&format!("/{}", id_from_link(&link))).await;
    assert_eq!(back.text().await.unwrap(), "gzipped form");

    // 3 MiB of zeros gzip to a few KiB; decoded, they pass the 2 MiB limit.
    let bomb = gzip(&vec![0u8; 3 * 1024 * 1024]);
    assert!(bomb.len() < 16 * 1024);
    let response = put("gzip", bomb).await.unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.text().await.unwrap(),
        "paste too large: the limit is 2 MiB\n"
    );

    let response = put("gzip", b"not gzip at all".to_vec()).await.unwrap();
    assert_eq!(response.status(), 400);
    let message = response.text().await.unwrap();
    assert!(message.contains("not valid gzip"), "{message}");

    // Some clients send deflate without its zlib wrapper.
    let raw_deflate = {
        use std::io::Write;
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(b"raw deflate\n").unwrap();
        encoder.finish().unwrap()
    };
    let response = put("deflate", raw_deflate).await.unwrap();
    assert_eq!(response.status(), 200);
    let json: serde_json::Value = response.json().await.unwrap();
    let back = app.get(&format!("/{}", json["id"].as_str().unwrap())).await;
    assert_eq!(back.text().await.unwrap(), "raw deflate\n");

    let response = put("gzip", Vec::new()).await.unwrap();
    assert_eq!(response.status(), 400);
    let message = response.text().await.unwrap();
    assert!(message.starts_with("empty body"), "{message}");

    // Two codings (here in two headers) are refused, not half decoded.
    let response = app
        .client
        .put(format!("{}/", app.address))
        .header("content-encoding", "gzip")
        .header("content-encoding", "gzip")
        .body(gzip(&gzip(b"twice")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);

    let response = put("br", b"x".to_vec()).await.unwrap();
    assert_eq!(response.status(), 415);
    assert_eq!(
        response.text().await.unwrap(),
        "uploads in Content-Encoding \"br\" are not accepted: send the text as is, or gzip it\n"
    );
}

/// actix's own wording for a broken chunked body was `payload reached EOF before completing: None`.
#[tokio::test]
async fn a_malformed_chunked_body_is_explained_in_plain_words() {
    let app = spawn_app().await;
    let answer = raw_request(
        app.port,
        b"PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.ends_with(
            "could not read the request body: the body ended early, or its chunked framing is malformed\n"
        ),
        "{answer}"
    );
}

/// actix reads the body of a request carrying `Upgrade: websocket` to the end of the
/// connection, whatever its Content-Length says. Such an upload went unanswered until the
/// upload deadline (160 s, then 408), reading whatever followed it into memory, while the
/// upload budget counted only the length it declared (200 of them held close to 500 MiB against a
/// 32 MiB budget). As HTTP frames it, and LogPaste read it, the body is its Content-Length,
/// or nothing without one; `raw_request` leaves the connection open, as a waiting client does.
#[tokio::test]
async fn an_upload_asking_for_a_websocket_is_read_to_its_content_length_only() {
    let app = spawn_app().await;
    let head = "Host: x\r\nUpgrade: websocket\r\nConnection: close\r\n";
    let put =
        format!("PUT / HTTP/1.1\r\n{head}Content-Length: 5\r\n\r\nhello, and bytes past the body");
    let answer = raw_request(app.port, put.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let json: serde_json::Value =
        serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap_or_default()).unwrap();
    let id = json["id"].as_str().expect("an id");
    assert_eq!(
        app.get(&format!("/{id}")).await.text().await.unwrap(),
        "hello"
    );

    let form = "--XyZ\r\nContent-Disposition: form-data; name=\"_\"\r\n\r\nhi\r\n--XyZ--\r\n";
    let post = format!(
        "POST / HTTP/1.1\r\n{head}Content-Type: multipart/form-data; boundary=XyZ\r\n\
         Content-Length: {}\r\n\r\n{form}more bytes",
        form.len()
    );
    let answer = raw_request(app.port, post.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let id = id_from_link(answer.split("\r\n\r\n").nth(1).unwrap_or_default());
    assert_eq!(app.get(&format!("/{id}")).await.text().await.unwrap(), "hi");

    let answer = raw_request(app.port, format!("PUT / HTTP/1.1\r\n{head}\r\n").as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.ends_with("empty body: send some text to paste\n"),
        "{answer}"
    );
}

#[tokio::test]
async fn odd_bytes_round_trip_exactly() {
    let app = spawn_app().await;
    let samples: Vec<Vec<u8>> = vec![
        b"\xff\xfe\x00invalid utf-8 \xc3\x28 and NUL \x00 bytes\x00".to_vec(),
        b"line one\r\nline two\r\n\r\n".to_vec(),
        "unicode: \u{1F600} \u{202E} \u{FEFF}".as_bytes().to_vec(),
        b"\x00".to_vec(),
        (0u8..=255).collect(),
    ];
    for sample in samples {
        let id = app.put_ok(sample.clone()).await;
        let back = app.get(&format!("/{id}")).await.bytes().await.unwrap();
        assert_eq!(back.as_ref(), sample.as_slice());
    }
}

#[tokio::test]
async fn large_pastes_uploaded_at_once_all_come_back_byte_for_byte() {
    let app = spawn_app().await;
    // Eight pastes of up to the default 2 MiB limit, uploaded together (the writer commits
    // them in one batch, each in a statement of its own), with invalid UTF-8 and NUL bytes
    // throughout; read back whole over HTTP, also with a HEAD for the length.
    let pastes: Vec<Vec<u8>> = (0..8usize)
        .map(|n| {
            let len = 2 * MIB - n * 40_000 - 3;
            (0..len)
                .map(|i| match i % 1000 {
                    0 => 0x00,
                    1 => 0xff,
                    _ => b'a' + ((i + n) % 26) as u8,
                })
                .collect()
        })
        .collect();
    let ids = futures_util::future::join_all(pastes.iter().map(|p| app.put_ok(p.clone()))).await;
    for (id, paste) in ids.iter().zip(&pastes) {
        let response = app.get(&format!("/{id}")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-length"],
            paste.len().to_string().as_str()
        );
        let back = response.bytes().await.unwrap();
        assert_eq!(back.len(), paste.len());
        assert!(
            back.as_ref() == paste.as_slice(),
            "paste {id} came back changed"
        );
        let head = app.head(&format!("/{id}")).await;
        assert_eq!(
            head.headers()["content-length"],
            paste.len().to_string().as_str()
        );
    }
}

/// Codings at their edges: a gzip body that decodes to exactly the limit is a paste of the
/// limit (one byte more is 413), as an uncompressed one is; `Content-Encoding: identity`
/// (or an empty value) is the body as is (RFC 9110 8.4.1), not a coding to refuse; and a
/// raw deflate stream is told from a zlib one by the whole zlib header, not by its check
/// value alone (one raw stream in 31 passes that by chance).
#[tokio::test]
async fn compressed_uploads_at_the_edges_of_the_limit_and_of_the_formats() {
    let app = spawn_app_with(AppOptions::args(&["-maxsize", "1"])).await;
    let put = |coding: &'static str, body: Vec<u8>| put_encoded(&app, coding, body);
    let read_back = |response: reqwest::Response| async {
        assert_eq!(response.status(), 200);
        let json: serde_json::Value = response.json().await.unwrap();
        let id = json["id"].as_str().unwrap().to_owned();
        app.get(&format!("/{id}")).await.bytes().await.unwrap()
    };

    let exact: Vec<u8> = (0..MIB).map(|i| b'a' + (i % 26) as u8).collect();
    let back = read_back(put("gzip", gzip(&exact)).await.unwrap()).await;
    assert!(
        back == exact,
        "a gzipped paste of exactly the limit came back different"
    );
    let mut over = exact;
    over.push(b'!');
    let response = put("gzip", gzip(&over)).await.unwrap();
    assert_eq!(response.status(), 413);

    for coding in ["identity", ""] {
        let response = put(coding, b"sent as is\n".to_vec()).await.unwrap();
        assert_eq!(response.status(), 200, "Content-Encoding {coding:?}");
        assert_eq!(read_back(response).await, "sent as is\n", "{coding:?}");
    }

    // One stored (uncompressed) deflate block of 23 bytes: header byte 0x01, then LEN 23
    // and its complement. 0x0117 is a multiple of 31, as a zlib header's first two bytes
    // are, but compression method 1 is no zlib header's.
    let text = b"a stored deflate block\n";
    let mut raw_deflate = vec![0x01, 23, 0x00, !23u8, 0xff];
    raw_deflate.extend_from_slice(text);
    assert_eq!(u16::from_be_bytes([0x01, 23]) % 31, 0);
    let back = read_back(put("deflate", raw_deflate).await.unwrap()).await;
    assert_eq!(back, &text[..]);
}

#[tokio::test]
async fn a_paste_of_exactly_the_limit_is_accepted_and_one_byte_more_is_413() {
    let app = spawn_app_with(AppOptions::args(&["-maxsize", "1"])).await;
    let exact: Vec<u8> = (0..MIB).map(|i| b'a' + (i % 26) as u8).collect();
    let id = app.put_ok(exact.clone()).await;
    let back = app.get(&format!("/{id}")).await.bytes().await.unwrap();
    assert_eq!(back.len(), MIB);
    assert_eq!(back.as_ref(), exact.as_slice());

    let mut over = exact.clone();
    over.push(b'!');
    let response = app.put(over.clone()).await;
    assert_eq!(response.status(), 413);
    assert!(response.text().await.unwrap().contains("1 MiB"));

    // Without Content-Length (chunked), the limit is enforced while reading.
    let stream = futures_util::stream::iter(
        over.chunks(64 * 1024)
            .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let response = app
        .client
        .put(format!("{}/", app.address))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    // Same limit through the form, for a text field and for a file.
    let form = Form::new().text("_", String::from_utf8(over.clone()).unwrap());
    let response = app.post_form(form).await;
    assert_eq!(response.status(), 413);
    let form = Form::new().part("f", Part::bytes(over).file_name("big.log"));
    let response = app.post_form(form).await;
    assert_eq!(response.status(), 413);
}

/// A form's whole body is capped, as LogPaste capped it: the paste limit plus room for the
/// form's framing. Parts past it (a second file, stray fields) make it too large even when
/// the paste itself would fit; before, they were read through however large they were.
#[tokio::test]
async fn a_form_body_far_over_the_limit_is_413_even_when_the_paste_fits() {
    let app = spawn_app_with(AppOptions::args(&["--maxsize", "1"])).await;
    let form_body = |parts: &[(&str, Vec<u8>)]| {
        let mut body = Vec::new();
        for (disposition, contents) in parts {
            body.extend_from_slice(
                format!("--XyZ\r\nContent-Disposition: form-data; {disposition}\r\n\r\n")
                    .as_bytes(),
            );
            body.extend_from_slice(contents);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--XyZ--\r\n");
        body
    };
    let within = vec![b'a'; MIB];
    let extra = vec![b'b'; 2 * MIB];
    let cases = [
        // Announced by Content-Length: refused before reading.
        (
            "length",
            form_body(&[
                ("name=\"_\"", b"small".to_vec()),
                ("name=\"x\"", extra.clone()),
            ]),
        ),
        // Chunked: a file of exactly the limit, then another file, then no text field.
        (
            "chunked",
            form_body(&[
                ("name=\"f\"; filename=\"a.log\"", within.clone()),
                ("name=\"g\"; filename=\"b.log\"", extra.clone()),
            ]),
        ),
    ];
    for (how, body) in cases {
        let body = if how == "chunked" {
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                body.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
            reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
        } else {
            body.into()
        };
        let response = app.post_raw_form(body).await;
        assert_eq!(response.status(), 413, "{how}");
        let text = response.text().await.unwrap();
        assert!(text.contains("too large"), "{how}: {text}");
    }
    // The framing allowance: a file of exactly the limit with a few small fields is fine.
    let body = form_body(&[
        ("name=\"empty\"", Vec::new()),
        ("name=\"f\"; filename=\"a.log\"", within.clone()),
        ("name=\"g\"; filename=\"b.log\"", b"second file".to_vec()),
    ]);
    let response = app.post_raw_form(body).await;
    assert_eq!(response.status(), 200);
    let id = id_from_link(&response.text().await.unwrap());
    assert_eq!(
        app.get(&format!("/{id}")).await.bytes().await.unwrap(),
        within
    );
}

#[tokio::test]
async fn oversize_is_refused_without_waiting_for_the_body() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(AppOptions::args(&["--maxsize", "1"])).await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    // Announce 100 MiB, send 10 bytes, and wait: the answer must come without the rest.
    stream
        .write_all(b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n0123456789")
        .await
        .unwrap();
    let mut answer = vec![0u8; 1024];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("answered before the body was sent")
        .unwrap();
    let head = String::from_utf8_lossy(&answer[..read]);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
}

#[tokio::test]
async fn empty_and_whitespace_bodies_are_refused_with_a_reason() {
    let app = spawn_app().await;
    for body in ["", " ", "\n\r\n\t  ", "\u{a0}\u{3000}"] {
        let response = app.put(body).await;
        assert_eq!(response.status(), 400, "{body:?}");
        assert!(response.text().await.unwrap().contains("empty body"));
    }
    let form = Form::new().text("_", "   \n");
    let response = app.post_form(form).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("empty body"));
}

#[tokio::test]
async fn post_takes_a_text_field_and_answers_the_url() {
    let app = spawn_app().await;
    let form = Form::new().text("_", "from curl -F '_=<-'\n");
    let response = app
        .client
        .post(format!("{}/", app.address))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let url = response.text().await.unwrap();
    let prefix = format!("http://127.0.0.1:{}/", app.port);
    assert!(url.starts_with(&prefix) && url.ends_with('\n'), "{url:?}");
    let id = url.trim_end().trim_start_matches(&prefix);
    assert!(is_id(id), "{url}");
    let back = app.get(&format!("/{id}")).await.text().await.unwrap();
    assert_eq!(back, "from curl -F '_=<-'\n");
}

#[tokio::test]
async fn post_takes_a_file_when_there_is_no_text_field() {
    let app = spawn_app().await;
    let log = b"2026-01-01 boot\n\xffbinary tail\x00".to_vec();
    let form = Form::new()
        .part("f", Part::bytes(log.clone()).file_name("app.log"))
        .part("g", Part::bytes(b"second file".to_vec()).file_name("b.log"));
    let back = app.post_form_and_read_back(form).await;
    assert_eq!(back, log);
}

#[tokio::test]
async fn a_text_field_wins_over_a_file_even_after_it() {
    let app = spawn_app().await;
    let form = Form::new()
        .part("f", Part::bytes(b"the file".to_vec()).file_name("a.log"))
        .text("first", "the first text field")
        .text("second", "the second text field");
    let back = app.post_form_and_read_back(form).await;
    assert_eq!(back, b"the first text field");
}

/// Some clients name a non-ASCII file only in RFC 5987's form (`filename*=UTF-8''...`): it is
/// still a file, so a text field after it wins, as in LogPaste (Go's multipart reader).
#[tokio::test]
async fn a_file_named_only_by_filename_star_is_a_file() {
    let app = spawn_app().await;
    let back = app
        .post_raw_form_and_read_back(
            "--XyZ\r\n\
             Content-Disposition: form-data; name=\"f\"; filename*=UTF-8''journal-%C3%BC.log\r\n\
             \r\n\
             the file\r\n\
             --XyZ\r\n\
             Content-Disposition: form-data; name=\"t\"\r\n\
             \r\n\
             the text field\r\n\
             --XyZ--\r\n",
        )
        .await;
    assert_eq!(back, b"the text field");
}

/// Go's multipart reader, and so LogPaste, skips parts that are no form field: without a
/// Content-Disposition, with another disposition, or without a name. They are not the paste,
/// and they do not fail the upload.
#[tokio::test]
async fn parts_that_are_no_form_field_are_skipped() {
    let app = spawn_app().await;
    let back = app
        .post_raw_form_and_read_back(
            "--XyZ\r\n\
             Content-Type: text/plain\r\n\
             \r\n\
             no disposition\r\n\
             --XyZ\r\n\
             Content-Disposition: form-data\r\n\
             \r\n\
             no name\r\n\
             --XyZ\r\n\
             Content-Disposition: form-data; name=\"\"\r\n\
             \r\n\
             an empty name\r\n\
             --XyZ\r\n\
             Content-Disposition: attachment; name=\"a\"; filename=\"a.log\"\r\n\
             \r\n\
             an attachment\r\n\
             --XyZ\r\n\
             Content-Disposition: form-data; name=\"t\"\r\n\
             \r\n\
             the text field\r\n\
             --XyZ--\r\n",
        )
        .await;
    assert_eq!(back, b"the text field");

    // A form of such parts alone has no field: 400, as for an empty form.
    let response = app
        .post_raw_form(
            "--XyZ\r\n\
             Content-Disposition: form-data\r\n\
             \r\n\
             no name\r\n\
             --XyZ--\r\n",
        )
        .await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("no form field"));
}

/// A part with no headers at all is no form field, and is skipped as Go's reader skips it:
/// the next part is still read as itself (actix-multipart, before, took its headers for the
/// headerless part's, and a later field became the paste).
#[tokio::test]
async fn a_part_without_headers_is_skipped_not_misread() {
    let app = spawn_app().await;
    let back = app
        .post_raw_form_and_read_back(
            "--XyZ\r\n\
             \r\n\
             no headers at all\r\n\
             --XyZ\r\n\
             Content-Disposition: form-data; name=\"a\"\r\n\
             \r\n\
             the first field\r\n\
             --XyZ\r\n\
             Content-Disposition: form-data; name=\"c\"\r\n\
             \r\n\
             the second field\r\n\
             --XyZ--\r\n",
        )
        .await;
    assert_eq!(back, b"the first field");
}

/// A part's own Content-Length header is ignored (RFC 7578 4.8), as Go's reader ignores it:
/// the part ends at the boundary. actix-multipart trusted it, and stored `he` for `hello`
/// with 200 when it said 2, or refused the form when it said more or no number.
#[tokio::test]
async fn a_part_content_length_never_cuts_the_paste() {
    let app = spawn_app().await;
    for length in ["2", "5", "100", "abc"] {
        let back = app
            .post_raw_form_and_read_back(format!(
                "--XyZ\r\n\
                 Content-Disposition: form-data; name=\"_\"\r\n\
                 Content-Length: {length}\r\n\
                 \r\n\
                 hello\r\n\
                 --XyZ--\r\n"
            ))
            .await;
        assert_eq!(back, b"hello", "part Content-Length: {length}");
    }
}

/// Forms LogPaste (Go's reader) took that actix-multipart refused: a file part that is itself
/// a nested `multipart/mixed` (its bytes are the paste), and a form with bare `\n` line ends.
#[tokio::test]
async fn nested_parts_and_bare_newline_forms_upload_as_in_logpaste() {
    let app = spawn_app().await;
    let nested = "--inner\r\nContent-Type: text/plain\r\n\r\nlog line\r\n--inner--";
    let back = app
        .post_raw_form_and_read_back(format!(
            "--XyZ\r\n\
             Content-Disposition: form-data; name=\"f\"; filename=\"logs\"\r\n\
             Content-Type: multipart/mixed; boundary=inner\r\n\
             \r\n\
             {nested}\r\n\
             --XyZ--\r\n"
        ))
        .await;
    assert_eq!(back, nested.as_bytes());
    let back = app
        .post_raw_form_and_read_back(
            "--XyZ\nContent-Disposition: form-data; name=\"_\"\n\nline one\nline two\n--XyZ--\n",
        )
        .await;
    assert_eq!(back, b"line one\nline two");
}

/// The form's Content-Type is read as Go's `mime.ParseMediaType` reads it (LogPaste): the type
/// in any case and with spaces around it, but no other subtype.
#[tokio::test]
async fn the_form_content_type_is_read_as_logpaste_reads_it() {
    let app = spawn_app().await;
    let form = "--XyZ\r\n\
                Content-Disposition: form-data; name=\"_\"\r\n\
                \r\n\
                typed loosely\r\n\
                --XyZ--\r\n";
    let post = |content_type: &'static str| {
        app.client
            .post(format!("{}/", app.address))
            .header("content-type", content_type)
            .body(form)
            .send()
    };
    for content_type in [
        "multipart/form-data ; boundary=XyZ",
        " Multipart/Form-Data;boundary=XyZ ",
        "MULTIPART/FORM-DATA; boundary=\"XyZ\"",
    ] {
        let response = post(content_type).await.unwrap();
        assert_eq!(response.status(), 200, "{content_type:?}");
        let id = id_from_link(&response.text().await.unwrap());
        let back = app.get(&format!("/{id}")).await.bytes().await.unwrap();
        assert_eq!(back.as_ref(), b"typed loosely", "{content_type:?}");
    }
    for content_type in [
        "multipart/form-datax; boundary=XyZ",
        "multipart/form-data-extra; boundary=XyZ",
    ] {
        let response = post(content_type).await.unwrap();
        assert_eq!(response.status(), 400, "{content_type:?}");
        let text = response.text().await.unwrap();
        assert!(
            text.contains("multipart/form-data"),
            "{content_type:?}: {text}"
        );
    }
}

#[tokio::test]
async fn a_blank_text_field_gives_way_to_a_file() {
    let app = spawn_app().await;
    let form = Form::new()
        .text("_", "  \n")
        .part("f", Part::bytes(b"chosen file".to_vec()).file_name("a.log"));
    let back = app.post_form_and_read_back(form).await;
    assert_eq!(back, b"chosen file");
}

#[tokio::test]
async fn bad_posts_get_400_with_a_reason() {
    let app = spawn_app().await;
    // Not multipart at all.
    let response = app
        .client
        .post(&app.address)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("_=hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("multipart/form-data"));

    // Multipart with no field and no file.
    let response = app.post_raw_form("--XyZ--\r\n").await;
    assert_eq!(response.status(), 400);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("no form field") || text.contains("malformed"),
        "{text}"
    );

    // Broken multipart: boundary never closes, garbage headers.
    for body in [
        "--XyZ\r\nContent-Disposition: form-data; name=\"_\"\r\n\r\nunterminated",
        "garbage without boundary",
        "--XyZ\r\nno-colon-header\r\n\r\nx\r\n--XyZ--\r\n",
    ] {
        let response = app.post_raw_form(body).await;
        assert_eq!(response.status(), 400, "{body:?}");
    }
    // Multipart without a boundary parameter.
    let response = app
        .client
        .post(&app.address)
        .header("content-type", "multipart/form-data")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

/// A form whose body ends inside the last part's closing delimiter (`\r`, `\r\n`, `\r\n-`)
/// used to leave actix-multipart 0.7 waiting for data that could never come, until the
/// 120 s upload deadline answered 408. It is malformed, and says so at once.
#[tokio::test]
async fn a_form_cut_off_before_its_closing_boundary_gets_400_at_once() {
    let app = spawn_app().await;
    for part in [
        "Content-Disposition: form-data; name=\"_\"",
        "Content-Disposition: form-data; name=\"f\"; filename=\"app.log\"",
    ] {
        for tail in ["", "\r", "\r\n", "\r\n-", "\r\n--"] {
            let body = format!("--XyZ\r\n{part}\r\n\r\nno closing boundary{tail}");
            // Far below the 120 s deadline the bug ran into.
            let response =
                tokio::time::timeout(std::time::Duration::from_secs(30), app.post_raw_form(body))
                    .await
                    .unwrap_or_else(|_| panic!("{part} + {tail:?}: no answer in 30 s"));
            assert_eq!(response.status(), 400, "{part} + {tail:?}");
            let text = response.text().await.unwrap();
            assert!(text.contains("malformed"), "{part} + {tail:?}: {text}");
        }
    }
}

#[tokio::test]
async fn two_hundred_concurrent_uploads_of_mixed_sizes_all_come_back() {
    let app = std::sync::Arc::new(spawn_app().await);
    // Sizes from a few bytes to ~1.5 MiB, contents unique per upload. Made before any
    // upload starts: made inside the tasks (80 MB, byte by byte, in a debug build), they
    // kept the one thread that also drives every connection busy for seconds between a
    // connection's opening and its request, and on a loaded machine the server's 10 s
    // request-head timeout answered 408 on connections the test itself had starved.
    let bodies: Vec<Vec<u8>> = (0..200usize)
        .map(|i| {
            let size = match i % 4 {
                0 => 10 + i,
                1 => 4 * 1024 + i,
                2 => 100 * 1024 + i,
                _ => 1_500_000 + i,
            };
            (0..size).map(|j| ((i * 31 + j * 7) % 251) as u8).collect()
        })
        .collect();
    let mut tasks = Vec::new();
    for (i, body) in bodies.into_iter().enumerate() {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let response = if i % 5 == 0 {
                let form = Form::new().part("f", Part::bytes(body.clone()).file_name("x.log"));
                app.post_form(form).await
            } else {
                app.put(body.clone()).await
            };
            assert_eq!(response.status(), 200, "upload {i}");
            let id = if i % 5 == 0 {
                let url = response.text().await.unwrap();
                id_from_link(&url)
            } else {
                let json: serde_json::Value = response.json().await.unwrap();
                json["id"].as_str().unwrap().to_string()
            };
            (id, body)
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        let (id, body) = task.await.unwrap();
        let back = app.get(&format!("/{id}")).await;
        assert_eq!(back.status(), 200);
        assert_eq!(back.bytes().await.unwrap().as_ref(), body.as_slice());
        assert!(ids.insert(id), "duplicate id handed out");
    }
    assert_eq!(ids.len(), 200);
}

/// Alone, a slow upload may take its time: only uploads that hold room another upload waits
/// for are held to a pace. A client on a slow link that sends a few bytes, then nothing for
/// longer than the pace window (5 s), while no other upload waits, is answered 200.
#[tokio::test]
async fn a_slow_upload_is_not_cut_off_while_no_other_upload_waits() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let body = b"a first line from a slow link\nand the rest, seconds later\n";
    let (first, rest) = body.split_at(30);
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    let head = format!(
        "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(first).await.unwrap();
    // A whole pace window and its next check (once a second) with 30 bytes sent.
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    // A server that cut the upload off may have closed the connection: the answer says so.
    let _ = stream.write_all(rest).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let json = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(json).unwrap();
    let back = app.get(&format!("/{}", json["id"].as_str().unwrap())).await;
    assert_eq!(back.bytes().await.unwrap().as_ref(), body.as_slice());
}

/// Connections that declare a 2 MiB upload and then send next to nothing hold the upload
/// budget (32 MiB: 16 of them) only until another upload waits for room: then they are cut
/// off with 408 and the waiting upload goes through.
#[tokio::test]
async fn stalled_uploads_give_way_to_waiting_ones() {
    // A probe that was only slow (a busy machine), not kept waiting for room, goes through
    // with nothing cut off: then the budget was not full yet, and a fresh server tries
    // again. Were the cut-off broken, the probe would wait past its 20 s and fail.
    for _attempt in 0..3 {
        if stalled_uploads_cut_off_for_a_waiting_one().await > 0 {
            return;
        }
    }
    panic!("no stalled upload was cut off in 3 attempts");
}

/// How many of 16 stalled uploads were cut off so that a waiting upload could go through.
async fn stalled_uploads_cut_off_for_a_waiting_one() -> usize {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let mut stalled = Vec::new();
    for _ in 0..16 {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
            .await
            .unwrap();
        stream
            .write_all(b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 2097152\r\n\r\nx")
            .await
            .unwrap();
        stalled.push(stream);
    }
    // The stalled uploads reserve their room once the server has read their headers: send
    // small uploads until one is kept waiting (not answered within a second), so that the
    // budget is likely full, however slowly this machine got there.
    let mut tries = 0;
    let waiting = loop {
        let upload = tokio::spawn(
            app.client
                .put(format!("{}/", app.address))
                .body("a log")
                .send(),
        );
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        if !upload.is_finished() {
            break upload;
        }
        tries += 1;
        assert!(tries < 10, "the stalled uploads never filled the budget");
    };
    let waiting = tokio::time::timeout(std::time::Duration::from_secs(20), waiting)
        .await
        .expect("the waiting upload went through within 20 s")
        .unwrap()
        .unwrap();
    assert_eq!(waiting.status(), 200);
    // As many are cut off as it takes to make room; the others may go on.
    let mut cut_off = 0;
    for mut stream in stalled {
        let mut answer = Vec::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_millis(500),
            stream.read_to_end(&mut answer),
        )
        .await;
        if read.is_err() {
            continue; // still holding its share, not answered yet
        }
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(
            answer.ends_with(
                "upload too slow while other uploads wait: send at least 13 KiB a second\n"
            ),
            "{answer}"
        );
        cut_off += 1;
    }
    cut_off
}

/// Parameters named RFC 2231's way are read as Go's `mime.ParseMediaType` reads them (it
/// joins `name*=UTF-8''...` into the name): urllib3 before 1.25 (Python `requests`) sends a
/// field with a non-ASCII name so. Such a field was taken for a nameless part and skipped,
/// and the form refused with 400 (no form field) where LogPaste stored it.
#[tokio::test]
async fn a_field_named_the_rfc_2231_way_is_a_field() {
    let app = spawn_app().await;
    let back = app
        .post_raw_form_and_read_back(
            "--XyZ\r\n\
             Content-Disposition: form-data; name*=utf-8''journal%C3%A9\r\n\
             \r\n\
             log line\r\n\
             --XyZ--\r\n",
        )
        .await;
    assert_eq!(back, b"log line");
}

/// A PUT of `body` sent with `Content-Encoding: coding`.
fn put_encoded(
    app: &TestApp,
    coding: &str,
    body: Vec<u8>,
) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> {
    app.client
        .put(format!("{}/", app.address))
        .header("content-encoding", coding)
        .body(body)
        .send()
}
