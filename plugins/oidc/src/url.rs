//! The little URL handling the flow needs: percent-encoding query values, reading a query
//! string, and telling a same-site path from anything else.

/// Percent-encodes `s` for a query value or a form field (RFC 3986 unreserved kept).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Decodes one query component (`+` is a space, as in forms). Invalid escapes stay as they
/// are; invalid UTF-8 becomes U+FFFD.
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                if let (Some(h), Some(l)) = (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: Option<&u8>) -> Option<u8> {
    match b? {
        b @ b'0'..=b'9' => Some(b - b'0'),
        b @ b'a'..=b'f' => Some(b - b'a' + 10),
        b @ b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The decoded value of the first `name` parameter of a query string.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| decode(k) == name)
        .map(|(_, v)| decode(v))
}

/// `true` for a path on this site: one leading `/` (not `//` or `/\`, which browsers read as
/// another host), no backslash, no control characters, not too long.
pub fn is_local_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.starts_with("//")
        && !p.contains('\\')
        && p.len() <= 2048
        && !p.chars().any(|c| c.is_control() || c == ' ')
}

/// Appends `params` to `base` (which may already have a query).
pub fn with_query(base: &str, params: &[(&str, &str)]) -> String {
    let mut url = base.to_owned();
    let mut sep = if base.contains('?') { '&' } else { '?' };
    for (k, v) in params {
        url.push(sep);
        url.push_str(&encode(k));
        url.push('=');
        url.push_str(&encode(v));
        sep = '&';
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_and_decode_round_trip() {
        for s in ["a b&c=d/é", "", "%zz", "plain-._~"] {
            assert_eq!(decode(&encode(s)), s);
        }
        assert_eq!(decode("a+b%2Fc%"), "a b/c%");
        assert_eq!(decode("%4"), "%4");
        assert_eq!(
            query_param("x=1&code=ab%2Bc&state=s", "code").as_deref(),
            Some("ab+c")
        );
        assert_eq!(query_param("flag&x=1", "flag").as_deref(), Some(""));
        assert_eq!(query_param("x=1", "code"), None);
        assert_eq!(
            with_query("https://idp/auth?a=1", &[("b", "x y")]),
            "https://idp/auth?a=1&b=x%20y"
        );
    }

    #[test]
    fn local_paths_only() {
        for ok in ["/", "/app?x=1", "/a/b#f"] {
            assert!(is_local_path(ok), "{ok}");
        }
        for bad in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "evil",
            "",
            "/a\r\nSet-Cookie: x",
            "/a b",
        ] {
            assert!(!is_local_path(bad), "{bad}");
        }
    }
}
