//! Escaping of values put into LDAP filters (RFC 4515) and DNs (RFC 4514), and the little DN
//! parsing the group plugin needs. A login is attacker-chosen text: it only ever reaches the
//! directory through these functions, so `*)(uid=*` is a literal value that matches nobody.

use std::borrow::Cow;

/// Escapes `value` for use as an assertion value inside a search filter (RFC 4515 §3):
/// `*`, `(`, `)`, `\` and NUL become `\2a`, `\28`, `\29`, `\5c`, `\00`. Other characters,
/// UTF-8 included, are legal as they are.
pub fn filter_value(value: &str) -> Cow<'_, str> {
    if !value
        .bytes()
        .any(|b| matches!(b, b'*' | b'(' | b')' | b'\\' | 0))
    {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '*' => out.push_str("\\2a"),
            '(' => out.push_str("\\28"),
            ')' => out.push_str("\\29"),
            '\\' => out.push_str("\\5c"),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Escapes `value` for use as an attribute value in a DN string (RFC 4514 §2.4): a backslash
/// before `"`, `+`, `,`, `;`, `<`, `=`, `>` and `\`, before a leading `#` or space and a
/// trailing space; NUL as `\00`.
pub fn dn_value(value: &str) -> Cow<'_, str> {
    let needs = value.starts_with(['#', ' '])
        || value.ends_with(' ')
        || value.bytes().any(|b| {
            matches!(
                b,
                b'"' | b'+' | b',' | b';' | b'<' | b'=' | b'>' | b'\\' | 0
            )
        });
    if !needs {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '=' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The first attribute type and value of a DN's first RDN, unescaped:
/// `cn=Admins\2C EU,ou=groups,dc=x` → `("cn", "Admins, EU")`. `None` for text that is not
/// a DN.
pub fn first_rdn(dn: &str) -> Option<(String, String)> {
    let (kind, rest) = dn.split_once('=')?;
    let kind = kind.trim();
    if kind.is_empty() {
        return None;
    }
    let mut raw: Vec<u8> = Vec::with_capacity(rest.len());
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        raw.push(b);
                        i += 3;
                    }
                    None => {
                        raw.push(*bytes.get(i + 1)?);
                        i += 2;
                    }
                }
            }
            b',' | b'+' => break,
            b => {
                raw.push(b);
                i += 1;
            }
        }
    }
    let value = String::from_utf8(raw).ok()?;
    Some((kind.to_owned(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_values_are_escaped_per_rfc4515() {
        assert_eq!(filter_value("jdoe"), "jdoe");
        assert_eq!(filter_value("*)(uid=*"), "\\2a\\29\\28uid=\\2a");
        assert_eq!(filter_value("a\\b\0c"), "a\\5cb\\00c");
        assert_eq!(filter_value("Jürgen (EU)"), "Jürgen \\28EU\\29");
    }

    #[test]
    fn dn_values_are_escaped_per_rfc4514() {
        assert_eq!(dn_value("jdoe"), "jdoe");
        assert_eq!(
            dn_value("x,ou=admins"),
            "x\\,ou\\=admins",
            "a login cannot add RDNs"
        );
        assert_eq!(dn_value("#1 "), "\\#1\\ ");
        assert_eq!(dn_value(" a+b"), "\\ a\\+b");
        assert_eq!(dn_value("a\"<>;\\"), "a\\\"\\<\\>\\;\\\\");
        assert_eq!(dn_value("a#b c"), "a#b c");
        assert_eq!(dn_value("nul\0"), "nul\\00");
    }

    #[test]
    fn first_rdn_unescapes() {
        assert_eq!(
            first_rdn("cn=Admins\\2C EU,ou=groups,dc=x"),
            Some(("cn".into(), "Admins, EU".into()))
        );
        assert_eq!(
            first_rdn("CN=a\\,b+uid=c,dc=x"),
            Some(("CN".into(), "a,b".into()))
        );
        assert_eq!(first_rdn("uid=j,dc=x"), Some(("uid".into(), "j".into())));
        assert_eq!(first_rdn("not a dn"), None);
        assert_eq!(first_rdn("=x"), None);
        // Round trip through dn_value.
        let v = " #odd, value=\\ ";
        let dn = format!("cn={},dc=x", dn_value(v));
        assert_eq!(first_rdn(&dn), Some(("cn".into(), v.into())));
    }
}
