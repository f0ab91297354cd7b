//! The options of the four factories: one struct with every key of who_ldap and
//! repoze.who.plugins.ldap (plus rewho's TLS, timeout and pool keys), and per-factory lists of
//! the keys each one reads, so a key that a factory would ignore is an error naming it.

use std::time::Duration;

use rewho_plugin_api::{FactoryContext, PluginError};
use serde::Deserialize;

use crate::directory::{DirectoryConfig, SearchScope};

/// Every option any of the four factories reads (`[plugin:ID]` keys). Empty values count as
/// unset, as in who_ldap (`returned_id =` means the default).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// repoze.who.plugins.ldap's and who_ldap 2.x's name for the server URL(s).
    pub(crate) ldap_connection: Option<Vec<String>>,
    /// who_ldap 3.x/4.x's name for the same thing.
    pub(crate) url: Option<Vec<String>>,
    pub(crate) base_dn: Option<String>,
    #[serde(default)]
    pub(crate) start_tls: bool,
    pub(crate) tls_ca_file: Option<String>,
    pub(crate) tls_verify: Option<bool>,
    pub(crate) returned_id: Option<String>,
    pub(crate) naming_attribute: Option<String>,
    pub(crate) bind_dn: Option<String>,
    pub(crate) bind_pass: Option<String>,
    pub(crate) bind_passfile: Option<String>,
    pub(crate) search_scope: Option<String>,
    pub(crate) restrict: Option<String>,
    pub(crate) filterstr: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) attributes: Option<String>,
    #[serde(default)]
    pub(crate) flatten: bool,
    pub(crate) memberof_attribute: Option<String>,
    pub(crate) connect_timeout: Option<f64>,
    pub(crate) timeout: Option<f64>,
    pub(crate) pool_size: Option<usize>,
    pub(crate) retry_interval: Option<f64>,
}

/// Keys every factory reads.
const COMMON: &[&str] = &[
    "ldap_connection",
    "url",
    "start_tls",
    "tls_ca_file",
    "tls_verify",
    "connect_timeout",
    "timeout",
    "pool_size",
    "retry_interval",
];
const SERVICE: &[&str] = &["bind_dn", "bind_pass", "bind_passfile"];

/// The keys factory `factory` reads besides [`COMMON`].
fn specific(factory: &str) -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = match factory {
        "ldap" => vec!["base_dn", "returned_id", "naming_attribute"],
        "ldap_search" => vec![
            "base_dn",
            "returned_id",
            "naming_attribute",
            "search_scope",
            "restrict",
        ],
        "ldap_attributes" => vec!["base_dn", "filterstr", "name", "attributes", "flatten"],
        "ldap_groups" => vec![
            "base_dn",
            "filterstr",
            "name",
            "search_scope",
            "returned_id",
            "memberof_attribute",
        ],
        _ => Vec::new(),
    };
    if factory != "ldap" {
        keys.extend_from_slice(SERVICE);
    }
    keys
}

/// Refuses keys `factory` would not read (say `restrict` on `ldap`).
pub(crate) fn check_keys(factory: &str, ctx: &FactoryContext<'_>) -> Result<(), PluginError> {
    let own = specific(factory);
    for (key, _) in ctx.raw_options() {
        if key == "use" || COMMON.contains(&key) || own.contains(&key) {
            continue;
        }
        let mut known: Vec<&str> = COMMON.to_vec();
        known.extend(&own);
        return Err(PluginError::new(format!(
            "option `{key}`: not an option of `{factory}` (it takes: {})",
            known.join(", ")
        )));
    }
    Ok(())
}

/// `Some(s)` when `s` is non-empty after trimming.
pub(crate) fn set(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// `returned_id` of the authenticators: the DN or the login as user id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnedId {
    /// The entry's DN (the default).
    Dn,
    /// The login as typed.
    Login,
}

impl Options {
    /// The server URLs (`ldap_connection`, or `url`), whitespace separated.
    fn urls(&self) -> Result<Vec<String>, PluginError> {
        match (&self.ldap_connection, &self.url) {
            (Some(_), Some(_)) => Err(PluginError::new(
                "option `url`: give either `ldap_connection` or `url` (they are the same)",
            )),
            (Some(u), None) | (None, Some(u)) if !u.is_empty() => Ok(u.clone()),
            _ => Err(PluginError::new(
                "option `ldap_connection` (or `url`): required, e.g. ldap://ldap.example.org",
            )),
        }
    }

    /// `base_dn`, required.
    pub(crate) fn base_dn(&self) -> Result<String, PluginError> {
        set(&self.base_dn)
            .map(str::to_owned)
            .ok_or_else(|| PluginError::new("option `base_dn`: required"))
    }

    /// `returned_id` of the authenticators.
    pub(crate) fn returned_id(&self) -> Result<ReturnedId, PluginError> {
        match set(&self.returned_id)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("dn") => Ok(ReturnedId::Dn),
            Some("login") => Ok(ReturnedId::Login),
            Some(other) => Err(PluginError::new(format!(
                "option `returned_id`: `{other}` is neither `dn` nor `login`"
            ))),
        }
    }

    /// `naming_attribute` (default `uid`), checked to be an attribute name.
    pub(crate) fn naming_attribute(&self) -> Result<String, PluginError> {
        let attr = set(&self.naming_attribute).unwrap_or("uid");
        attribute_name("naming_attribute", attr)?;
        Ok(attr.to_owned())
    }

    /// `search_scope`: `one[level]` or `sub[tree]` (the default), as who_ldap reads it.
    pub(crate) fn search_scope(&self) -> Result<SearchScope, PluginError> {
        let scope = set(&self.search_scope)
            .unwrap_or("subtree")
            .to_ascii_lowercase();
        if scope.starts_with("sub") {
            Ok(SearchScope::Subtree)
        } else if scope.starts_with("one") {
            Ok(SearchScope::OneLevel)
        } else {
            Err(PluginError::new(format!(
                "option `search_scope`: `{scope}` is neither `subtree` nor `onelevel`"
            )))
        }
    }

    /// The connection settings, with the service account when the factory uses one.
    pub(crate) fn directory(
        &self,
        ctx: &FactoryContext<'_>,
        service: bool,
    ) -> Result<DirectoryConfig, PluginError> {
        let seconds = |key: &str, v: Option<f64>, default: f64| -> Result<Duration, PluginError> {
            let v = v.unwrap_or(default);
            if !(v > 0.0 && v <= 300.0) {
                return Err(PluginError::new(format!(
                    "option `{key}`: give seconds between 0 and 300 (got {v})"
                )));
            }
            Ok(Duration::from_secs_f64(v))
        };
        let service = if service {
            self.service_account(ctx)?
        } else {
            None
        };
        let pool_size = self.pool_size.unwrap_or(8);
        if pool_size == 0 {
            return Err(PluginError::new("option `pool_size`: at least 1"));
        }
        Ok(DirectoryConfig {
            urls: self.urls()?,
            start_tls: self.start_tls,
            ca_file: set(&self.tls_ca_file).map(|p| ctx.resolve_path(p)),
            verify: self.tls_verify.unwrap_or(true),
            connect_timeout: seconds("connect_timeout", self.connect_timeout, 3.0)?,
            timeout: seconds("timeout", self.timeout, 3.0)?,
            pool_size,
            retry: seconds("retry_interval", self.retry_interval, 1.0)?,
            service,
        })
    }

    /// `bind_dn` with `bind_pass` or the first line of `bind_passfile`.
    fn service_account(
        &self,
        ctx: &FactoryContext<'_>,
    ) -> Result<Option<(String, String)>, PluginError> {
        let pass = match (&self.bind_pass, set(&self.bind_passfile)) {
            (Some(_), Some(_)) => {
                return Err(PluginError::new(
                    "option `bind_passfile`: give either `bind_pass` or `bind_passfile`",
                ))
            }
            (Some(p), None) => Some(p.clone()),
            (None, Some(file)) => {
                let path = ctx.resolve_path(file);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    PluginError::new(format!(
                        "option `bind_passfile`: cannot read `{}`: {e}",
                        path.display()
                    ))
                })?;
                Some(text.lines().next().unwrap_or("").to_owned())
            }
            (None, None) => None,
        };
        match (set(&self.bind_dn), pass) {
            (None, None) => Ok(None),
            (Some(dn), Some(p)) if !p.is_empty() => Ok(Some((dn.to_owned(), p))),
            (Some(_), _) => Err(PluginError::new(
                "option `bind_pass`: `bind_dn` needs a non-empty `bind_pass` or \
                 `bind_passfile` (an empty password is an anonymous bind)",
            )),
            (None, Some(_)) => Err(PluginError::new(
                "option `bind_dn`: required with `bind_pass` / `bind_passfile`",
            )),
        }
    }
}

/// Checks that `value` is an attribute name or OID (letters, digits, `-`, `.`, `;`).
pub(crate) fn attribute_name(option: &str, value: &str) -> Result<(), PluginError> {
    let ok = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ';'));
    if ok {
        Ok(())
    } else {
        Err(PluginError::new(format!(
            "option `{option}`: `{value}` is not an LDAP attribute name"
        )))
    }
}

/// Checks that `filter` parses as an RFC 4515 filter.
pub(crate) fn check_filter(option: &str, filter: &str) -> Result<(), PluginError> {
    ldap3::parse_filter(filter).map(|_| ()).map_err(|()| {
        PluginError::new(format!(
            "option `{option}`: `{filter}` is not an LDAP search filter (RFC 4515)"
        ))
    })
}

/// Parses `attributes`: `cn,mail` or `cn=fullname,mail=email` (who_ldap's syntax; commas
/// or line breaks between items). Gives (LDAP attribute, identity key) pairs.
pub(crate) fn attribute_map(text: &str) -> Result<Vec<(String, String)>, PluginError> {
    let mut out = Vec::new();
    for item in text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let (attr, alias) = match item.split_once('=') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (item, item),
        };
        attribute_name("attributes", attr)?;
        if alias.is_empty() {
            return Err(PluginError::new(format!(
                "option `attributes`: `{item}` maps to an empty name"
            )));
        }
        out.push((attr.to_owned(), alias.to_owned()));
    }
    Ok(out)
}
