//! The homepage's Content-Security-Policy, and the small HTML tokenizer that reads the
//! operator's footer for it.
//!
//! The footer is trusted configuration, so its inline `<script>` blocks are allowed by their
//! hashes and its external scripts by their origins; nothing else may run. Without a footer
//! nothing loads from elsewhere except `https:` and `data:` images. With one, the other
//! directives also allow `https:` and the plain-`http://` origins the footer names, so its
//! analytics beacons, web fonts, stylesheets, images, frames and forms work.

use base64::Engine;
use sha2::{Digest, Sha256};

pub fn homepage_csp(footer: &str) -> String {
    // Browsers turn CRLF and lone CR into LF before parsing (and so before hashing).
    let html = footer.replace("\r\n", "\n").replace('\r', "\n");
    let tags = start_tags(&html);

    let mut script_src = vec!["'self'".to_string()];
    for tag in tags.iter().filter(|tag| tag.name == "script") {
        match tag.attribute("src") {
            // Any src, even an empty one, means the element's text never runs.
            Some(src) => {
                if let Some(source) = url_source(src) {
                    push_unique(&mut script_src, source.to_string());
                }
            }
            None => {
                if let Some(text) = tag.text {
                    push_unique(&mut script_src, sha256_source(text));
                }
            }
        }
    }
    let script_src = script_src.join(" ");

    if footer.is_empty() {
        return format!(
            "default-src 'self'; script-src {script_src}; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data: https:; connect-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
        );
    }
    // `https:` covers what a footer typically loads; plain-http origins (a LAN server)
    // only when the footer names them itself.
    let mut elsewhere = vec!["https:".to_string()];
    for tag in &tags {
        for name in ["src", "href", "action"] {
            if let Some(source) = tag.attribute(name).and_then(url_source) {
                if source.scheme != Some(Scheme::Https) {
                    push_unique(&mut elsewhere, source.to_string());
                }
            }
        }
    }
    let e = elsewhere.join(" ");
    format!(
        "default-src 'self'; script-src {script_src}; style-src 'self' 'unsafe-inline' {e}; \
         font-src 'self' {e}; img-src 'self' data: {e}; connect-src 'self' {e}; \
         frame-src 'self' {e}; form-action 'self' {e}; \
         frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )
}

fn push_unique(sources: &mut Vec<String>, source: String) {
    if !sources.contains(&source) {
        sources.push(source);
    }
}

fn sha256_source(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let hash = base64::engine::general_purpose::STANDARD.encode(digest);
    format!("'sha256-{hash}'")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
}

/// A CSP host source: `http://host:port`, `https://host`, or a bare `host` (from a
/// protocol-relative `//host/...`: CSP then matches it on the page's own scheme).
#[derive(Debug, PartialEq, Eq)]
struct Source {
    scheme: Option<Scheme>,
    /// Lower case, `[a-z0-9.-]` and an optional `:port`: nothing that is CSP syntax.
    host: String,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.scheme {
            Some(Scheme::Http) => write!(f, "http://{}", self.host),
            Some(Scheme::Https) => write!(f, "https://{}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// The origin a URL in the footer points to. None for relative URLs (the page's own origin,
/// already `'self'`), other schemes, and hosts a CSP host source cannot carry safely
/// (user names, IPv6 literals, non-ASCII, anything that is not a plain host name).
fn url_source(url: &str) -> Option<Source> {
    // What the URL parser ignores or reads as a slash, for http(s) URLs.
    let url: String = url
        .trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .map(|c| if c == '\\' { '/' } else { c })
        .collect();
    let (scheme, rest) = match url.split_once("//") {
        Some(("", rest)) => (None, rest),
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http:") => (Some(Scheme::Http), rest),
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https:") => {
            (Some(Scheme::Https), rest)
        }
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.contains('@') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, port),
        None => (authority.as_str(), ""),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
    let port_ok = port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
    (host_ok && port_ok).then(|| Source {
        scheme,
        host: if port.is_empty() {
            host.to_string()
        } else {
            format!("{host}:{port}")
        },
    })
}

/// A start tag as the HTML tokenizer sees it.
#[derive(Debug, PartialEq, Eq)]
struct Tag<'a> {
    /// ASCII lower case.
    name: String,
    /// (lower-case name, value as written); the first of duplicates, as browsers keep.
    attributes: Vec<(String, &'a str)>,
    /// The text of an element whose content is not markup (`script`, `style`, ...), up to
    /// its end tag; None when it never ends (a script cut off by the end of input never runs).
    text: Option<&'a str>,
}

impl<'a> Tag<'a> {
    fn attribute(&self, name: &str) -> Option<&'a str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| *value)
    }
}

/// Elements whose content runs as text to their end tag: `<script>` written inside them is
/// not a script, and `</p>` inside a script does not end it.
const TEXT_ELEMENTS: &[&str] = &[
    "script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript",
];

/// The start tags of `html` (newlines already normalised), in order, following the HTML
/// tokenizer's rules for tags, attributes, comments and text-only elements. Not covered:
/// character references in values, `<!--<script>` escapes inside a script, and scripts
/// inside `<svg>` (parsed as XML there).
fn start_tags(html: &str) -> Vec<Tag<'_>> {
    let b = html.as_bytes();
    let mut tags = Vec::new();
    let mut i = 0;
    while let Some(lt) = find_byte(b, i, b'<') {
        i = lt + 1;
        match (b.get(i), b.get(i + 1)) {
            (Some(b'!'), _) => i = skip_comment(html, i + 1),
            (Some(b'/'), Some(c)) if c.is_ascii_alphabetic() => {
                // An end tag: its attributes are read (quotes matter) and dropped.
                match read_tag(html, i + 1) {
                    Some((_, _, end)) => i = end,
                    None => break,
                }
            }
            (Some(b'/'), Some(b'>')) => i += 2,
            (Some(b'?'), _) | (Some(b'/'), Some(_)) => {
                // Bogus comment, to the next '>'.
                i = find_byte(b, i, b'>').map_or(b.len(), |gt| gt + 1);
            }
            (Some(c), _) if c.is_ascii_alphabetic() => {
                let Some((name, attributes, end)) = read_tag(html, i) else {
                    break; // a tag cut off by the end of input is dropped
                };
                i = end;
                if name == "plaintext" {
                    break; // everything after it is text
                }
                let mut text = None;
                if TEXT_ELEMENTS.contains(&name.as_str()) {
                    match find_end_tag(html, i, &name) {
                        Some(close) => {
                            text = Some(&html[i..close]);
                            i = close;
                        }
                        None => i = b.len(),
                    }
                }
                tags.push(Tag {
                    name,
                    attributes,
                    text,
                });
            }
            // `<` followed by anything else is text.
            _ => {}
        }
    }
    tags
}

fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

fn find_byte(b: &[u8], from: usize, needle: u8) -> Option<usize> {
    b.get(from..)?
        .iter()
        .position(|&c| c == needle)
        .map(|p| p + from)
}

/// From the tag name at `from` to just past the tag's `>`: (name, attributes, end).
/// None if the input ends inside the tag.
type ReadTag<'a> = (String, Vec<(String, &'a str)>, usize);

fn read_tag(html: &str, from: usize) -> Option<ReadTag<'_>> {
    let b = html.as_bytes();
    let name_end = |mut i: usize, also: &[u8]| {
        while i < b.len()
            && !is_space(b[i])
            && !matches!(b[i], b'/' | b'>')
            && !also.contains(&b[i])
        {
            i += 1;
        }
        i
    };
    let skip_spaces = |mut i: usize| {
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        i
    };
    let mut i = name_end(from, &[]);
    let name = html[from..i].to_ascii_lowercase();
    let mut attributes: Vec<(String, &str)> = Vec::new();
    loop {
        // A '/' outside a value only marks the tag self-closing.
        while i < b.len() && (is_space(b[i]) || b[i] == b'/') {
            i += 1;
        }
        if *b.get(i)? == b'>' {
            return Some((name, attributes, i + 1));
        }
        // An attribute name may begin with '=' (a parse error browsers accept).
        let start = i;
        i = name_end(i + 1, b"=");
        let attribute = html[start..i].to_ascii_lowercase();
        i = skip_spaces(i);
        let mut value = "";
        if b.get(i) == Some(&b'=') {
            i = skip_spaces(i + 1);
            match *b.get(i)? {
                quote @ (b'"' | b'\'') => {
                    let close = find_byte(b, i + 1, quote)?;
                    value = &html[i + 1..close];
                    i = close + 1;
                }
                b'>' => {} // `name=>`: an empty value, and the end of the tag
                _ => {
                    let start = i;
                    while i < b.len() && !is_space(b[i]) && b[i] != b'>' {
                        i += 1;
                    }
                    value = &html[start..i];
                }
            }
        }
        if !attributes.iter().any(|(n, _)| *n == attribute) {
            attributes.push((attribute, value));
        }
    }
}

/// Where `</name` (ASCII case-insensitive, then a space, '/' or '>') begins, from `from` on.
fn find_end_tag(html: &str, from: usize, name: &str) -> Option<usize> {
    let b = html.as_bytes();
    let mut i = from;
    while let Some(lt) = find_byte(b, i, b'<') {
        let after = lt + 2 + name.len();
        if b.get(lt + 1) == Some(&b'/')
            && b.get(lt + 2..after)
                .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
            && b.get(after)
                .is_some_and(|&c| is_space(c) || matches!(c, b'/' | b'>'))
        {
            return Some(lt);
        }
        i = lt + 1;
    }
    None
}

/// Past a `<!...` construct whose `!` ends at `from`: a `<!-- comment -->`, or else
/// (`<!DOCTYPE>`, `<![CDATA[`) a bogus comment up to the next '>'.
fn skip_comment(html: &str, from: usize) -> usize {
    let b = html.as_bytes();
    let rest = &html[from..];
    if let Some(body) = rest.strip_prefix("--") {
        // `<!-->` and `<!--->` are whole (empty) comments.
        for closed in [">", "->"] {
            if body.starts_with(closed) {
                return from + 2 + closed.len();
            }
        }
        let ends = [
            body.find("-->").map(|p| p + 3),
            body.find("--!>").map(|p| p + 4),
        ];
        return ends
            .into_iter()
            .flatten()
            .min()
            .map_or(b.len(), |end| from + 2 + end);
    }
    find_byte(b, from, b'>').map_or(b.len(), |gt| gt + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(text: &str) -> String {
        sha256_source(text)
    }

    fn directive<'a>(csp: &'a str, name: &str) -> Vec<&'a str> {
        csp.split(';')
            .map(str::trim)
            .find_map(|d| d.strip_prefix(name).and_then(|d| d.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no {name} in {csp}"))
            .split(' ')
            .collect()
    }

    fn script_src(footer: &str) -> Vec<String> {
        directive(&homepage_csp(footer), "script-src")
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn footer_scripts_are_allowed_by_hash_and_origin() {
        let footer = r#"<p>hi</p><script>console.log(1)</script>
            <SCRIPT src="https://cdn.example.com/a.js"></SCRIPT>"#;
        assert_eq!(
            script_src(footer),
            ["'self'", &hash("console.log(1)"), "https://cdn.example.com"]
        );
    }

    #[test]
    fn without_footer_the_policy_is_strict() {
        assert_eq!(
            homepage_csp(""),
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data: https:; connect-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
        );
    }

    #[test]
    fn line_breaks_are_hashed_as_browsers_see_them() {
        for footer in [
            "<script>a()\r\nb()\rc()\n</script>",
            "<script>a()\nb()\nc()\n</script>",
        ] {
            assert_eq!(script_src(footer), ["'self'", &hash("a()\nb()\nc()\n")]);
        }
    }

    #[test]
    fn attribute_names_are_matched_whole() {
        // `data-src` is not `src`: this script is inline.
        assert_eq!(
            script_src(r#"<script data-src="https://x.example/a.js">go()</script>"#),
            ["'self'", &hash("go()")]
        );
        assert_eq!(
            script_src(r#"<script xsrc=a>go()</script><script srcx=b>run()</script>"#),
            ["'self'", &hash("go()"), &hash("run()")]
        );
    }

    #[test]
    fn values_may_be_spaced_and_quoted_any_way() {
        for footer in [
            r#"<script src = "http://h.example/a.js"></script>"#,
            "<script src\n=\n'http://h.example/a.js' ></script>",
            "<script defer src=http://h.example/a.js></script>",
            r#"<script async src="http://h.example/a.js"/></script>"#,
        ] {
            assert_eq!(
                script_src(footer),
                ["'self'", "http://h.example"],
                "{footer}"
            );
        }
    }

    #[test]
    fn a_quoted_gt_does_not_end_the_tag() {
        assert_eq!(
            script_src(r#"<script data-note="a>b" type='x>y'>run()</script>"#),
            ["'self'", &hash("run()")]
        );
    }

    #[test]
    fn the_body_runs_to_the_next_script_end_tag() {
        let footer = "<script>if (a </b) x('</p>'); y('</scripts>')</SCRIPT >";
        assert_eq!(
            script_src(footer),
            ["'self'", &hash("if (a </b) x('</p>'); y('</scripts>')")]
        );
        // Cut off by the end of input: it never runs, so no hash.
        assert_eq!(script_src("<script>never()"), ["'self'"]);
    }

    #[test]
    fn scripts_in_comments_and_text_elements_are_not_scripts() {
        let footer = "<!-- <script>old()</script> --><textarea><script>t()</script></textarea>\
                      <!--><script>one()</script><!doctype x><script>two()</script>";
        assert_eq!(
            script_src(footer),
            ["'self'", &hash("one()"), &hash("two()")]
        );
    }

    #[test]
    fn protocol_relative_sources_are_scheme_less_hosts() {
        assert_eq!(
            script_src(r#"<script src="//cdn.example.com:8443/a.js"></script>"#),
            ["'self'", "cdn.example.com:8443"]
        );
        // Relative URLs are the page's own origin: 'self' already.
        assert_eq!(
            script_src(r#"<script src="/static/x.js"></script><script src="x.js"></script>"#),
            ["'self'"]
        );
        // An empty src still means the element's text never runs.
        assert_eq!(script_src(r#"<script src="">x()</script>"#), ["'self'"]);
    }

    #[test]
    fn footer_text_never_becomes_csp_syntax() {
        for src in [
            "https://evil.example;script-src *",
            "https://a.example 'unsafe-inline'/x.js",
            "https://a.example,b/x.js",
            "https://user@a.example/x.js",
            "https://[::1]/x.js",
            "https://bücher.example/x.js",
            "https://a.example:80x/x.js",
            "javascript:alert(1)",
            "data:text/javascript,alert(1)",
        ] {
            let footer = format!(r#"<script src="{src}"></script><img src="{src}">"#);
            let csp = homepage_csp(&footer);
            assert_eq!(directive(&csp, "script-src"), ["'self'"], "{src}: {csp}");
            assert_eq!(
                directive(&csp, "connect-src"),
                ["'self'", "https:"],
                "{src}: {csp}"
            );
        }
        assert_eq!(
            script_src("<script src='HTTPS://CDN.Example.COM\\a.js'></script>"),
            ["'self'", "https://cdn.example.com"]
        );
    }

    #[test]
    fn with_a_footer_other_loads_open_to_https_and_its_own_http_origins() {
        let footer = r#"<link rel="stylesheet" href="http://lan.example:8080/site.css">
            <a href="https://docs.example/">docs</a><img src=//img.example/logo.png>
            <form action="http://forms.example/submit"></form>
            <a href='mailto:ops@example.com'>mail</a>"#;
        let csp = homepage_csp(footer);
        let opened = [
            "https:",
            "http://lan.example:8080",
            "img.example",
            "http://forms.example",
        ];
        for name in ["connect-src", "font-src", "frame-src", "form-action"] {
            let expected: Vec<&str> = std::iter::once("'self'").chain(opened).collect();
            assert_eq!(directive(&csp, name), expected, "{name}: {csp}");
        }
        let style: Vec<&str> = ["'self'", "'unsafe-inline'"]
            .into_iter()
            .chain(opened)
            .collect();
        assert_eq!(directive(&csp, "style-src"), style, "{csp}");
        let img: Vec<&str> = ["'self'", "data:"].into_iter().chain(opened).collect();
        assert_eq!(directive(&csp, "img-src"), img, "{csp}");
        // Scripts stay strict, and the rest is unchanged.
        assert_eq!(directive(&csp, "script-src"), ["'self'"]);
        for kept in [
            "default-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        ] {
            assert!(csp.split("; ").any(|d| d == kept), "{kept}: {csp}");
        }
    }

    #[test]
    fn tokenizer_reads_attributes_as_browsers_do() {
        let tags = start_tags(r#"<a href=x HREF=y b c = 'd' e="f"g=h / i>text</a ><br/><p =x>"#);
        assert_eq!(tags.len(), 3);
        assert_eq!(
            tags[0].attributes,
            [
                ("href".to_string(), "x"),
                ("b".to_string(), ""),
                ("c".to_string(), "d"),
                ("e".to_string(), "f"),
                ("g".to_string(), "h"),
                ("i".to_string(), ""),
            ]
        );
        assert_eq!(tags[1].name, "br");
        assert_eq!(tags[2].attributes, [("=x".to_string(), "")]);
        // Not tags: `<` before a non-letter, and a tag cut off by the end of input.
        assert!(start_tags("a < b <3 <-- <p class=\"x").is_empty());
    }
}
