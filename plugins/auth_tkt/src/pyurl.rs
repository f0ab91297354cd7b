//! Python's `urllib.parse` quoting, byte for byte, as repoze.who applies it to tickets.
//!
//! The ticket's digest covers the *unquoted* user id and the *url-encoded* user data, so these
//! must produce exactly what CPython 3 produces: `quote` (safe `/`), `quote_plus` (safe
//! nothing, space as `+`), `unquote` (UTF-8, invalid sequences become U+FFFD), `parse_qsl`
//! (separator `&`, blank values dropped) and `urlencode` of a dict of scalars.

use std::borrow::Cow;
use std::fmt::Write as _;

use rewho_plugin_api::{Map, Value};

/// Bytes `quote` never escapes: letters, digits and `_.-~`.
fn always_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'~')
}

fn quote_with<'a>(s: &'a str, extra_safe: &[u8], space_plus: bool) -> Cow<'a, str> {
    let keep = |b: u8| always_safe(b) || extra_safe.contains(&b);
    if s.bytes().all(keep) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if keep(b) {
            out.push(b as char);
        } else if b == b' ' && space_plus {
            out.push('+');
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    Cow::Owned(out)
}

/// `urllib.parse.quote(s)`: UTF-8 bytes outside `A-Za-z0-9_.-~/` become `%XX`.
pub fn quote(s: &str) -> Cow<'_, str> {
    quote_with(s, b"/", false)
}

/// `urllib.parse.quote_plus(s)`: like [`quote`] with nothing extra safe, and space as `+`.
pub fn quote_plus(s: &str) -> Cow<'_, str> {
    quote_with(s, b"", true)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes an ASCII run the way `unquote_to_bytes` does: a `%` not followed by two
/// hex digits stays as it is.
fn unquote_ascii_run(run: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < run.len() {
        if run[i] == b'%' && i + 2 < run.len() {
            if let (Some(h), Some(l)) = (hex_val(run[i + 1]), hex_val(run[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(run[i]);
        i += 1;
    }
}

/// `urllib.parse.unquote(s)` (UTF-8, `errors='replace'`).
///
/// Python decodes each maximal ASCII run separately (non-ASCII characters pass through
/// untouched), replacing invalid UTF-8 with U+FFFD exactly as Rust's lossy decoding does.
pub fn unquote(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut buf = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        if bytes[i].is_ascii() {
            while i < bytes.len() && bytes[i].is_ascii() {
                i += 1;
            }
            buf.clear();
            unquote_ascii_run(&bytes[start..i], &mut buf);
            out.push_str(&String::from_utf8_lossy(&buf));
        } else {
            while i < bytes.len() && !bytes[i].is_ascii() {
                i += 1;
            }
            // Both ends are ASCII boundaries (or the string's ends), so char boundaries.
            out.push_str(&s[start..i]);
        }
    }
    Cow::Owned(out)
}

/// `unquote` after turning `+` into space, as `parse_qsl` does for names and values.
fn unquote_plus(s: &str) -> String {
    if s.contains('+') {
        unquote(&s.replace('+', " ")).into_owned()
    } else {
        unquote(s).into_owned()
    }
}

/// `dict(urllib.parse.parse_qsl(s))`: `&`-separated `name=value` pairs, pairs without `=` or
/// with an empty value dropped, later duplicates replacing earlier values (in place).
pub fn parse_qs_dict(s: &str) -> Map {
    let mut map = Map::new();
    for pair in s.split('&') {
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        map.insert(unquote_plus(name), unquote_plus(value));
    }
    map
}

/// Python's `str()` of a value, as `urlencode` applies it before quoting.
///
/// Exact for strings, integers, booleans and `None`; floats, lists and maps follow Python's
/// `repr` for the common cases.
pub fn py_str(v: &Value) -> Cow<'_, str> {
    match v {
        Value::Str(s) => Cow::Borrowed(s.as_str()),
        other => {
            let mut out = String::new();
            py_repr(other, &mut out);
            Cow::Owned(out)
        }
    }
}

fn py_repr(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(x) => {
            if x.is_nan() {
                out.push_str("nan");
            } else if x.is_infinite() {
                out.push_str(if *x > 0.0 { "inf" } else { "-inf" });
            } else if x.fract() == 0.0 && x.abs() < 1e16 {
                let _ = write!(out, "{x:.1}");
            } else {
                let _ = write!(out, "{x}");
            }
        }
        Value::Str(s) => {
            let s = s.as_str();
            let quote = if s.contains('\'') && !s.contains('"') {
                '"'
            } else {
                '\''
            };
            out.push(quote);
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c == quote => {
                        out.push('\\');
                        out.push(c);
                    }
                    c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                        let _ = write!(out, "\\x{:02x}", c as u32);
                    }
                    c => out.push(c),
                }
            }
            out.push(quote);
        }
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_repr(item, out);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_repr(&Value::from(k), out);
                out.push_str(": ");
                py_repr(item, out);
            }
            out.push('}');
        }
    }
}

/// `urllib.parse.urlencode(d)` of a dict: `quote_plus(str(k)) + '=' + quote_plus(str(v))`
/// joined with `&`, in the map's order.
pub fn urlencode(map: &Map) -> String {
    let mut out = String::new();
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&quote_plus(k));
        out.push('=');
        out.push_str(&quote_plus(&py_str(v)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_matches_python() {
        // Values printed by CPython 3.11.
        assert_eq!(quote("a@b/c ü~!*()'"), "a%40b/c%20%C3%BC~%21%2A%28%29%27");
        assert!(matches!(quote("plain_user-1.x~"), Cow::Borrowed(_)));
        assert_eq!(quote_plus("x y/ü~"), "x+y%2F%C3%BC~");
    }

    #[test]
    fn unquote_matches_python() {
        assert_eq!(unquote("%zz%4%C3%28%ff%c3%a9"), "%zz%4\u{fffd}(\u{fffd}é");
        assert_eq!(unquote("m%C3%A9line"), "méline");
        assert_eq!(unquote("é%41"), "éA");
        assert_eq!(unquote("%"), "%");
        assert_eq!(unquote("%4"), "%4");
        assert_eq!(unquote("a%2"), "a%2");
        assert_eq!(unquote("%41%"), "A%");
        assert!(matches!(unquote("alice"), Cow::Borrowed(_)));
    }

    #[test]
    fn parse_qs_dict_matches_python() {
        // dict(parse_qsl('a=1&b&c=&d=x%20y+z&a=2;e=3'))
        let m = parse_qs_dict("a=1&b&c=&d=x%20y+z&a=2;e=3");
        let got: Vec<(&str, &str)> = m.iter().map(|(k, v)| (k, v.as_str().unwrap())).collect();
        assert_eq!(got, [("a", "2;e=3"), ("d", "x y z")]);
        assert!(parse_qs_dict("").is_empty());
    }

    #[test]
    fn urlencode_matches_python() {
        let mut m = Map::new();
        m.insert("a", "x y/ü~");
        m.insert("b", 1i64);
        m.insert("c", true);
        m.insert("d", Value::Null);
        m.insert("e", Value::Float(1.0));
        m.insert("f", vec!["a"]);
        // urlencode({'a':'x y/ü~','b':1,'c':True,'d':None,'e':1.0,'f':['a']})
        assert_eq!(
            urlencode(&m),
            "a=x+y%2F%C3%BC~&b=1&c=True&d=None&e=1.0&f=%5B%27a%27%5D"
        );
    }
}
