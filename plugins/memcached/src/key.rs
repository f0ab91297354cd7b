//! Cache keys: an HMAC over the calling method and the key items of an identity, exactly as
//! repoze.who.plugins.memcached builds them (`hash = sha1`), or with SHA-256 (the default).

use hmac::{Hmac, Mac};
use rewho_plugin_api::{Identity, Value};
use serde::Deserialize;
use sha1::Sha1;
use sha2::Sha256;

/// The HMAC's hash function (option `hash`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlgo {
    /// HMAC-SHA256, 64 hex digits.
    #[default]
    Sha256,
    /// HMAC-SHA1, 40 hex digits: the Python plugin's keys, byte for byte.
    Sha1,
}

/// A keyed HMAC, prepared once and cloned per key.
#[derive(Clone)]
pub enum Keyer {
    /// HMAC-SHA256.
    Sha256(Hmac<Sha256>),
    /// HMAC-SHA1.
    Sha1(Hmac<Sha1>),
}

impl Keyer {
    /// A keyer for `secret` (any length is a valid HMAC key).
    pub fn new(algo: HashAlgo, secret: &[u8]) -> Keyer {
        match algo {
            HashAlgo::Sha256 => Keyer::Sha256(
                Hmac::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes any key")),
            ),
            HashAlgo::Sha1 => Keyer::Sha1(
                Hmac::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes any key")),
            ),
        }
    }

    /// `hex(HMAC(secret, method "\0" item₁ "\0" item₂ "\0" …))` over the values of `items`
    /// in `identity` (`""` for a missing one, as the Python plugin does).
    pub fn key<'a>(
        &self,
        method: &str,
        identity: &Identity,
        items: impl IntoIterator<Item = &'a str>,
    ) -> String {
        fn feed<M: Mac + Clone>(
            mac: &M,
            method: &str,
            identity: &Identity,
            items: &mut dyn Iterator<Item = &str>,
        ) -> String {
            let mut mac = mac.clone();
            mac.update(method.as_bytes());
            mac.update(b"\0");
            let mut scratch = String::new();
            for name in items {
                match identity.get(name) {
                    Some(Value::Str(s)) => mac.update(s.as_bytes()),
                    Some(v) => {
                        scratch.clear();
                        python_str(v, &mut scratch);
                        mac.update(scratch.as_bytes());
                    }
                    None => {}
                }
                mac.update(b"\0");
            }
            hex(&mac.finalize().into_bytes())
        }
        let mut items = items.into_iter();
        match self {
            Keyer::Sha256(m) => feed(m, method, identity, &mut items),
            Keyer::Sha1(m) => feed(m, method, identity, &mut items),
        }
    }
}

/// Renders a value as Python's `str()` would, so keys over non-string items match too
/// (`0`, `True`, `None`; lists and maps render as Python reprs of their JSON form).
pub fn python_str(v: &Value, out: &mut String) {
    use std::fmt::Write;
    match v {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(x) => python_float(*x, out),
        Value::Str(s) => out.push_str(s.as_str()),
        Value::List(l) => {
            out.push('[');
            for (i, item) in l.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_repr(item, out);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_repr(&Value::from(k), out);
                out.push_str(": ");
                python_repr(item, out);
            }
            out.push('}');
        }
    }
}

fn python_repr(v: &Value, out: &mut String) {
    match v {
        Value::Str(s) => {
            out.push('\'');
            for c in s.chars() {
                match c {
                    '\'' => out.push_str("\\'"),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c => out.push(c),
                }
            }
            out.push('\'');
        }
        other => python_str(other, out),
    }
}

fn python_float(x: f64, out: &mut String) {
    use std::fmt::Write;
    if x.is_nan() {
        out.push_str("nan");
    } else if x.is_infinite() {
        out.push_str(if x > 0.0 { "inf" } else { "-inf" });
    } else if x == x.trunc() && x.abs() < 1e16 {
        let _ = write!(out, "{x:.1}");
    } else {
        let _ = write!(out, "{x:?}");
    }
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(pairs: &[(&'static str, Value)]) -> Identity {
        pairs.iter().cloned().collect()
    }

    #[test]
    fn python_known_vector() {
        // repoze.who.plugins.memcached 0.1.1 with secret "secret" and the identity
        // {"username": "test1"} (all keys, sorted) for authenticate.
        let k = Keyer::new(HashAlgo::Sha1, b"secret");
        let identity = id(&[("username", Value::from("test1"))]);
        assert_eq!(
            k.key("authenticate", &identity, ["username"]),
            "eeb66e3900069b198be724c93f3c8fa0ac5c6877"
        );
    }

    #[test]
    fn missing_items_hash_as_empty_and_methods_differ() {
        let k = Keyer::new(HashAlgo::Sha256, b"s");
        let a = id(&[("login", Value::from("bob"))]);
        let b = id(&[("login", Value::from("bob")), ("password", Value::from(""))]);
        assert_eq!(
            k.key("authenticate", &a, ["login", "password"]),
            k.key("authenticate", &b, ["login", "password"])
        );
        assert_ne!(
            k.key("authenticate", &a, ["login"]),
            k.key("add_metadata", &a, ["login"])
        );
        assert_eq!(k.key("authenticate", &a, ["login"]).len(), 64);
    }

    #[test]
    fn values_render_as_python_str() {
        let mut s = String::new();
        for (v, want) in [
            (Value::Int(0), "0"),
            (Value::Bool(true), "True"),
            (Value::Null, "None"),
            (Value::Float(1.0), "1.0"),
            (Value::Float(0.5), "0.5"),
            (Value::from(vec!["a", "b'c"]), "['a', 'b\\'c']"),
        ] {
            s.clear();
            python_str(&v, &mut s);
            assert_eq!(s, want);
        }
    }
}
