//! The URLs of the CAS protocol: the service URL a request stands for, and the login, logout
//! and validation URLs built on `cas_url`.
//!
//! The service URL is sent twice, once to `/login` (by the browser) and once to the
//! validation endpoint (by rewho), and CAS compares the two: both are built here from the
//! same request, with every `ticket` parameter removed and the rest of the query kept byte
//! for byte.

/// Which validation endpoint and response format to use (`cas_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `validate`: two lines of text, no attributes.
    V1,
    /// `serviceValidate`: XML; attributes where the server releases them there.
    V2,
    /// `p3/serviceValidate`: XML with attributes.
    V3,
}

impl Version {
    /// Parses `cas_version` as the Python plugin's `float()` does for the three versions
    /// (`1`, `1.0`, `2.0`, `3.0`, …); anything else is refused.
    pub fn parse(text: &str) -> Option<Version> {
        let v: f64 = text.trim().parse().ok()?;
        if v == 1.0 {
            Some(Version::V1)
        } else if v == 2.0 {
            Some(Version::V2)
        } else if v == 3.0 {
            Some(Version::V3)
        } else {
            None
        }
    }

    /// The validation path below `cas_url`.
    pub fn endpoint(self) -> &'static str {
        match self {
            Version::V1 => "validate",
            Version::V2 => "serviceValidate",
            Version::V3 => "p3/serviceValidate",
        }
    }
}

/// The longest ticket accepted; the protocol asks services to take at least 32 characters
/// and servers to keep tickets under 256.
pub const MAX_TICKET_LEN: usize = 256;

/// Percent-encodes everything but RFC 3986's unreserved characters (a query value).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3 / 2);
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Decodes `%XX` and `+` in a query value; `None` when the result is not UTF-8.
pub fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// A query string split into the `ticket` parameter and the rest.
#[derive(Debug, PartialEq, Eq)]
pub struct SplitQuery<'a> {
    /// The first non-empty `ticket` value, still percent-encoded.
    pub ticket: Option<&'a str>,
    /// The other parameters, in order and as received, joined with `&`.
    pub rest: String,
}

/// Splits `query` (without `?`) into its `ticket` and the other parameters. Every `ticket`
/// parameter is dropped from `rest`, so a URL that arrived with two cannot validate one and
/// keep the other.
pub fn split_ticket(query: &str) -> SplitQuery<'_> {
    let mut ticket = None;
    let mut rest = String::with_capacity(query.len());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name == "ticket" {
            if ticket.is_none() && !value.is_empty() {
                ticket = Some(value);
            }
            continue;
        }
        if !rest.is_empty() {
            rest.push('&');
        }
        rest.push_str(pair);
    }
    SplitQuery { ticket, rest }
}

/// Whether a decoded ticket may be sent on: 1–256 printable ASCII characters without spaces.
pub fn plausible_ticket(ticket: &str) -> bool {
    !ticket.is_empty()
        && ticket.len() <= MAX_TICKET_LEN
        && ticket.bytes().all(|b| b.is_ascii_graphic())
}

/// `scheme://host/path[?query]`: the service URL for a request, `query` already without
/// its tickets.
pub fn service_url(scheme: &str, host: &str, path: &str, query: &str) -> String {
    let path = if path.is_empty() { "/" } else { path };
    let mut url = format!("{scheme}://{host}{path}");
    if !query.is_empty() {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// `cas_url` with exactly one trailing `/`, so endpoints are appended the same way whether
/// the option ends in a slash (as the Python plugin requires) or not.
pub fn base(cas_url: &str) -> String {
    format!("{}/", cas_url.trim_end_matches('/'))
}

/// `<base>login?service=<service>`: where the challenge sends the browser.
pub fn login_url(base: &str, service: &str) -> String {
    format!("{base}login?service={}", encode(service))
}

/// `<base>logout?service=<service>`: where a logout path sends the browser.
pub fn logout_url(base: &str, service: &str) -> String {
    format!("{base}logout?service={}", encode(service))
}

/// `<base><endpoint>?service=<service>&ticket=<ticket>`: what rewho fetches.
pub fn validate_url(base: &str, version: Version, service: &str, ticket: &str) -> String {
    format!(
        "{base}{}?service={}&ticket={}",
        version.endpoint(),
        encode(service),
        encode(ticket)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_like_python_floats() {
        assert_eq!(Version::parse("1.0"), Some(Version::V1));
        assert_eq!(Version::parse("1"), Some(Version::V1));
        assert_eq!(Version::parse(" 2.0 "), Some(Version::V2));
        assert_eq!(Version::parse("3.00"), Some(Version::V3));
        assert_eq!(Version::parse("2.5"), None);
        assert_eq!(Version::parse("three"), None);
        assert_eq!(Version::V3.endpoint(), "p3/serviceValidate");
    }

    #[test]
    fn ticket_is_split_off_and_the_rest_kept_verbatim() {
        let s = split_ticket("a=1&ticket=ST-1-abc&b=x%20y&ticket=ST-2");
        assert_eq!(s.ticket, Some("ST-1-abc"));
        assert_eq!(s.rest, "a=1&b=x%20y");
        let s = split_ticket("ticket=ST-9");
        assert_eq!(s.ticket, Some("ST-9"));
        assert_eq!(s.rest, "");
        let s = split_ticket("ticket=&q");
        assert_eq!(s.ticket, None);
        assert_eq!(s.rest, "q");
        assert_eq!(split_ticket("").rest, "");
        // Only the exact name: `tickets` and `xticket` are the application's.
        let s = split_ticket("tickets=1&xticket=2");
        assert_eq!(s.ticket, None);
        assert_eq!(s.rest, "tickets=1&xticket=2");
    }

    #[test]
    fn urls_encode_the_service_and_ticket() {
        let b = base("https://cas.example.org/cas");
        assert_eq!(b, "https://cas.example.org/cas/");
        assert_eq!(base("https://cas.example.org/cas/"), b);
        let svc = service_url("http", "app:8080", "/a b", "x=1&y=2");
        assert_eq!(svc, "http://app:8080/a b?x=1&y=2");
        assert_eq!(
            login_url(&b, &svc),
            "https://cas.example.org/cas/login?service=http%3A%2F%2Fapp%3A8080%2Fa%20b%3Fx%3D1%26y%3D2"
        );
        assert_eq!(
            validate_url(&b, Version::V3, "http://a/", "ST-1&x"),
            "https://cas.example.org/cas/p3/serviceValidate?service=http%3A%2F%2Fa%2F&ticket=ST-1%26x"
        );
        assert!(logout_url(&b, "http://a/").ends_with("logout?service=http%3A%2F%2Fa%2F"));
        assert_eq!(service_url("https", "h", "", ""), "https://h/");
    }

    #[test]
    fn decode_and_ticket_plausibility() {
        assert_eq!(decode("ST-1%2Dab+c").as_deref(), Some("ST-1-ab c"));
        assert_eq!(decode("%zz%4").as_deref(), Some("%zz%4"));
        assert_eq!(decode("%ff"), None);
        assert!(plausible_ticket("ST-1-abcDEF"));
        assert!(!plausible_ticket(""));
        assert!(!plausible_ticket("ST 1"));
        assert!(!plausible_ticket("ST-\n"));
        assert!(!plausible_ticket(&"a".repeat(MAX_TICKET_LEN + 1)));
    }
}
