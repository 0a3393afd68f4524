//! Uploading (PUT raw body, POST multipart form) and reading pastes.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use tokio::sync::OwnedSemaphorePermit;

use crate::client_addr;
use crate::error::PasteError;
use crate::id;
use crate::multipart_form::{self, FieldKind, FormError};
use crate::paste_bytes::PasteBytes;
use crate::rate_limit::Decision;
use crate::startup::AppState;

/// The whole upload must arrive within this time (or longer when the size limit needs it,
/// see `upload_deadline`), so a client cannot hold a connection open for ever.
const UPLOAD_DEADLINE: Duration = Duration::from_secs(120);
/// How often a waiting upload's pace is looked at, and over what window: see `paced`.
const PACE_POLL: Duration = Duration::from_secs(1);
const PACE_WINDOW: Duration = Duration::from_secs(5);
/// 64 KiB in 5 s: about 13 KiB/s, a slow mobile link.
const MIN_PACE_BYTES: usize = 64 * 1024;
/// Responses up to this size are not counted in the response budget: a 1 KiB paste must
/// not pay for it, and what a connection holds stays small.
const UNBUDGETED_RESPONSE_BYTES: usize = 64 * 1024;
/// How long an upload (or a large paste's GET) waits for room in its budget before it is
/// turned away.
const BUDGET_WAIT: Duration = Duration::from_secs(30);
/// What a client turned away is told to wait before trying again.
const BUSY_RETRY_AFTER: Duration = Duration::from_secs(5);
/// A form's body may pass the paste limit by this much: boundaries, part headers and other
/// small fields. Past it the upload is too large, as LogPaste capped the whole body.
const FORM_FRAMING_ALLOWANCE: usize = 64 * 1024;
/// Pastes never change: browsers and proxies may keep them for a year.
const PASTE_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
/// A pasted HTML or SVG file must never run in our origin.
const PASTE_CSP: &str = "default-src 'none'; sandbox";

/// `PUT /` (any path): the raw body is the paste; answers `{"id": "..."}`.
pub async fn put_paste(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PasteError> {
    check_rate_limit(&req, &state)?;
    let limit = state.max_paste_bytes;
    let declared = declared_length(&req);
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large(limit));
    }
    let coding = content_coding(&req)?;
    let room = wait_for_room(&state, bytes_to_hold(coding, declared, limit)).await?;
    let body = read_body(payload, &state, coding, limit, declared, &room).await?;
    let id = store_paste(&state, body).await?;
    // A newline after the JSON, as Go's encoder wrote it: `curl -T` output ends its line.
    let mut json = serde_json::json!({ "id": id }).to_string();
    json.push('\n');
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(json))
}

/// `POST /` multipart form: the first non-blank text field, else the first file (see
/// `first_form_value`); answers the URL.
pub async fn post_paste(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PasteError> {
    check_rate_limit(&req, &state)?;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let boundary = multipart_form::form_data_boundary(content_type).map_err(|err| match err {
        FormError::NotFormData => PasteError::NotMultipart,
        err => PasteError::MalformedMultipart(err.to_string()),
    })?;
    let limit = state.max_paste_bytes;
    let body_limit = limit + FORM_FRAMING_ALLOWANCE;
    let declared = declared_length(&req);
    if declared.is_some_and(|length| length > body_limit as u64) {
        return Err(too_large(limit));
    }
    let coding = content_coding(&req)?;
    let room = wait_for_room(&state, bytes_to_hold(coding, declared, body_limit)).await?;
    // The form is read whole, as LogPaste read it, within the paste limit plus its framing.
    let form = match read_body(payload, &state, coding, body_limit, declared, &room).await {
        Err(PasteError::TooLarge { .. }) => return Err(too_large(limit)),
        read => read?,
    };
    // Parsed on a blocking thread: a crafted form of many tiny parts takes its time (about a
    // second for 64 MiB of them), which must not stall the worker's other connections. The
    // form holds the room, and so does the paste, a slice of it.
    let body = web::block(move || first_form_value(&form, &boundary, limit))
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "parsing a form was interrupted");
            PasteError::Interrupted
        })??;
    answer_link(&req, &state, body).await
}

/// A whole body of at most `cap` bytes (`declared` of them, if announced), read at the pace
/// and within the deadline uploads must keep, then decoded from its Content-Encoding. What
/// it answers holds `room` until the last handle on its bytes is dropped.
async fn read_body(
    payload: web::Payload,
    state: &web::Data<AppState>,
    coding: ContentCoding,
    cap: usize,
    declared: Option<u64>,
    room: &UploadRoom,
) -> Result<Bytes, PasteError> {
    let too_slow = Rc::new(Cell::new(false));
    let raw = paced(payload, state.clone(), too_slow.clone())
        .map(|chunk| chunk.map_err(describe_payload_error));
    let raw = unless_too_slow(
        with_deadline(cap, read_limited(raw, cap, declared)).await?,
        &too_slow,
    )?;
    decode(coding, holding(raw, room.clone()), cap, room.clone()).await
}

/// Stores a form's paste and answers its URL.
async fn answer_link(
    req: &HttpRequest,
    state: &AppState,
    body: Bytes,
) -> Result<HttpResponse, PasteError> {
    let id = store_paste(state, body).await?;
    let url = format!(
        "{}/{id}\n",
        client_addr::base_url(req, state.config.behind_proxy)
    );
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(url))
}

/// How an upload's body is compressed in transit (log shippers gzip theirs).
#[derive(Clone, Copy, PartialEq, Eq)]
enum ContentCoding {
    Identity,
    Gzip,
    /// HTTP's "deflate" is the zlib format (RFC 9110 8.4.1.2).
    Deflate,
}

/// Codings we cannot decode are refused rather than stored as bytes nobody could read; so
/// is more than one (`gzip, gzip`, or two headers), which no client sends.
fn content_coding(req: &HttpRequest) -> Result<ContentCoding, PasteError> {
    let codings: Vec<String> = req
        .headers()
        .get_all(header::CONTENT_ENCODING)
        .flat_map(|value| value.to_str().unwrap_or("?").split(','))
        .map(|coding| coding.trim().to_ascii_lowercase())
        .filter(|coding| !coding.is_empty() && coding != "identity")
        .collect();
    match codings.as_slice() {
        [] => Ok(ContentCoding::Identity),
        [one] if one == "gzip" || one == "x-gzip" => Ok(ContentCoding::Gzip),
        [one] if one == "deflate" => Ok(ContentCoding::Deflate),
        _ => Err(PasteError::UnsupportedEncoding(codings.join(", "))),
    }
}

/// The text a compressed body carries, at most `limit` bytes of it: the output is capped as
/// it is produced, so a small bomb cannot take memory (or the disk) before the limit bites.
/// The body holds its room while it is decoded (the thread runs on if the client resets),
/// and the text holds it after.
async fn decode(
    coding: ContentCoding,
    body: Bytes,
    limit: usize,
    room: UploadRoom,
) -> Result<Bytes, PasteError> {
    use std::io::Read;
    if coding == ContentCoding::Identity || body.is_empty() {
        return Ok(body); // an empty body gets the usual "empty body" answer
    }
    web::block(move || -> Result<Bytes, PasteError> {
        let reader: Box<dyn Read> = match coding {
            ContentCoding::Gzip => Box::new(flate2::read::MultiGzDecoder::new(&body[..])),
            // HTTP's deflate is zlib-wrapped, but some clients send the raw stream.
            _ if has_zlib_header(&body) => Box::new(flate2::read::ZlibDecoder::new(&body[..])),
            _ => Box::new(flate2::read::DeflateDecoder::new(&body[..])),
        };
        // Room for the largest answer up front: read_to_end would otherwise double its
        // buffer past the limit. Pages never written cost nothing (large buffers are
        // mapped, see allocator.rs).
        let mut text = Vec::with_capacity(limit + 1);
        reader
            .take(limit as u64 + 1)
            .read_to_end(&mut text)
            .map_err(|err| {
                PasteError::BodyRead(format!("the body is not valid {}: {err}", coding.name()))
            })?;
        if text.len() > limit {
            return Err(too_large(limit));
        }
        // The text carries the room, so it is given back only once the text is freed, even
        // when nobody waits for it any more (the client reset).
        Ok(holding(Bytes::from(text), room))
    })
    .await
    .map_err(|err| {
        tracing::error!(error = %err, "decoding an upload was interrupted");
        PasteError::Interrupted
    })?
}

/// RFC 1950: compression method 8 in the low nibble, and a check value making the first
/// two bytes a multiple of 31.
fn has_zlib_header(body: &[u8]) -> bool {
    body.len() >= 2
        && body[0] & 0x0f == 8
        && u16::from_be_bytes([body[0], body[1]]).is_multiple_of(31)
}

impl ContentCoding {
    fn name(self) -> &'static str {
        match self {
            ContentCoding::Identity => "identity",
            ContentCoding::Gzip => "gzip",
            ContentCoding::Deflate => "deflate",
        }
    }
}

/// actix's own wording leaks Rust debug output (`payload reached EOF before completing: None`).
fn describe_payload_error(err: PayloadError) -> String {
    match err {
        PayloadError::Incomplete(None) => {
            "the body ended early, or its chunked framing is malformed".to_owned()
        }
        other => other.to_string(),
    }
}

/// `GET /{id}`: the paste's bytes, exactly as uploaded.
pub async fn get_paste(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PasteError> {
    let id = req.match_info().get("id").unwrap_or_default();
    if !id::is_well_formed(id) {
        return Err(PasteError::NotFound);
    }
    let etag = format!("\"{id}\"");
    let not_modified = if_none_match(&req, &etag);
    let contents = if not_modified {
        // Known ids only: a 304 for an id that never existed would be a lie. The index
        // says so without reading the paste, which may be megabytes.
        state.store.exists(id).await?.then(PasteBytes::default)
    } else if req.method() == Method::HEAD {
        // actix sends only the headers (the length from the body) and drops the body at
        // once: nothing is held for the client, so no room is taken or waited for.
        state.store.fetch(id).await?
    } else {
        fetch_within_budget(&req, &state, id).await?
    }
    .ok_or(PasteError::NotFound)?;
    let mut response = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, PASTE_CACHE_CONTROL))
        .insert_header((header::CONTENT_SECURITY_POLICY, PASTE_CSP))
        .insert_header((header::ETAG, etag));
    if not_modified {
        return Ok(response.finish());
    }
    Ok(response.body(contents))
}

/// The paste, holding its size in the response budget (in the client's share of it) if it
/// is large: read again after a wait for room, so that nothing is held while waiting.
async fn fetch_within_budget(
    req: &HttpRequest,
    state: &AppState,
    id: &str,
) -> Result<Option<PasteBytes>, PasteError> {
    let Some(contents) = state.store.fetch(id).await? else {
        return Ok(None);
    };
    let len = contents.len();
    if len <= UNBUDGETED_RESPONSE_BYTES {
        return Ok(Some(contents));
    }
    // Only now: small pastes, nearly every GET, never need the client's address.
    let client = client_addr::client_ip(req.headers(), req.peer_addr(), state.config.behind_proxy);
    if let Some(room) = state.response_budget.try_reserve(client, len) {
        return Ok(Some(contents.holding(room)));
    }
    drop(contents);
    let room = tokio::time::timeout(BUDGET_WAIT, state.response_budget.reserve(client, len))
        .await
        .map_err(|_| PasteError::SendBusy {
            retry_after: BUSY_RETRY_AFTER,
        })?;
    let contents = state.store.fetch(id).await?;
    Ok(match room {
        Some(room) => contents.map(|contents| contents.holding(room)),
        None => contents,
    })
}

/// Anything else under GET: LogPaste's answer for every unknown path.
pub async fn not_found() -> Result<HttpResponse, PasteError> {
    Err(PasteError::NotFound)
}

/// CORS preflight: browser clients on other origins may PUT and POST, with whatever
/// headers their app adds to every request (`X-Requested-With`, `Authorization`): no
/// credentials are ever allowed, so naming them opens nothing.
pub async fn preflight(req: HttpRequest) -> HttpResponse {
    let requested = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .filter(|value| is_header_name_list(value.as_bytes()))
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("Content-Type"));
    HttpResponse::Ok()
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, PUT, POST"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, requested))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
        .insert_header((header::VARY, "Access-Control-Request-Headers"))
        .finish()
}

/// `a, b-c, x_y`: header names (RFC 9110 tokens) separated by commas.
fn is_header_name_list(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= 1024
        && value
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~, ".contains(&b))
}

fn if_none_match(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            // Weak comparison (RFC 9110 13.1.2): proxies that compress turn our tag weak.
            v.split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
        })
}

fn check_rate_limit(req: &HttpRequest, state: &AppState) -> Result<(), PasteError> {
    let Some(limiter) = &state.rate_limiter else {
        return Ok(());
    };
    let Some(ip) =
        client_addr::client_ip(req.headers(), req.peer_addr(), state.config.behind_proxy)
    else {
        return Ok(());
    };
    match limiter.check(ip) {
        Decision::Allowed => Ok(()),
        Decision::Limited { retry_after } => Err(PasteError::RateLimited {
            per_minute: limiter.per_minute(),
            retry_after,
        }),
    }
}

/// Stores the paste; the room in the upload budget its bytes hold goes with them into the
/// writer's queue.
async fn store_paste(state: &AppState, body: Bytes) -> Result<String, PasteError> {
    if is_blank(&body) {
        return Err(PasteError::EmptyBody);
    }
    Ok(state.store.insert(body).await?)
}

/// Room in the upload budget, shared by whatever holds the upload's bytes (the handler, a
/// decoding or parsing thread, the writer's queue: `read_body` attaches it to the bytes it
/// answers) and given back when the last of them lets go. A client that resets its
/// connection ends the handler at once, while its body may wait to be committed for seconds
/// (another process holding the write lock): room given back with the handler let such
/// uploads be read in without limit.
type UploadRoom = Arc<Option<OwnedSemaphorePermit>>;

/// The same bytes, keeping `room` taken until their last copy of the handle is dropped.
fn holding(body: Bytes, room: UploadRoom) -> Bytes {
    struct Held {
        body: Bytes,
        _room: UploadRoom,
    }
    impl AsRef<[u8]> for Held {
        fn as_ref(&self) -> &[u8] {
            &self.body
        }
    }
    Bytes::from_owner(Held { body, _room: room })
}

/// Empty, or nothing but whitespace (as Go's `strings.TrimSpace` sees it).
/// The homepage checks the same characters first (`BLANK` in static/js/app.js).
fn is_blank(body: &[u8]) -> bool {
    match std::str::from_utf8(body) {
        Ok(text) => text.trim().is_empty(),
        // Invalid UTF-8 is never blank: it holds at least one non-space byte.
        Err(_) => false,
    }
}

/// The body's length as HTTP frames it: its Content-Length, or `None` for a chunked body.
/// actix reads the body of an unchunked request carrying `Upgrade: websocket` to the end of
/// the connection, whatever its Content-Length: such an upload's body is its declared length
/// (`read_limited` reads no further), or nothing without one, as Go's server (LogPaste) has it.
fn declared_length(req: &HttpRequest) -> Option<u64> {
    let headers = req.headers();
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let asks_for_websocket = headers.get_all(header::UPGRADE).any(|v| {
        v.to_str()
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
    });
    if asks_for_websocket && !headers.contains_key(header::TRANSFER_ENCODING) {
        return Some(length.unwrap_or(0));
    }
    length
}

fn too_large(limit: usize) -> PasteError {
    PasteError::TooLarge {
        limit_mib: (limit / (1024 * 1024)) as u64,
    }
}

/// While other uploads wait for room in the budget, an upload holding its share must keep
/// sending: less than `MIN_PACE_BYTES` in a `PACE_WINDOW` and it is cut off (408). Without
/// this, a few connections that declare 2 MiB and then send nothing held the whole budget
/// for the two-minute upload deadline. Alone, a slow upload may take its time.
fn paced(
    payload: web::Payload,
    state: web::Data<AppState>,
    too_slow: Rc<Cell<bool>>,
) -> std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> {
    struct Pace {
        payload: web::Payload,
        state: web::Data<AppState>,
        too_slow: Rc<Cell<bool>>,
        window_start: Instant,
        window_bytes: usize,
    }
    let pace = Pace {
        payload,
        state,
        too_slow,
        window_start: Instant::now(),
        window_bytes: 0,
    };
    // Fused, so that a poll after the end (which unfold forbids) just ends it again.
    let stream = futures_util::stream::unfold(Some(pace), |pace| async move {
        let mut pace = pace?; // None: cut off, the stream has ended
        loop {
            let next = tokio::time::timeout(PACE_POLL, pace.payload.next()).await;
            if let Ok(Some(Ok(chunk))) = &next {
                pace.window_bytes += chunk.len();
            }
            if pace.window_start.elapsed() >= PACE_WINDOW {
                if pace.window_bytes < MIN_PACE_BYTES && pace.state.upload_budget.has_waiters() {
                    pace.too_slow.set(true);
                    let cut = std::io::Error::new(std::io::ErrorKind::TimedOut, "upload too slow");
                    return Some((Err(PayloadError::Io(cut)), None));
                }
                pace.window_start = Instant::now();
                pace.window_bytes = 0;
            }
            match next {
                Ok(Some(item)) => return Some((item, Some(pace))),
                Ok(None) => return None,
                Err(_no_chunk_yet) => continue,
            }
        }
    });
    Box::pin(stream.fuse())
}

/// What an upload holds of the budget: the body as declared (`cap`, the most it may be,
/// when unknown), and for a compressed body also the text it decodes to, up to `cap`.
fn bytes_to_hold(coding: ContentCoding, declared: Option<u64>, cap: usize) -> usize {
    let sent = declared.map_or(cap, |length| length as usize);
    match coding {
        ContentCoding::Identity => sent,
        _ => sent + cap,
    }
}

/// A read that `paced` cut off fails as too slow, whatever error the reader made of it.
fn unless_too_slow<T>(read: Result<T, PasteError>, too_slow: &Cell<bool>) -> Result<T, PasteError> {
    match read {
        Err(_) if too_slow.get() => Err(PasteError::TooSlow),
        read => read,
    }
}

/// The most bytes one upload may hold in memory: a compressed form and its decoded text.
pub fn largest_upload(max_paste_bytes: usize) -> usize {
    2 * (max_paste_bytes + FORM_FRAMING_ALLOWANCE)
}

/// Waits (bounded) until `bytes` of the upload budget are free for this upload.
async fn wait_for_room(state: &AppState, bytes: usize) -> Result<UploadRoom, PasteError> {
    tokio::time::timeout(BUDGET_WAIT, state.upload_budget.reserve(bytes))
        .await
        .map(Arc::new)
        .map_err(|_| PasteError::Busy {
            retry_after: BUSY_RETRY_AFTER,
        })
}

/// How long an upload of up to `limit` bytes may take: enough for the largest paste at the
/// slowest pace we accept (`MIN_PACE_BYTES` per `PACE_WINDOW`, a slow mobile link), and
/// never less than `UPLOAD_DEADLINE`. With a large `-maxsize`, a lone slow upload must not
/// be cut off at 120 s when it could never have arrived sooner.
fn upload_deadline(limit: usize) -> Duration {
    let at_slowest_pace = PACE_WINDOW.as_secs_f64() * limit as f64 / MIN_PACE_BYTES as f64;
    UPLOAD_DEADLINE.max(Duration::from_secs(at_slowest_pace.ceil() as u64))
}

async fn with_deadline<T>(
    limit: usize,
    work: impl std::future::Future<Output = T>,
) -> Result<T, PasteError> {
    let deadline = upload_deadline(limit);
    tokio::time::timeout(deadline, work)
        .await
        .map_err(|_| PasteError::UploadTimeout(deadline))
}

/// Reads a stream of chunks into memory, refusing as soon as it would pass `limit` bytes:
/// an oversize body is never held in memory. `declared`: the length announced, if any; no
/// byte past it is read (see `declared_length`), so an upload never holds more than the
/// room it took for it.
async fn read_limited<S, E>(
    mut stream: S,
    limit: usize,
    declared: Option<u64>,
) -> Result<Bytes, PasteError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let declared = declared.map(|length| usize::try_from(length).unwrap_or(usize::MAX));
    // Room for the declared length up front: no doubling and copying while reading.
    // Within the limit, and only reserved: pages a short body never fills cost nothing.
    let mut body = BytesMut::with_capacity(declared.unwrap_or(0).min(limit));
    while declared.is_none_or(|length| body.len() < length) {
        let Some(chunk) = stream.next().await else {
            break;
        };
        let mut chunk = chunk.map_err(|e| PasteError::BodyRead(e.to_string()))?;
        if let Some(length) = declared {
            chunk.truncate(length - body.len());
        }
        if body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// LogPaste's rule: the first value of any text field, else the first file. Blank text
/// fields are passed over: a form with an empty text box and a chosen file uploads the file.
/// A text field, or the first file, past the paste limit makes the upload too large. The
/// parts are looked at one by one and let go, and the form is read to its end even once the
/// answer is known: malformed anywhere, it is refused.
fn first_form_value(form: &Bytes, boundary: &str, limit: usize) -> Result<Bytes, PasteError> {
    let mut answer: Option<Result<Bytes, PasteError>> = None;
    let mut first_file: Option<Bytes> = None;
    let mut saw_blank_text = false;
    for part in multipart_form::parts(form, boundary) {
        let part = part.map_err(|err| PasteError::MalformedMultipart(err.to_string()))?;
        let Some(kind) = part.field.filter(|_| answer.is_none()) else {
            continue; // no form field (skipped, as by Go's reader), or the answer is known
        };
        let oversize = part.contents.len() > limit;
        match kind {
            FieldKind::Text if oversize => answer = Some(Err(too_large(limit))),
            FieldKind::Text if is_blank(&part.contents) => saw_blank_text = true,
            FieldKind::Text => answer = Some(Ok(part.contents)),
            FieldKind::File if first_file.is_some() => {} // later files are not the paste
            FieldKind::File if oversize => answer = Some(Err(too_large(limit))),
            FieldKind::File => first_file = Some(part.contents),
        }
    }
    match (answer, first_file) {
        (Some(answer), _) => answer,
        (None, Some(file)) => Ok(file),
        (None, None) if saw_blank_text => Err(PasteError::EmptyBody),
        (None, None) => Err(PasteError::NoFormField),
    }
}

/// Every response may be read by browser clients on other origins.
pub fn allow_any_origin() -> (header::HeaderName, HeaderValue) {
    (
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_bodies() {
        assert!(is_blank(b""));
        assert!(is_blank(b" \r\n\t "));
        assert!(is_blank("\u{a0}\u{2003}".as_bytes()));
        assert!(!is_blank(b" x "));
        assert!(!is_blank(b"\xff\xfe"));
        assert!(!is_blank(b"\0"));
    }

    #[test]
    fn the_upload_deadline_leaves_time_for_the_largest_paste_at_the_slowest_pace() {
        let mib = 1024 * 1024;
        assert_eq!(upload_deadline(2 * mib), Duration::from_secs(160));
        for limit in [mib, 2 * mib, 100 * mib, 953 * mib] {
            let deadline = upload_deadline(limit);
            // 64 KiB every 5 s: the pace below which a waiting upload is cut off.
            let slowest_send = Duration::from_secs_f64(5.0 * limit as f64 / (64.0 * 1024.0));
            assert!(deadline >= slowest_send, "{limit} bytes: {deadline:?}");
            assert!(deadline >= UPLOAD_DEADLINE);
        }
        assert_eq!(upload_deadline(1024), UPLOAD_DEADLINE);
    }
}
