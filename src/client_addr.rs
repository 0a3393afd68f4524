//! Who the client is, and which URL it reached us at: straight from the connection, or,
//! in proxy mode only, from the headers the proxy adds. Every header is parsed
//! defensively: a malformed one falls back to the connection's own data, never to an error.

use std::net::{IpAddr, SocketAddr};

use actix_web::http::header::{HeaderMap, HOST};
use actix_web::HttpRequest;

const FORWARDED_FOR: &str = "x-forwarded-for";
const FORWARDED_PROTO: &str = "x-forwarded-proto";
const FORWARDED_HOST: &str = "x-forwarded-host";

/// The client's IP address. Outside proxy mode forwarded headers are ignored, so nobody can
/// claim another address. Behind a proxy, the right-most `X-Forwarded-For` entry is the one
/// our proxy appended (entries to its left are whatever the client sent). The value is split
/// as bytes: a proxy appends its entry to the client's own value (nginx's
/// `$proxy_add_x_forwarded_for`), and a byte of the client's that is not ASCII must not spoil
/// the proxy's entry (the whole value read as text failed, and the client was taken for the
/// proxy itself, with the proxy's own rate limit).
pub fn client_ip(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    behind_proxy: bool,
) -> Option<IpAddr> {
    if behind_proxy {
        if let Some(ip) = headers
            .get_all(FORWARDED_FOR)
            .flat_map(|value| value.as_bytes().split(|&b| b == b','))
            .last()
            .and_then(|entry| std::str::from_utf8(entry).ok())
            .and_then(parse_ip_with_optional_port)
        {
            return Some(ip.to_canonical());
        }
    }
    // An IPv4 client of the dual-stack listener arrives as `::ffff:a.b.c.d`: it is
    // logged and keyed as the IPv4 address it is.
    peer.map(|addr| addr.ip().to_canonical())
}

/// `203.0.113.7`, `203.0.113.7:4711`, `2001:db8::1`, `[2001:db8::1]:4711`.
fn parse_ip_with_optional_port(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Some(ip);
    }
    raw.parse::<SocketAddr>().ok().map(|addr| addr.ip())
}

/// `scheme://host` the client used to reach us, for the links we hand out.
pub fn base_url(req: &HttpRequest, behind_proxy: bool) -> String {
    let headers = req.headers();
    let (scheme, forwarded_host) = if behind_proxy {
        // LogPaste always answered https behind a proxy; we trust the proxy's word if sane.
        // Schemes are case-insensitive (RFC 3986 3.1): `HTTP` is http, written lowercase.
        let scheme = match first_value(headers, FORWARDED_PROTO) {
            Some(proto) if proto.eq_ignore_ascii_case("http") => "http",
            _ => "https",
        };
        (
            scheme,
            first_value(headers, FORWARDED_HOST).filter(|h| is_sane_host(h)),
        )
    } else {
        ("http", None)
    };
    let host = forwarded_host
        .or_else(|| {
            headers
                .get(HOST)
                .and_then(|v| v.to_str().ok())
                .filter(|h| is_sane_host(h))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| req.app_config().host().to_owned());
    format!("{scheme}://{host}")
}

fn first_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// `name[:port]` or `[ipv6][:port]`: nothing that could break out of a URL.
fn is_sane_host(host: &str) -> bool {
    if host.is_empty() || host.len() > 255 {
        return false;
    }
    let (name_ok, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((ip, after)) => (
                ip.parse::<std::net::Ipv6Addr>().is_ok(),
                match after {
                    "" => None,
                    _ => match after.strip_prefix(':') {
                        Some(port) => Some(port),
                        None => return false,
                    },
                },
            ),
            None => return false,
        },
        None => {
            let (name, port) = match host.split_once(':') {
                Some((name, port)) => (name, Some(port)),
                None => (host, None),
            };
            let ok = !name.is_empty()
                && !name.starts_with(['-', '.'])
                && name
                    .bytes()
                    // `_`: Docker Compose service names and internal hostnames use it.
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            (ok, port)
        }
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok());
    name_ok && port_ok
}

/// IPv4 addresses are keyed whole; IPv6 by their /64, which one host usually owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    V4(u32),
    V6(u64),
}

impl From<IpAddr> for ClientKey {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => ClientKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey::V4(u32::from(v4)),
                None => ClientKey::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    const PEER: &str = "127.0.0.9:5000";

    #[test]
    fn forwarded_for_is_ignored_outside_proxy_mode() {
        let h = headers(&[("x-forwarded-for", "203.0.113.7")]);
        let ip = client_ip(&h, PEER.parse().ok(), false);
        assert_eq!(ip, Some("127.0.0.9".parse().unwrap()));
    }

    #[test]
    fn right_most_forwarded_entry_wins_behind_a_proxy() {
        let h = headers(&[("x-forwarded-for", "10.9.9.9, 203.0.113.7:812")]);
        let ip = client_ip(&h, PEER.parse().ok(), true);
        assert_eq!(ip, Some("203.0.113.7".parse().unwrap()));
    }

    #[test]
    fn a_client_byte_that_is_not_ascii_does_not_spoil_the_proxys_entry() {
        let mut h = HeaderMap::new();
        h.append(
            HeaderName::from_static("x-forwarded-for"),
            HeaderValue::from_bytes(b"\xff\xfe, 203.0.113.7").unwrap(),
        );
        let ip = client_ip(&h, PEER.parse().ok(), true);
        assert_eq!(ip, Some("203.0.113.7".parse().unwrap()));
    }

    #[test]
    fn malformed_forwarded_for_falls_back_to_the_peer() {
        for bad in ["", "garbage", "1.2.3", "[::1", "1.2.3.4:99999", ","] {
            let h = headers(&[("x-forwarded-for", bad)]);
            let ip = client_ip(&h, PEER.parse().ok(), true);
            assert_eq!(ip, Some("127.0.0.9".parse().unwrap()), "{bad:?}");
        }
    }

    #[test]
    fn hosts_with_odd_characters_are_refused() {
        assert!(is_sane_host("paste.example.com:8443"));
        assert!(is_sane_host("[::1]:3001"));
        assert!(is_sane_host("logpaste_app:3001"));
        assert!(!is_sane_host("evil.com/path"));
        assert!(!is_sane_host("a b"));
        assert!(!is_sane_host("x\"onload"));
        assert!(!is_sane_host("[::1"));
        assert!(!is_sane_host("1.2.3.4:notaport"));
        assert!(!is_sane_host("a:1:2"));
        assert!(!is_sane_host(",,,"));
    }
}
