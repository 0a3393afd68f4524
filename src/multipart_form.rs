//! A `multipart/form-data` body read as Go's `mime/multipart` reads it, since that is what
//! LogPaste used: clients that upload there must upload here, byte for byte.
//! - A part ends only where the boundary does: a part's own `Content-Length` header is
//!   ignored (RFC 7578 4.8), never trusted to cut the part short.
//! - Lines before the first boundary (a preamble) and after the last (an epilogue) are
//!   ignored; a form may use bare `\n` line ends if its first boundary line does.
//! - A part with no headers, another disposition than `form-data`, or no name is no form
//!   field: the caller skips it. A nested `multipart/*` part is just bytes.
//! - A file is a part whose disposition names a file (`filename`, or RFC 2231's
//!   `filename*`); any other named part is a text field.
//!
//! Not copied:
//! - Go decodes parts sent with `Content-Transfer-Encoding: quoted-printable`, which RFC 7578
//!   forbids senders to use; such a part is taken as it was sent.
//! - Go takes a body that ends inside a part's headers for the end of the form, and keeps
//!   the parts before it; we refuse it as unterminated (the upload was cut short).
//!
//! The body is read whole first (it is capped by the caller), so each part is a slice of it.

use std::collections::HashMap;

use bytes::Bytes;

/// One part of a form.
#[derive(Debug)]
pub struct FormPart {
    /// `None` when the part is no form field (see the module's notes).
    pub field: Option<FieldKind>,
    pub contents: Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    File,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormError {
    #[error("the Content-Type is not multipart/form-data")]
    NotFormData,
    #[error("the Content-Type has no boundary parameter")]
    NoBoundary,
    #[error("the Content-Type's boundary is empty")]
    EmptyBoundary,
    #[error("the Content-Type's parameters do not parse")]
    BadParameters,
    #[error("the form ends before its closing boundary")]
    Unterminated,
    #[error("a part's headers are malformed")]
    BadHeaders,
    #[error("unexpected text after a part's closing boundary")]
    StrayText,
}

/// The boundary of a `multipart/form-data` Content-Type. As Go's `mime.ParseMediaType`: the
/// type in any case, blanks around it allowed (`multipart/form-data ; boundary=b`), and no
/// other subtype (`multipart/form-datax`).
pub fn form_data_boundary(content_type: &str) -> Result<String, FormError> {
    let parameters =
        parameters_of(content_type, "multipart/form-data").ok_or(FormError::NotFormData)?;
    let parameters = parse_parameters(parameters).ok_or(FormError::BadParameters)?;
    match parameters.get("boundary") {
        None => Err(FormError::NoBoundary),
        Some(boundary) if boundary.is_empty() => Err(FormError::EmptyBoundary),
        Some(boundary) => Ok(boundary.clone()),
    }
}

/// Every part of the form up to its closing boundary, in order, one at a time: a form of
/// many tiny parts costs no more memory than its body. A form malformed anywhere is refused
/// whole, as Go's `ParseMultipartForm` refuses it, so a caller reads the parts to the end
/// (an error ends them).
pub fn parts<'a>(body: &'a Bytes, boundary: &str) -> Parts<'a> {
    Parts {
        body,
        dash_boundary: [b"--", boundary.as_bytes()].concat(),
        newline: b"\r\n",
        position: 0,
        expect_new_part: false,
        read_one: false,
        done: false,
    }
}

/// The parts of a form: see `parts`.
pub struct Parts<'a> {
    body: &'a Bytes,
    dash_boundary: Vec<u8>,
    newline: &'static [u8],
    position: usize,
    expect_new_part: bool,
    read_one: bool,
    done: bool,
}

impl Iterator for Parts<'_> {
    type Item = Result<FormPart, FormError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_part();
        if !matches!(next, Some(Ok(_))) {
            self.done = true;
        }
        next
    }
}

impl Parts<'_> {
    fn next_part(&mut self) -> Option<Result<FormPart, FormError>> {
        let body = self.body;
        let dash_boundary = &self.dash_boundary[..];
        loop {
            let Some(line) = next_line(body, self.position) else {
                // The last line has no line end: only a closing boundary may end that way.
                let rest = &body[self.position..];
                return if is_final_boundary(rest, dash_boundary, self.newline) {
                    None
                } else {
                    Some(Err(FormError::Unterminated))
                };
            };
            self.position += line.len();
            if is_delimiter_line(line, dash_boundary, &mut self.newline, !self.read_one) {
                self.read_one = true;
                self.expect_new_part = false;
                return Some(
                    read_part(body, self.position, dash_boundary, self.newline).map(
                        |(part, end)| {
                            self.position = end;
                            part
                        },
                    ),
                );
            }
            if is_final_boundary(line, dash_boundary, self.newline) {
                return None;
            }
            if self.expect_new_part {
                return Some(Err(FormError::StrayText));
            }
            if !self.read_one {
                continue; // the preamble
            }
            // The line end between a part's contents and the next boundary line.
            if line == self.newline {
                self.expect_new_part = true;
                continue;
            }
            return Some(Err(FormError::StrayText));
        }
    }
}

/// The line starting at `start`, with its `\n`; `None` when no `\n` follows.
fn next_line(body: &[u8], start: usize) -> Option<&[u8]> {
    let rest = &body[start..];
    memchr::memchr(b'\n', rest).map(|end| &rest[..=end])
}

fn skip_blanks(bytes: &[u8]) -> &[u8] {
    let blanks = bytes
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    &bytes[blanks..]
}

/// `--boundary`, optional blanks, a line end. The first one decides the line ends: Go reads
/// a form whose first boundary line ends in a bare `\n` with `\n` line ends throughout.
fn is_delimiter_line(
    line: &[u8],
    dash_boundary: &[u8],
    newline: &mut &'static [u8],
    first: bool,
) -> bool {
    let Some(rest) = line.strip_prefix(dash_boundary) else {
        return false;
    };
    let rest = skip_blanks(rest);
    if first && rest == b"\n" {
        *newline = b"\n";
    }
    rest == *newline
}

/// `--boundary--`, optional blanks, then a line end or the end of the body.
fn is_final_boundary(line: &[u8], dash_boundary: &[u8], newline: &[u8]) -> bool {
    let Some(rest) = line
        .strip_prefix(dash_boundary)
        .and_then(|rest| rest.strip_prefix(b"--"))
    else {
        return false;
    };
    let rest = skip_blanks(rest);
    rest.is_empty() || rest == newline
}

/// The part whose headers start at `start`, and where the text after its contents starts.
fn read_part(
    body: &Bytes,
    start: usize,
    dash_boundary: &[u8],
    newline: &[u8],
) -> Result<(FormPart, usize), FormError> {
    let (headers, contents_start) = read_headers(body, start)?;
    let contents_end = find_contents_end(body, contents_start, dash_boundary, newline)?;
    let part = FormPart {
        field: field_kind(&headers),
        contents: body.slice(contents_start..contents_end),
    };
    Ok((part, contents_end))
}

/// A part's header block, as Go's `textproto.ReadMIMEHeader` reads it: `Name: value` lines
/// (either line end; lines starting with a blank continue the one before) up to an empty
/// line; a line without a colon is malformed. Names are lower-cased; of a repeated header the
/// first is kept.
fn read_headers(body: &[u8], start: usize) -> Result<(HashMap<String, String>, usize), FormError> {
    let mut headers = HashMap::new();
    let mut position = start;
    let mut current: Option<(String, String)> = None;
    loop {
        let line = next_line(body, position).ok_or(FormError::Unterminated)?;
        position += line.len();
        let line = trim_line_end(line);
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            // A continuation of the header before: none before it is malformed.
            let (_, value) = current.as_mut().ok_or(FormError::BadHeaders)?;
            let more = String::from_utf8_lossy(line);
            value.push(' ');
            value.push_str(more.trim_matches([' ', '\t']));
            continue;
        }
        if let Some((name, value)) = current.take() {
            keep_first(&mut headers, name, value);
        }
        let colon = memchr::memchr(b':', line).ok_or(FormError::BadHeaders)?;
        // Go's reader takes any name as it comes, and skips a header with an empty one.
        let name = &line[..colon];
        let value = String::from_utf8_lossy(&line[colon + 1..]);
        current = Some((
            String::from_utf8_lossy(name).to_ascii_lowercase(),
            value.trim_matches([' ', '\t']).to_owned(),
        ));
    }
    if let Some((name, value)) = current {
        keep_first(&mut headers, name, value);
    }
    Ok((headers, position))
}

fn keep_first(headers: &mut HashMap<String, String>, name: String, value: String) {
    if !name.is_empty() {
        headers.entry(name).or_insert(value);
    }
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Where a part's contents end: before the line end that precedes the next boundary
/// (`\r\n--boundary`, followed by a blank, a line end, `--` or the end of the body; so
/// `--boundaryX` inside the contents is not one). Go also takes a boundary right after the
/// headers, with no line end before it, for empty contents.
fn find_contents_end(
    body: &[u8],
    start: usize,
    dash_boundary: &[u8],
    newline: &[u8],
) -> Result<usize, FormError> {
    let contents = &body[start..];
    if contents.starts_with(dash_boundary) && ends_a_boundary(&contents[dash_boundary.len()..]) {
        return Ok(start);
    }
    let newline_dash_boundary = [newline, dash_boundary].concat();
    let finder = memchr::memmem::Finder::new(&newline_dash_boundary);
    let mut searched = 0;
    while let Some(found) = finder.find(&contents[searched..]) {
        let at = searched + found;
        if ends_a_boundary(&contents[at + newline_dash_boundary.len()..]) {
            return Ok(start + at);
        }
        searched = at + 1;
    }
    Err(FormError::Unterminated)
}

/// Go's `matchAfterPrefix` at the end of the input: what follows `--boundary` makes it one.
fn ends_a_boundary(after: &[u8]) -> bool {
    matches!(
        after,
        [] | [b' ' | b'\t' | b'\r' | b'\n', ..] | [b'-', b'-', ..]
    )
}

/// Go's `Part.FormName` and `Part.FileName`: a field needs a `form-data` disposition with a
/// non-empty name; it is a file when it names a non-empty file name. Either may be given
/// RFC 2231's way (`name*=UTF-8''...`, `filename*0=...`), which `mime.ParseMediaType` reads.
fn field_kind(headers: &HashMap<String, String>) -> Option<FieldKind> {
    let disposition = headers.get("content-disposition")?;
    // Parameters that do not parse leave the part without a name, as in Go.
    let parameters = parse_parameters(parameters_of(disposition, "form-data")?)?;
    let named = |key: &str| parameters.get(key).is_some_and(|value| !value.is_empty());
    if !named("name") {
        return None;
    }
    Some(if named("filename") {
        FieldKind::File
    } else {
        FieldKind::Text
    })
}

/// The parameters of a header value (`type; key=value...`) whose type, before any `;` and
/// trimmed, is `expected` in any case (Go's `mime.ParseMediaType` splits them so).
fn parameters_of<'a>(value: &'a str, expected: &str) -> Option<&'a str> {
    let kind = value.split(';').next().unwrap_or_default();
    kind.trim()
        .eq_ignore_ascii_case(expected)
        .then(|| &value[kind.len()..])
}

/// `; key=value; key="quoted value"` as Go's `mime.ParseMediaType` reads parameters: keys
/// lower-cased, values a token or a quoted string, white space (Unicode's) around them, a
/// trailing `;` allowed, a key given twice refused. RFC 2231's pieces of a
/// parameter (`key*`, encoded; `key*0`, `key*1*`..., continued) are joined into `key`,
/// replacing a plain `key`. `None` when they do not parse.
fn parse_parameters(text: &str) -> Option<HashMap<String, String>> {
    let blank = char::is_whitespace; // Go's unicode.IsSpace
    let mut parameters: HashMap<String, String> = HashMap::new();
    let mut pieces: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut rest = text.trim_start_matches(blank);
    while !rest.is_empty() {
        rest = rest.strip_prefix(';')?.trim_start_matches(blank);
        if rest.trim_end_matches(blank).is_empty() {
            break; // a trailing ';'
        }
        let (key, after_key) = take_token(rest);
        if key.is_empty() {
            return None;
        }
        let after_equals = after_key
            .trim_start_matches(blank)
            .strip_prefix('=')?
            .trim_start_matches(blank);
        let (value, after_value) = take_value(after_equals)?;
        let key = key.to_ascii_lowercase();
        let map = match key.split_once('*') {
            Some((base, _)) => pieces.entry(base.to_owned()).or_default(),
            None => &mut parameters,
        };
        if map.insert(key, value).is_some() {
            return None; // Go 1.19 refuses a key given twice, even with the same value
        }
        rest = after_value.trim_start_matches(blank);
    }
    for (base, pieces) in pieces {
        if let Some(encoded) = pieces.get(&format!("{base}*")) {
            if let Some(decoded) = decode_rfc2231(encoded) {
                parameters.insert(base, String::from_utf8_lossy(&decoded).into_owned());
            }
            continue;
        }
        let mut joined = Vec::new();
        let mut any = false;
        for n in 0.. {
            if let Some(plain) = pieces.get(&format!("{base}*{n}")) {
                joined.extend_from_slice(plain.as_bytes());
            } else if let Some(encoded) = pieces.get(&format!("{base}*{n}*")) {
                let decoded = match n {
                    0 => decode_rfc2231(encoded),
                    _ => percent_decode(encoded),
                };
                joined.extend(decoded.unwrap_or_default());
            } else {
                break;
            }
            any = true;
        }
        if any {
            parameters.insert(base, String::from_utf8_lossy(&joined).into_owned());
        }
    }
    Some(parameters)
}

/// `charset'language'percent-encoded`, for the charsets Go decodes (UTF-8 and US-ASCII).
fn decode_rfc2231(encoded: &str) -> Option<Vec<u8>> {
    let mut pieces = encoded.splitn(3, '\'');
    let charset = pieces.next()?;
    let _language = pieces.next()?;
    let text = pieces.next()?;
    if !charset.eq_ignore_ascii_case("utf-8") && !charset.eq_ignore_ascii_case("us-ascii") {
        return None;
    }
    percent_decode(text)
}

/// `%` and two hex digits for a byte; `None` when a `%` is not so followed.
fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let digit = |b: u8| (b as char).to_digit(16);
            decoded.push((digit(hex[0])? * 16 + digit(hex[1])?) as u8);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    Some(decoded)
}

const TSPECIALS: &[u8] = b"()<>@,;:\\\"/[]?=";

/// RFC 2045's token characters (Go's `isTokenChar`).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_graphic() && !TSPECIALS.contains(&b)
}

fn is_tspecial(c: char) -> bool {
    c.is_ascii() && TSPECIALS.contains(&(c as u8))
}

fn take_token(text: &str) -> (&str, &str) {
    let end = text
        .bytes()
        .position(|b| !is_token_byte(b))
        .unwrap_or(text.len());
    text.split_at(end)
}

/// A token, or a quoted string whose `\` escapes the special characters (Go's
/// `consumeValue`); a quoted string may not hold a line end.
fn take_value(text: &str) -> Option<(String, &str)> {
    let Some(quoted) = text.strip_prefix('"') else {
        let (token, rest) = take_token(text);
        return (!token.is_empty()).then(|| (token.to_owned(), rest));
    };
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &quoted[i + 1..])),
            '\r' | '\n' => return None,
            '\\' => {
                let escaped = quoted[i + 1..].chars().next();
                match escaped {
                    Some(e) if is_tspecial(e) => {
                        value.push(e);
                        chars.next();
                    }
                    _ => value.push('\\'),
                }
            }
            other => value.push(other),
        }
    }
    None // no closing quote
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(body: &str, boundary: &str) -> Result<Vec<(Option<FieldKind>, String)>, FormError> {
        let body = Bytes::copy_from_slice(body.as_bytes());
        Ok(parts(&body, boundary)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(|part| {
                (
                    part.field,
                    String::from_utf8(part.contents.to_vec()).unwrap(),
                )
            })
            .collect())
    }

    /// The boundary of a form Content-Type with these parameters.
    fn boundary(parameters: &str) -> Result<String, FormError> {
        form_data_boundary(&format!("multipart/form-data{parameters}"))
    }

    const TEXT: Option<FieldKind> = Some(FieldKind::Text);
    const FILE: Option<FieldKind> = Some(FieldKind::File);

    #[test]
    fn a_form_of_a_text_field_and_a_file() {
        let form = "--b\r\n\
                    Content-Disposition: form-data; name=\"_\"\r\n\
                    \r\n\
                    hello\r\nworld\r\n\
                    --b\r\n\
                    content-disposition: FORM-DATA; name=f; filename=\"a.log\"\r\n\
                    Content-Type: text/plain\r\n\
                    \r\n\
                    the file\r\n\
                    --b--\r\n";
        assert_eq!(
            read(form, "b").unwrap(),
            [
                (TEXT, "hello\r\nworld".to_owned()),
                (FILE, "the file".to_owned())
            ]
        );
    }

    #[test]
    fn a_part_content_length_does_not_cut_it_short() {
        for length in ["2", "100", "abc"] {
            let form = format!(
                "--b\r\nContent-Disposition: form-data; name=\"_\"\r\nContent-Length: {length}\r\n\r\nhello\r\n--b--\r\n"
            );
            assert_eq!(read(&form, "b").unwrap(), [(TEXT, "hello".to_owned())]);
        }
    }

    #[test]
    fn preamble_epilogue_blanks_and_bare_newlines_as_in_go() {
        let form = "preamble line\r\n--b \t\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--b-- \r\nepilogue";
        assert_eq!(read(form, "b").unwrap(), [(TEXT, "x".to_owned())]);
        let form = "--b\nContent-Disposition: form-data; name=a\n\nline one\r\nline two\n--b--";
        assert_eq!(
            read(form, "b").unwrap(),
            [(TEXT, "line one\r\nline two".to_owned())]
        );
    }

    #[test]
    fn header_names_as_go_takes_them() {
        let form = "--b\r\nBad Name: x\r\n: empty name\r\n continued\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\nx\r\n--b--";
        assert_eq!(read(form, "b").unwrap(), [(TEXT, "x".to_owned())]);
    }

    #[test]
    fn a_longer_boundary_inside_the_contents_is_contents() {
        let form =
            "--b\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--bb\r\ny\r\n--b--\r\n";
        assert_eq!(
            read(form, "b").unwrap(),
            [(TEXT, "x\r\n--bb\r\ny".to_owned())]
        );
    }

    #[test]
    fn parts_that_are_no_field() {
        let form = "--b\r\n\r\nno headers\r\n\
                    --b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\nnested\r\n--c--\r\n\
                    --b\r\nContent-Disposition: attachment; name=a\r\n\r\nattachment\r\n\
                    --b\r\nContent-Disposition: form-data; name=\"\"\r\n\r\nempty name\r\n\
                    --b\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\ntwice\r\n\
                    --b\r\nContent-Disposition: form-data; name=\"a\"; filename=\"\"\r\n\r\nno file name\r\n\
                    --b\r\nContent-Disposition: form-data; name=a; filename*=UTF-8''%C3%BC.log\r\n\r\nencoded\r\n\
                    --b--\r\n";
        let read = read(form, "b").unwrap();
        let kinds: Vec<_> = read.iter().map(|(kind, _)| *kind).collect();
        assert_eq!(kinds, [None, None, None, None, None, TEXT, FILE]);
        assert_eq!(read[1].1, "--c\r\nnested\r\n--c--");
    }

    #[test]
    fn empty_contents_with_or_without_the_line_end() {
        let form = "--b\r\nContent-Disposition: form-data; name=a\r\n\r\n--b\r\nContent-Disposition: form-data; name=c\r\n\r\n\r\n--b--";
        assert_eq!(
            read(form, "b").unwrap(),
            [(TEXT, String::new()), (TEXT, String::new())]
        );
    }

    #[test]
    fn malformed_forms_are_refused() {
        let cases = [
            ("", FormError::Unterminated),
            ("garbage", FormError::Unterminated),
            ("--b\r\nContent-Disposition: form-data; name=a\r\n\r\nno end", FormError::Unterminated),
            ("--b\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--b", FormError::Unterminated),
            ("--b\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--b-", FormError::Unterminated),
            ("--b\r\nno colon\r\n\r\nx\r\n--b--", FormError::BadHeaders),
            ("--b\r\n continued\r\n\r\nx\r\n--b--", FormError::BadHeaders),
            ("--b\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--b junk\r\n", FormError::StrayText),
            ("--b\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--b\r\nContent-Disposition: form-data; name=c", FormError::Unterminated),
        ];
        for (form, error) in cases {
            assert_eq!(read(form, "b"), Err(error), "{form:?}");
        }
        // The closing boundary alone is a form with no parts.
        assert_eq!(read("--b--", "b").unwrap(), []);
    }

    #[test]
    fn parameters_as_go_parses_them() {
        let kind = |disposition: &str| {
            let form = format!("--b\r\nContent-Disposition: {disposition}\r\n\r\nx\r\n--b--");
            read(&form, "b").unwrap()[0].0
        };
        // RFC 2231: encoded (`key*`) or continued (`key*0`, `key*1*`) pieces make the key,
        // in place of a plain one; a piece that does not decode makes it empty.
        assert_eq!(kind("form-data; name*=utf-8''%C3%A9"), TEXT);
        assert_eq!(kind("form-data; name*=iso-8859-1''a"), None);
        assert_eq!(kind("form-data; name*0=a; name*1*=%41"), TEXT);
        assert_eq!(kind("form-data; name=a; filename*0*=utf-8''%41.log"), FILE);
        assert_eq!(
            kind("form-data; name=a; filename=x; filename*0*=utf-8''"),
            TEXT
        );
        assert_eq!(kind("form-data; name=a; filename*=utf-8''%+1"), TEXT);
        assert_eq!(
            kind("form-data; name=a; filename*=utf-8''%zz; filename=x"),
            FILE
        );
        // Unicode white space around parameters (a CR, a no-break space); a key twice.
        assert_eq!(kind("form-data; name=a\r"), TEXT);
        assert_eq!(kind("form-data;\u{a0}name=a"), TEXT);
        assert_eq!(kind("form-data; name=a; name=a"), None);
        assert_eq!(boundary("; boundary*=utf-8''x%41").unwrap(), "xA");
    }

    #[test]
    fn boundaries_from_content_type_parameters() {
        assert_eq!(boundary("; boundary=XyZ").unwrap(), "XyZ");
        assert_eq!(
            boundary(";boundary=\"a b\\\"c\"; charset=utf-8;").unwrap(),
            "a b\"c"
        );
        assert_eq!(boundary(" ; BOUNDARY = x").unwrap(), "x");
        assert_eq!(boundary(""), Err(FormError::NoBoundary));
        assert_eq!(boundary("; charset=utf-8"), Err(FormError::NoBoundary));
        assert_eq!(boundary("; boundary=\"\""), Err(FormError::EmptyBoundary));
        assert_eq!(
            boundary("; boundary=a; boundary=b"),
            Err(FormError::BadParameters)
        );
        assert_eq!(boundary("; boundary=\"open"), Err(FormError::BadParameters));
        assert_eq!(boundary("; boundary"), Err(FormError::BadParameters));
    }
}
