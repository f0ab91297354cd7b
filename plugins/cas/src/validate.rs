//! What a CAS server answered to a validation request: the user and its released
//! attributes, or why the ticket was refused.
//!
//! CAS 1.0 answers two lines of text (`yes\n<user>\n` or `no\n\n`); CAS 2.0 and 3.0 answer a
//! `cas:serviceResponse` XML document. The XML is read with `roxmltree`, which refuses DTDs,
//! so no entity of the response is ever expanded or fetched.

use std::collections::BTreeMap;

use crate::service::Version;

/// The CAS XML namespace.
pub const CAS_NS: &str = "http://www.yale.edu/tp/cas";

/// The largest validation response read, in bytes; a CAS answer is a few kilobytes.
pub const MAX_RESPONSE: u64 = 256 * 1024;

/// A released attribute: one value, or several when the element repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue {
    /// The element appeared once.
    One(String),
    /// The element appeared several times, values in document order.
    Many(Vec<String>),
}

/// A successful validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Success {
    /// The user id CAS vouches for.
    pub user: String,
    /// The released attributes by name (empty for CAS 1.0, or when none were released).
    pub attributes: BTreeMap<String, AttrValue>,
}

/// Why validation gave no user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The server refused the ticket (`INVALID_TICKET`, `INVALID_SERVICE`, …, or CAS 1.0's
    /// `no`): the code and the server's message.
    Refused {
        /// The `code` attribute (`NO` for CAS 1.0).
        code: String,
        /// The server's explanation, trimmed and shortened for the log.
        message: String,
    },
    /// The answer is not a CAS answer (not XML, wrong root, no user): a misconfigured
    /// `cas_url` or `cas_version`, or something in between.
    Malformed(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Refused { code, message } => {
                write!(f, "CAS refused the ticket: {code}: {message}")
            }
            Refusal::Malformed(why) => write!(f, "the CAS answer is not understood: {why}"),
        }
    }
}

/// Reads a validation response of `version`.
pub fn parse(version: Version, body: &str) -> Result<Success, Refusal> {
    match version {
        Version::V1 => parse_v1(body),
        Version::V2 | Version::V3 => parse_xml(body),
    }
}

/// For log lines: at most 200 characters of `text`, control characters replaced.
fn shorten(text: &str) -> String {
    let text = text.trim();
    let mut out: String = text
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > 200 {
        out.push('…');
    }
    out
}

fn parse_v1(body: &str) -> Result<Success, Refusal> {
    let mut lines = body.lines();
    match (lines.next(), lines.next()) {
        (Some("yes"), Some(user)) if !user.trim().is_empty() => Ok(Success {
            user: user.trim().to_owned(),
            attributes: BTreeMap::new(),
        }),
        (Some("no"), _) => Err(Refusal::Refused {
            code: "NO".into(),
            message: "the ticket is not valid for this service".into(),
        }),
        _ => Err(Refusal::Malformed(format!(
            "expected `yes`/`no` lines, got {:?}",
            shorten(body)
        ))),
    }
}

fn is_cas(node: &roxmltree::Node<'_, '_>, name: &str) -> bool {
    node.is_element()
        && node.tag_name().name() == name
        && node.tag_name().namespace() == Some(CAS_NS)
}

fn parse_xml(body: &str) -> Result<Success, Refusal> {
    let doc = roxmltree::Document::parse(body)
        .map_err(|e| Refusal::Malformed(format!("not XML ({e})")))?;
    let root = doc.root_element();
    if !is_cas(&root, "serviceResponse") {
        return Err(Refusal::Malformed(format!(
            "root element is `{}`, not cas:serviceResponse",
            shorten(root.tag_name().name())
        )));
    }
    if let Some(failure) = root.children().find(|n| is_cas(n, "authenticationFailure")) {
        return Err(Refusal::Refused {
            code: shorten(failure.attribute("code").unwrap_or("UNKNOWN")),
            message: shorten(&text_of(&failure)),
        });
    }
    let Some(success) = root.children().find(|n| is_cas(n, "authenticationSuccess")) else {
        return Err(Refusal::Malformed(
            "neither authenticationSuccess nor authenticationFailure".into(),
        ));
    };
    let user = success
        .children()
        .find(|n| is_cas(n, "user"))
        .map(|n| text_of(&n).trim().to_owned())
        .unwrap_or_default();
    if user.is_empty() {
        return Err(Refusal::Malformed(
            "authenticationSuccess without a user".into(),
        ));
    }
    let mut attributes = BTreeMap::new();
    if let Some(attrs) = success.children().find(|n| is_cas(n, "attributes")) {
        for a in attrs.children().filter(|n| n.is_element()) {
            let name = a.tag_name().name().to_owned();
            let value = text_of(&a);
            match attributes.remove(&name) {
                None => {
                    attributes.insert(name, AttrValue::One(value));
                }
                Some(AttrValue::One(first)) => {
                    attributes.insert(name, AttrValue::Many(vec![first, value]));
                }
                Some(AttrValue::Many(mut all)) => {
                    all.push(value);
                    attributes.insert(name, AttrValue::Many(all));
                }
            }
        }
    }
    Ok(Success { user, attributes })
}

/// The concatenated text inside `node`.
fn text_of(node: &roxmltree::Node<'_, '_>) -> String {
    node.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">
  <cas:authenticationSuccess>
    <cas:user>alice</cas:user>
    <cas:attributes>
      <cas:email>alice@example.org</cas:email>
      <cas:group>staff</cas:group>
      <cas:group>admins</cas:group>
      <cas:empty/>
    </cas:attributes>
  </cas:authenticationSuccess>
</cas:serviceResponse>"#;

    #[test]
    fn success_with_single_repeated_and_empty_attributes() {
        let s = parse(Version::V3, OK).unwrap();
        assert_eq!(s.user, "alice");
        assert_eq!(
            s.attributes.get("email"),
            Some(&AttrValue::One("alice@example.org".into()))
        );
        assert_eq!(
            s.attributes.get("group"),
            Some(&AttrValue::Many(vec!["staff".into(), "admins".into()]))
        );
        assert_eq!(
            s.attributes.get("empty"),
            Some(&AttrValue::One(String::new()))
        );
    }

    #[test]
    fn failure_codes_are_reported() {
        let body = r#"<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">
 <cas:authenticationFailure code="INVALID_TICKET">Ticket ST-1 not recognized</cas:authenticationFailure>
</cas:serviceResponse>"#;
        match parse(Version::V2, body) {
            Err(Refusal::Refused { code, message }) => {
                assert_eq!(code, "INVALID_TICKET");
                assert_eq!(message, "Ticket ST-1 not recognized");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_namespace_dtds_and_missing_users_are_malformed() {
        let other_ns = OK.replace("http://www.yale.edu/tp/cas", "urn:evil");
        assert!(matches!(
            parse(Version::V2, &other_ns),
            Err(Refusal::Malformed(_))
        ));
        let dtd = format!("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{OK}");
        assert!(matches!(
            parse(Version::V2, &dtd),
            Err(Refusal::Malformed(_))
        ));
        let no_user = OK.replace("<cas:user>alice</cas:user>", "<cas:user> </cas:user>");
        assert!(matches!(
            parse(Version::V2, &no_user),
            Err(Refusal::Malformed(_))
        ));
        assert!(matches!(
            parse(Version::V3, "yes\nalice\n"),
            Err(Refusal::Malformed(_))
        ));
        let neither = r#"<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"/>"#;
        assert!(matches!(
            parse(Version::V3, neither),
            Err(Refusal::Malformed(_))
        ));
    }

    #[test]
    fn cas1_lines() {
        let s = parse(Version::V1, "yes\nbob\n").unwrap();
        assert_eq!(s.user, "bob");
        assert!(s.attributes.is_empty());
        assert!(matches!(
            parse(Version::V1, "no\n\n"),
            Err(Refusal::Refused { .. })
        ));
        assert!(matches!(
            parse(Version::V1, "yes\n\n"),
            Err(Refusal::Malformed(_))
        ));
        assert!(matches!(parse(Version::V1, OK), Err(Refusal::Malformed(_))));
    }

    #[test]
    fn log_text_is_bounded_and_single_line() {
        let s = shorten(&format!("a\nb{}", "x".repeat(500)));
        assert!(s.starts_with("a b"));
        assert!(s.chars().count() <= 201);
    }
}
