//! The URL handling of repoze.who's `RedirectorPlugin`, byte for byte: Python's `parse_qs`,
//! `urlencode(doseq=True)`, `urlparse`/`urlunparse`, wsgiref's `request_uri`, and webob's
//! absolute `Location`. Pure functions that never panic.

use std::fmt::Write as _;

fn always_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'~')
}

fn quote_bytes(bytes: &[u8], safe: &[u8], space_plus: bool, out: &mut String) {
    for &b in bytes {
        if always_safe(b) || safe.contains(&b) {
            out.push(char::from(b));
        } else if b == b' ' && space_plus {
            out.push('+');
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// `urllib.parse.quote_plus(s)`.
pub fn quote_plus(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    quote_bytes(s.as_bytes(), b"", true, &mut out);
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `urllib.parse.unquote_to_bytes(s)`: `%XX` decoded, a stray `%` kept.
pub fn unquote_to_bytes(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex_val(s[i + 1]), hex_val(s[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// `urllib.parse.unquote(s.replace('+', ' '))` (UTF-8, `errors='replace'`), as `parse_qs`
/// decodes names and values. Python decodes each ASCII run separately and passes other
/// characters through, which is what this does too.
pub fn unquote_plus(s: &str) -> String {
    let s = s.replace('+', " ");
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let ascii = bytes[i].is_ascii();
        while i < bytes.len() && bytes[i].is_ascii() == ascii {
            i += 1;
        }
        if ascii {
            out.push_str(&String::from_utf8_lossy(&unquote_to_bytes(
                &bytes[start..i],
            )));
        } else {
            out.push_str(&s[start..i]);
        }
    }
    out
}

/// An ordered multi-dict: what `parse_qs` returns.
pub type Query = Vec<(String, Vec<String>)>;

/// `urllib.parse.parse_qs(s)`: `&`-separated pairs; pairs without `=` or with an empty value
/// dropped; values of a repeated name collected under its first position.
pub fn parse_qs(s: &str) -> Query {
    let mut out: Query = Vec::new();
    for pair in s.split('&') {
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        let (name, value) = (unquote_plus(name), unquote_plus(value));
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => out.push((name, vec![value])),
        }
    }
    out
}

/// `query[name] = [value]` as a dict assignment: in place if present, else appended.
pub fn set_param(query: &mut Query, name: &str, value: String) {
    match query.iter_mut().find(|(n, _)| n == name) {
        Some((_, values)) => *values = vec![value],
        None => query.push((name.to_owned(), vec![value])),
    }
}

/// `urllib.parse.urlencode(query, doseq=True)`.
pub fn urlencode(query: &Query) -> String {
    let mut out = String::new();
    for (name, values) in query {
        for value in values {
            if !out.is_empty() {
                out.push('&');
            }
            out.push_str(&quote_plus(name));
            out.push('=');
            out.push_str(&quote_plus(value));
        }
    }
    out
}

/// A URL split as `urlparse` splits it, keeping what `urlunparse` puts back together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitUrl {
    /// Everything before the query: scheme (lower-cased, as `urlsplit` does), netloc, path.
    pub base: String,
    /// The query without `?`.
    pub query: String,
    /// The fragment without `#`.
    pub fragment: String,
}

impl SplitUrl {
    /// Splits `url` at the first `#`, then at the first `?`.
    pub fn parse(url: &str) -> SplitUrl {
        let (rest, fragment) = url.split_once('#').unwrap_or((url, ""));
        let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
        let base = match base.find(':') {
            Some(i)
                if i > 0
                    && base.as_bytes()[0].is_ascii_alphabetic()
                    && base[..i]
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')) =>
            {
                format!("{}{}", base[..i].to_ascii_lowercase(), &base[i..])
            }
            _ => base.to_owned(),
        };
        SplitUrl {
            base,
            query: query.to_owned(),
            fragment: fragment.to_owned(),
        }
    }

    /// `urlunparse`: empty query and fragment are left out with their `?`/`#`.
    pub fn join(&self, query: &str) -> String {
        let mut out = self.base.clone();
        if !query.is_empty() {
            out.push('?');
            out.push_str(query);
        }
        if !self.fragment.is_empty() {
            out.push('#');
            out.push_str(&self.fragment);
        }
        out
    }
}

/// wsgiref's `request_uri(environ)`: `scheme://host` + the path percent-decoded (as
/// `PATH_INFO` is) and re-quoted with `/;=,` safe, + `?query` as received.
pub fn request_uri(scheme: &str, host: &str, path: &str, query: &str) -> String {
    let mut out = format!("{scheme}://{host}");
    let decoded = unquote_to_bytes(path.as_bytes());
    if decoded.is_empty() {
        out.push('/');
    } else {
        quote_bytes(&decoded, b"/;=,", false, &mut out);
    }
    if !query.is_empty() {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// `true` when `url` starts with an RFC 3986 scheme (`http:`, `x-y+z:`).
fn has_scheme(url: &str) -> bool {
    match url.find(':') {
        Some(i) if i > 0 => {
            url.as_bytes()[0].is_ascii_alphabetic()
                && url[..i]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        }
        _ => false,
    }
}

/// webob's `_make_location_absolute`: tabs and line breaks removed; a URL with a scheme kept;
/// `//x` turned into the path `/%2fx` (never protocol-relative); anything else resolved
/// against the request's URL.
pub fn absolute_location(location: &str, scheme: &str, host: &str, path: &str) -> String {
    let location: String = location
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    if has_scheme(&location) {
        return location;
    }
    let location = match location.strip_prefix("//") {
        Some(rest) => format!("/%2f{rest}"),
        None => location,
    };
    let origin = format!("{scheme}://{host}");
    if location.starts_with('/') {
        return format!("{origin}{location}");
    }
    let path = if path.is_empty() { "/" } else { path };
    if location.is_empty() || location.starts_with('#') || location.starts_with('?') {
        return format!("{origin}{path}{location}");
    }
    // A relative path: replace the last segment of the request path.
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    format!("{origin}{dir}{location}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_qs_and_urlencode_match_python() {
        // parse_qs('next=1&blank=&x=a+b&x=c&y') → {'next': ['1'], 'x': ['a b', 'c']}
        let q = parse_qs("next=1&blank=&x=a+b&x=c&y");
        assert_eq!(
            q,
            vec![
                ("next".to_owned(), vec!["1".to_owned()]),
                ("x".to_owned(), vec!["a b".to_owned(), "c".to_owned()]),
            ]
        );
        assert_eq!(urlencode(&q), "next=1&x=a+b&x=c");
        assert_eq!(unquote_plus("%C3%A9+%zz%"), "é %zz%");
        assert_eq!(
            quote_plus("http://h:1/a b?x=1&y"),
            "http%3A%2F%2Fh%3A1%2Fa+b%3Fx%3D1%26y"
        );
    }

    #[test]
    fn urlparse_round_trip() {
        let u = SplitUrl::parse("HTTPS://Auth.example.com/login;p?a=1#frag");
        assert_eq!(u.base, "https://Auth.example.com/login;p");
        assert_eq!(u.query, "a=1");
        assert_eq!(u.join("b=2"), "https://Auth.example.com/login;p?b=2#frag");
        assert_eq!(SplitUrl::parse("/login?").join(""), "/login");
    }

    #[test]
    fn request_uri_matches_wsgiref() {
        // wsgiref.util.request_uri for PATH_INFO='/a b/c@d' (from /a%20b/c@d).
        assert_eq!(
            request_uri("http", "app.example.com:8080", "/a%20b/c@d", "q=1&r=%41"),
            "http://app.example.com:8080/a%20b/c%40d?q=1&r=%41"
        );
        assert_eq!(request_uri("https", "h", "", ""), "https://h/");
        assert_eq!(request_uri("http", "h", "/x;y=1,z", ""), "http://h/x;y=1,z");
    }

    #[test]
    fn locations_are_made_absolute_like_webob() {
        let abs = |l: &str| absolute_location(l, "http", "localhost", "/p/q");
        assert_eq!(abs("https://e/login"), "https://e/login");
        assert_eq!(abs("/login?a=1"), "http://localhost/login?a=1");
        assert_eq!(
            abs("//evil.example/x"),
            "http://localhost/%2fevil.example/x"
        );
        assert_eq!(abs("/\t/evil.example"), "http://localhost/%2fevil.example");
        assert_eq!(abs("login"), "http://localhost/p/login");
        assert_eq!(abs("?x=1"), "http://localhost/p/q?x=1");
    }
}
