//! Parsing `Authorization: Basic …` exactly as repoze.who's `BasicAuthPlugin.identify` does,
//! as pure functions (fuzzable: none of them can panic on any input).

/// The value of one base64 character of the standard alphabet.
fn b64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Python's `base64.decodebytes` (`binascii.a2b_base64`, non-strict mode).
///
/// Characters outside the alphabet are skipped; decoding stops at a complete padding
/// sequence; a leftover of one character, or of two or three without enough `=`, is an error
/// (`None`), as Python raises `binascii.Error` there.
pub fn decode_base64_lenient(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let mut quad_pos = 0usize;
    let mut left: u32 = 0;
    // Saturating: a header may hold any number of `=` (the fuzzer found 300 overflowing a u8).
    let mut pads = 0usize;
    for &c in input {
        if c == b'=' {
            pads = pads.saturating_add(1);
            if quad_pos >= 2 && quad_pos + pads >= 4 {
                return Some(out);
            }
            continue;
        }
        let Some(v) = b64_value(c) else {
            continue;
        };
        let v = u32::from(v);
        pads = 0;
        match quad_pos {
            0 => {
                left = v;
                quad_pos = 1;
            }
            1 => {
                out.push(((left << 2) | (v >> 4)) as u8);
                left = v & 0x0f;
                quad_pos = 2;
            }
            2 => {
                out.push(((left << 4) | (v >> 2)) as u8);
                left = v & 0x03;
                quad_pos = 3;
            }
            _ => {
                out.push(((left << 6) | v) as u8);
                left = 0;
                quad_pos = 0;
            }
        }
    }
    (quad_pos == 0).then_some(out)
}

/// repoze.who's `must_decode`: UTF-8, else latin-1.
pub fn must_decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// Login and password from an `Authorization` header value, or `None` when it is not a
/// well-formed Basic header.
///
/// The scheme and credentials are split at the first space (exactly one `' '`, as repoze.who
/// does), the scheme compared case-insensitively, the credentials trimmed and base64-decoded
/// leniently, then split at the first `:`. Each half is UTF-8, or latin-1 if it is not valid
/// UTF-8. A header with non-ASCII characters yields `None` (repoze.who raises there).
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    if !header.is_ascii() {
        return None;
    }
    let (scheme, credentials) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = decode_base64_lenient(credentials.trim_matches(is_py_space).as_bytes())?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some((
        must_decode(&decoded[..colon]),
        must_decode(&decoded[colon + 1..]),
    ))
}

/// Python's `bytes.strip()` whitespace.
fn is_py_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression for the fuzzer's crash (fuzz/artifacts/basic_header, CI 2026-12-01):
    /// more than 255 `=` overflowed the padding counter and panicked.
    #[test]
    fn any_number_of_pads_is_fine() {
        let mut pads = b"QQ".to_vec();
        pads.extend([b'='; 300]);
        assert_eq!(decode_base64_lenient(&pads), Some(b"A".to_vec()));
        assert_eq!(decode_base64_lenient(&[b'='; 300]), Some(Vec::new()));
        let mut header = "Basic ".to_owned();
        header.push_str(&"=".repeat(250));
        header.push('\u{af}');
        header.push_str(&"=".repeat(60));
        header.push('L');
        header.push_str(&"=".repeat(300));
        assert_eq!(parse_basic(&header), None);
    }

    #[test]
    fn decodes_like_python() {
        // base64.decodebytes(...) in CPython 3.11.
        assert_eq!(
            decode_base64_lenient(b"dXNlcjpwYXNz").unwrap(),
            b"user:pass"
        );
        assert_eq!(
            decode_base64_lenient(b"dXNl cjpw\nYXNz!!").unwrap(),
            b"user:pass"
        );
        assert_eq!(decode_base64_lenient(b"YQ==").unwrap(), b"a");
        assert_eq!(decode_base64_lenient(b"YQ==trailing").unwrap(), b"a");
        assert_eq!(decode_base64_lenient(b"YWI=").unwrap(), b"ab");
        assert_eq!(decode_base64_lenient(b"Y=Q==").unwrap(), b"a");
        assert_eq!(decode_base64_lenient(b"").unwrap(), b"");
        assert_eq!(decode_base64_lenient(b"YQ"), None, "Incorrect padding");
        assert_eq!(decode_base64_lenient(b"YQ="), None, "Incorrect padding");
        assert_eq!(
            decode_base64_lenient(b"Y"),
            None,
            "1 more than a multiple of 4"
        );
        assert_eq!(decode_base64_lenient(b"YWJj").unwrap(), b"abc");
    }

    #[test]
    fn parses_basic_headers() {
        let p = |h: &str| parse_basic(h);
        assert_eq!(
            p("Basic dXNlcjpwYXNz"),
            Some(("user".into(), "pass".into()))
        );
        assert_eq!(
            p("bAsIc   dXNlcjpwYXNz  "),
            Some(("user".into(), "pass".into()))
        );
        // Passwords may hold colons; logins may be empty.
        assert_eq!(p("Basic dTpwOmE6Yg=="), Some(("u".into(), "p:a:b".into())));
        assert_eq!(p("Basic OnB3"), Some(("".into(), "pw".into())));
        // UTF-8 and latin-1.
        assert_eq!(p("Basic w6k6w7w="), Some(("é".into(), "ü".into())));
        assert_eq!(p("Basic 6To="), Some(("é".into(), "".into())));
        assert_eq!(p("Basic bm9jb2xvbg=="), None, "no colon");
        assert_eq!(p("Basic !!!"), None, "decodes to nothing: no colon");
        assert_eq!(p("Basic YQ"), None, "bad padding");
        assert_eq!(p("Bearer dXNlcjpwYXNz"), None);
        assert_eq!(p("Basic"), None);
        assert_eq!(p("Basic\tdXNlcjpwYXNz"), None, "repoze splits on one space");
        assert_eq!(p("Basic dXNlcjpwYXNz\u{e9}"), None);
        assert_eq!(p(""), None);
    }
}
