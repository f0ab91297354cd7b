//! The two metadata providers' logic: `ldap_attributes` reads attributes of the user's entry,
//! `ldap_groups` finds the groups the user belongs to. Both start from the user's DN, which
//! the authenticators leave in the identity's `userdata`.

use base64::Engine;
use rewho_plugin_api::{Identity, Map, Value, USERID_KEY};

use crate::directory::{Directory, Level, Log, SearchScope, Unavailable};
use crate::escape::{filter_value, first_rdn};

/// The user's DN: `userdata["dn"]` (who_ldap's map form), a `<dn:BASE64>` marker in a string
/// `userdata` (its older form), or the user id itself when it is a DN (what `returned_id = dn`
/// and repoze.who.plugins.ldap give).
pub fn user_dn(identity: &Identity) -> Option<String> {
    match identity.get("userdata") {
        Some(Value::Map(m)) => {
            if let Some(dn) = m.get_str("dn").filter(|d| !d.is_empty()) {
                return Some(dn.to_owned());
            }
        }
        Some(Value::Str(s)) => {
            if let Some(dn) = dn_marker(s) {
                return Some(dn);
            }
        }
        _ => {}
    }
    let userid = identity.get(USERID_KEY)?.as_str()?;
    first_rdn(userid).map(|_| userid.to_owned())
}

/// Decodes who_ldap's `<dn:BASE64>` marker.
fn dn_marker(s: &str) -> Option<String> {
    let start = s.find("<dn:")? + 4;
    let len = s[start..].find('>')?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&s[start..start + len])
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// Records `dn` in the identity's `userdata` as who_ldap does: a key of the map (created if
/// absent), or a `<dn:BASE64>` marker appended to a string.
pub fn save_dn(identity: &mut Identity, dn: &str) {
    match identity.get_mut("userdata") {
        Some(Value::Map(m)) => {
            m.insert("dn", dn);
        }
        Some(Value::Str(s)) => {
            let marker = base64::engine::general_purpose::STANDARD.encode(dn);
            let mut text = s.to_string();
            text.push_str(&format!("<dn:{marker}>"));
            *s = text.into();
        }
        _ => {
            let mut m = Map::new();
            m.insert("dn", dn);
            identity.insert("userdata", m);
        }
    }
}

/// A filter with `{identity[KEY]}` placeholders (who_ldap's `str.format` syntax); `{{` and
/// `}}` are literal braces. Values are escaped when substituted.
#[derive(Debug, Clone)]
pub struct Template {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone)]
enum Piece {
    Lit(String),
    Key(String),
}

impl Template {
    /// Parses `text`; an unknown placeholder is an error.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(i) = rest.find(['{', '}']) {
            lit.push_str(&rest[..i]);
            let tail = &rest[i..];
            if tail.starts_with("{{") || tail.starts_with("}}") {
                lit.push_str(&tail[..1]);
                rest = &tail[2..];
                continue;
            }
            if tail.starts_with('}') {
                return Err("a lone `}` (write `}}` for a brace)".into());
            }
            let end = tail.find('}').ok_or("an unclosed `{`")?;
            let inner = &tail[1..end];
            let key = inner
                .strip_prefix("identity[")
                .and_then(|k| k.strip_suffix(']'))
                .filter(|k| !k.is_empty())
                .ok_or_else(|| format!("`{{{inner}}}`: only `{{identity[KEY]}}` is known"))?;
            pieces.push(Piece::Lit(std::mem::take(&mut lit)));
            pieces.push(Piece::Key(key.to_owned()));
            rest = &tail[end + 1..];
        }
        lit.push_str(rest);
        pieces.push(Piece::Lit(lit));
        Ok(Template { pieces })
    }

    /// Whether it names identity values (a search) or not (a filter on the user's entry).
    pub fn has_placeholders(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p, Piece::Key(_)))
    }

    /// The filter for `identity`; `None` when a named key is missing or not a scalar.
    pub fn render(&self, identity: &Identity) -> Option<String> {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Key(k) => {
                    let v = match identity.get(k)? {
                        Value::Str(s) => s.to_string(),
                        Value::Int(i) => i.to_string(),
                        _ => return None,
                    };
                    out.push_str(&filter_value(&v));
                }
            }
        }
        Some(out)
    }

    /// The text with every placeholder replaced by `x` (to check the filter's syntax).
    pub fn sample(&self) -> String {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Lit(s) => s.as_str(),
                Piece::Key(_) => "x",
            })
            .collect()
    }
}

/// `ldap_attributes`.
pub struct Attributes {
    /// The connections.
    pub dir: Directory,
    /// Base of a `filterstr` search (`""` as who_ldap).
    pub base_dn: String,
    /// `filterstr`.
    pub filter: Template,
    /// (LDAP attribute, identity key) pairs; `None` for all attributes.
    pub attributes: Option<Vec<(String, String)>>,
    /// Single values instead of lists.
    pub flatten: bool,
    /// Put everything under this identity key instead of at the top.
    pub name: Option<String>,
    /// Where to log.
    pub log: Log,
}

/// An attribute never copied into an identity unless named in `attributes`.
const SECRET_ATTRIBUTE: &str = "userPassword";

impl Attributes {
    /// The attributes to add, or `None` when there is nothing to look up (no DN, a key the
    /// filter needs is missing, no entry).
    pub fn lookup(&self, identity: &Identity) -> Result<Option<Map>, Unavailable> {
        let (base, scope, filter) = if self.filter.has_placeholders() {
            let Some(filter) = self.filter.render(identity) else {
                (self.log)(Level::Debug, "the identity lacks a key `filterstr` names");
                return Ok(None);
            };
            (self.base_dn.clone(), SearchScope::Subtree, filter)
        } else {
            let Some(dn) = user_dn(identity) else {
                (self.log)(Level::Debug, "no user DN in the identity");
                return Ok(None);
            };
            (dn, SearchScope::Base, self.filter.sample())
        };
        let wanted: Vec<&str> = match &self.attributes {
            Some(map) => map.iter().map(|(a, _)| a.as_str()).collect(),
            None => vec!["*"],
        };
        let entries = self.dir.search(&base, scope, &filter, &wanted)?;
        let Some(entry) = entries.into_iter().next() else {
            return Ok(None);
        };
        let mut names: Vec<&String> = entry.attrs.keys().collect();
        names.sort();
        let mut out = Map::new();
        let mut put = |key: &str, values: &Vec<String>| {
            let value = if self.flatten {
                match values.first() {
                    Some(v) => Value::from(v.as_str()),
                    None => return,
                }
            } else {
                Value::from(values.clone())
            };
            out.insert(key.to_owned(), value);
        };
        match &self.attributes {
            Some(map) => {
                for (attr, alias) in map {
                    let found = names.iter().find(|n| n.eq_ignore_ascii_case(attr));
                    // A named attribute the entry lacks is an empty list (as who_ldap's
                    // ldap3 gives it), or left out when flattened.
                    match found {
                        Some(n) => put(alias, &entry.attrs[*n]),
                        None => put(alias, &Vec::new()),
                    }
                }
            }
            None => {
                for n in names {
                    if !n.eq_ignore_ascii_case(SECRET_ATTRIBUTE) {
                        put(n, &entry.attrs[n]);
                    }
                }
            }
        }
        Ok(Some(out))
    }
}

/// `ldap_groups`.
pub struct Groups {
    /// The connections.
    pub dir: Directory,
    /// Where the groups are.
    pub base_dn: String,
    /// `subtree` or `onelevel`.
    pub scope: SearchScope,
    /// `filterstr` with `%(dn)s` for the user's DN.
    pub filter: String,
    /// The group attribute to return (`cn`), or `dn`.
    pub returned_id: String,
    /// Read the groups from this attribute of the user's entry (`memberOf`) instead.
    pub memberof: Option<String>,
    /// Where to log.
    pub log: Log,
}

/// Substitutes `%(dn)s` (escaped) and `%%` in a groups filter.
pub fn render_groups_filter(filter: &str, dn: &str) -> String {
    filter
        .replace("%%", "\u{0}")
        .replace("%(dn)s", &filter_value(dn))
        .replace('\u{0}', "%")
}

impl Groups {
    /// The user's group names, sorted; `None` without a user DN.
    pub fn lookup(&self, identity: &Identity) -> Result<Option<Vec<String>>, Unavailable> {
        let Some(dn) = user_dn(identity) else {
            (self.log)(Level::Debug, "no user DN in the identity");
            return Ok(None);
        };
        let mut names: Vec<String> = match &self.memberof {
            Some(attr) => {
                let entries =
                    self.dir
                        .search(&dn, SearchScope::Base, "(objectClass=*)", &[attr.as_str()])?;
                entries
                    .iter()
                    .flat_map(|e| {
                        e.attrs
                            .iter()
                            .filter(|(k, _)| k.eq_ignore_ascii_case(attr))
                            .flat_map(|(_, v)| v.iter())
                    })
                    .filter_map(|group_dn| self.group_name_from_dn(group_dn))
                    .collect()
            }
            None => {
                let filter = render_groups_filter(&self.filter, &dn);
                let wanted = if self.returned_id == "dn" {
                    "1.1"
                } else {
                    self.returned_id.as_str()
                };
                let entries = self
                    .dir
                    .search(&self.base_dn, self.scope, &filter, &[wanted])?;
                entries
                    .into_iter()
                    .filter_map(|e| {
                        if self.returned_id == "dn" {
                            return Some(e.dn);
                        }
                        e.attrs
                            .iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(&self.returned_id))
                            .and_then(|(_, v)| v.first().cloned())
                    })
                    .collect()
            }
        };
        names.sort();
        names.dedup();
        Ok(Some(names))
    }

    /// A group's name from its DN: the DN itself for `returned_id = dn`, else the value of
    /// its first RDN when that is the `returned_id` attribute.
    fn group_name_from_dn(&self, group_dn: &str) -> Option<String> {
        if self.returned_id == "dn" {
            return Some(group_dn.to_owned());
        }
        match first_rdn(group_dn) {
            Some((kind, value)) if kind.eq_ignore_ascii_case(&self.returned_id) => Some(value),
            _ => {
                (self.log)(
                    Level::Debug,
                    &format!(
                        "group `{group_dn}` is not named by `{}`; skipped",
                        self.returned_id
                    ),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_substitute_escaped_identity_values() {
        let t = Template::parse("(&(objectClass=person)(uid={identity[login]}){{x}})").unwrap();
        assert!(t.has_placeholders());
        let mut id = Identity::new();
        assert_eq!(t.render(&id), None);
        id.insert("login", "*)(uid=*");
        assert_eq!(
            t.render(&id).unwrap(),
            "(&(objectClass=person)(uid=\\2a\\29\\28uid=\\2a){x})"
        );
        assert!(Template::parse("({login})").is_err());
        assert!(Template::parse("(uid={identity[login]").is_err());
        assert!(!Template::parse("(objectClass=*)")
            .unwrap()
            .has_placeholders());
    }

    #[test]
    fn dn_travels_in_userdata_both_ways() {
        let mut id = Identity::new();
        save_dn(&mut id, "uid=a,dc=x");
        assert_eq!(user_dn(&id).as_deref(), Some("uid=a,dc=x"));
        let mut old = Identity::new();
        old.insert("userdata", "prefix");
        save_dn(&mut old, "uid=é,dc=x");
        assert!(old.get_str("userdata").unwrap().starts_with("prefix<dn:"));
        assert_eq!(user_dn(&old).as_deref(), Some("uid=é,dc=x"));
        let mut by_userid = Identity::new();
        by_userid.insert(USERID_KEY, "uid=b,dc=x");
        assert_eq!(user_dn(&by_userid).as_deref(), Some("uid=b,dc=x"));
        let mut login = Identity::new();
        login.insert(USERID_KEY, "bob");
        assert_eq!(user_dn(&login), None);
    }

    #[test]
    fn groups_filter_escapes_the_dn() {
        assert_eq!(
            render_groups_filter("(&(member=%(dn)s)(x=100%%))", "cn=a (b)*,dc=x"),
            "(&(member=cn=a \\28b\\29\\2a,dc=x)(x=100%))"
        );
    }
}
