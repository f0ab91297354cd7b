//! `header`: takes the user, and optionally user attributes, from request headers set by a
//! trusted front end (Shibboleth, Apache `mod_auth_*`, oauth2-proxy, a corporate SSO gateway).
//!
//! ```ini
//! [plugin:sso]
//! use = header
//! user_header = X-Forwarded-User
//! attribute_headers =
//!     X-Forwarded-Email:mail
//!     X-Forwarded-Groups:groups
//! list_attributes = groups
//! trusted_proxies = 127.0.0.1/32 10.1.2.0/24
//! # optional: let auth_tkt remember the user, so only the login path needs the front end
//! rememberer_name = auth_tkt
//!
//! [plugin:attributes]
//! use = metadata_cache
//!
//! [identifiers]
//! plugins = sso auth_tkt attributes
//! [authenticators]
//! plugins = sso auth_tkt
//! [mdproviders]
//! plugins = attributes
//! ```
//!
//! Headers are believed only from `trusted_proxies` (loopback by default), matched against the
//! address the request came from. From anywhere else the plugin identifies nobody and removes
//! its headers from the request passed downstream, so a client cannot pose as a user to the
//! application either.
//!
//! The identity carries the user id (preset, as a ticket-style identifier does) and, when
//! `attribute_headers` is set, a map of attributes under `attributes_name` (`attributes`, which
//! `metadata_cache` captures by default): so the attributes the front end sends with the login
//! are replayed by `metadata_cache` on later requests that come in with a cookie only. The
//! plugin is also the authenticator of its own identities (list it in `[authenticators]`),
//! and accepts no other identity.
//!
//! Remember and forget are passed to `rememberer_name` when set (an `auth_tkt` plugin, say);
//! otherwise they add nothing.
//!
//! # Groups
//! `groups_attribute = groups` names a list attribute (one of `list_attributes`) whose values
//! are also added to the identity's top-level `groups` list, which the `rules` authorizer's
//! `group:` requirements read. It happens when the headers are read, and again as a metadata
//! provider: list the plugin in `[mdproviders]` *after* `metadata_cache`, and the groups
//! `metadata_cache` replays into the attribute map on cookie-only requests reach `groups` too.
//!
//! ```ini
//! [plugin:sso]
//! use = header
//! attribute_headers = X-Forwarded-Groups:groups
//! list_attributes = groups
//! groups_attribute = groups
//!
//! [mdproviders]
//! plugins = attributes sso
//! ```
#![warn(missing_docs, unreachable_pub)]
#![deny(unsafe_code)]

use std::net::IpAddr;

use rewho_plugin_api::{
    Authenticator, Environ, FactoryContext, HeaderField, Identifier, Identity, Map,
    MetadataProvider, Plugin, PluginError, PluginHandle, Request, Value, USERID_KEY,
};
use serde::Deserialize;

/// The identity key naming the `header` plugin that found the identity.
pub const SOURCE_KEY: &str = "rewho.header";
/// The identity key holding the user as the header gave it.
pub const USER_KEY: &str = "rewho.header.userid";

/// Options of the `header` plugin (`[plugin:ID]` keys).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The header holding the user id.
    #[serde(default = "default_user_header")]
    user_header: String,
    /// `Header:attribute` pairs (or a bare `Header`, kept under its own name), whitespace
    /// separated.
    #[serde(default)]
    attribute_headers: Vec<String>,
    /// The identity key of the attribute map.
    #[serde(default = "default_attributes_name")]
    attributes_name: String,
    /// Attributes whose values are lists, split at `value_separator`.
    #[serde(default)]
    list_attributes: Vec<String>,
    /// What separates the values of a list attribute (oauth2-proxy uses `,`, Shibboleth `;`).
    #[serde(default = "default_separator")]
    value_separator: String,
    /// Addresses (CIDRs or single addresses) whose headers are believed.
    #[serde(default = "default_trusted")]
    trusted_proxies: Vec<String>,
    /// An identifier that remembers and forgets the user on this plugin's behalf.
    rememberer_name: Option<String>,
    /// A list attribute whose values also go to the identity's `groups`.
    groups_attribute: Option<String>,
}

fn default_user_header() -> String {
    "X-Forwarded-User".into()
}
fn default_attributes_name() -> String {
    "attributes".into()
}
fn default_separator() -> String {
    ",".into()
}
fn default_trusted() -> Vec<String> {
    vec!["127.0.0.0/8".into(), "::1/128".into()]
}

/// A network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `::1/128` or a bare address (a single host).
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let net: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| format!("{s:?} is not an address or CIDR"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| format!("{s:?}: prefix length must be 0..={max}"))?,
            None => max,
        };
        Ok(Cidr { net, prefix })
    }

    /// `true` when `ip` is inside this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let bits = |a: u128, b: u128, width: u32| {
            let shift = width - u32::from(self.prefix);
            shift >= width || (a >> shift) == (b >> shift)
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                bits(u128::from(u32::from(n)), u128::from(u32::from(a)), 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => bits(u128::from(n), u128::from(a), 128),
            _ => false,
        }
    }
}

/// The `header` plugin: an identifier and the authenticator of its own identities.
pub struct HeaderPlugin {
    id: String,
    user_header: String,
    /// `(header, attribute, is_list)`.
    attributes: Vec<(String, String, bool)>,
    attributes_name: String,
    separator: String,
    trusted: Vec<Cidr>,
    rememberer: Option<PluginHandle>,
    groups_attribute: Option<String>,
}

/// The identity key holding the user's groups (a list of strings).
pub const GROUPS_KEY: &str = "groups";

fn valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl Plugin for HeaderPlugin {
    type Options = Options;
    const SUMMARY: &'static str = "identifies the user from headers set by a trusted front end";

    fn new(o: Options, ctx: &FactoryContext<'_>) -> Result<Self, PluginError> {
        if !valid_header_name(&o.user_header) {
            return Err(PluginError::new(format!(
                "option `user_header`: {:?} is not a header name",
                o.user_header
            )));
        }
        let attributes = o
            .attribute_headers
            .iter()
            .map(|entry| {
                let (header, attr) = entry.split_once(':').unwrap_or((entry, entry));
                if !valid_header_name(header) || attr.is_empty() {
                    return Err(PluginError::new(format!(
                        "option `attribute_headers`: {entry:?} is not `Header:attribute`"
                    )));
                }
                Ok((
                    header.to_owned(),
                    attr.to_owned(),
                    o.list_attributes.iter().any(|l| l == attr),
                ))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(unknown) = o
            .list_attributes
            .iter()
            .find(|l| !attributes.iter().any(|(_, a, _)| a == *l))
        {
            return Err(PluginError::new(format!(
                "option `list_attributes`: `{unknown}` is not an attribute of `attribute_headers`"
            )));
        }
        if o.attributes_name.is_empty() {
            return Err(PluginError::new(
                "option `attributes_name`: must not be empty",
            ));
        }
        if o.value_separator.is_empty() {
            return Err(PluginError::new(
                "option `value_separator`: must not be empty",
            ));
        }
        let trusted = o
            .trusted_proxies
            .iter()
            .map(|c| Cidr::parse(c))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PluginError::new(format!("option `trusted_proxies`: {e}")))?;
        if let Some(g) = &o.groups_attribute {
            if !o.list_attributes.iter().any(|l| l == g) {
                return Err(PluginError::new(format!(
                    "option `groups_attribute`: `{g}` is not one of `list_attributes`"
                )));
            }
        }
        let rememberer = match &o.rememberer_name {
            None => None,
            Some(name) => {
                let handle = ctx.host().plugin(name).ok_or_else(|| {
                    PluginError::new(format!(
                        "option `rememberer_name`: no plugin `{name}` (add a [plugin:{name}] section)"
                    ))
                })?;
                if !handle.is_identifier() {
                    return Err(PluginError::new(format!(
                        "option `rememberer_name`: plugin `{name}` is not an identifier"
                    )));
                }
                Some(handle)
            }
        };
        Ok(HeaderPlugin {
            id: ctx.plugin_id().to_owned(),
            user_header: o.user_header,
            attributes,
            attributes_name: o.attributes_name,
            separator: o.value_separator,
            trusted,
            rememberer,
            groups_attribute: o.groups_attribute,
        })
    }
}

impl HeaderPlugin {
    fn trusts(&self, remote_addr: &str) -> bool {
        let addr = remote_addr.trim_start_matches('[').trim_end_matches(']');
        match addr.parse::<IpAddr>() {
            Ok(ip) => self.trusted.iter().any(|c| c.contains(ip)),
            Err(_) => false,
        }
    }

    fn header_names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.user_header.as_str())
            .chain(self.attributes.iter().map(|(h, _, _)| h.as_str()))
    }

    /// Adds the strings of the `groups_attribute` list in the identity's attribute map to its
    /// `groups` (after what is there, no duplicates).
    fn merge_groups(&self, identity: &mut Identity) {
        let Some(attr) = &self.groups_attribute else {
            return;
        };
        let Some(values) = identity
            .get(&self.attributes_name)
            .and_then(Value::as_map)
            .and_then(|m| m.get(attr))
            .and_then(Value::as_list)
        else {
            return;
        };
        let mut list: Vec<Value> = match identity.get(GROUPS_KEY) {
            Some(Value::List(l)) => l.to_vec(),
            Some(Value::Str(s)) => vec![Value::from(s.as_str())],
            _ => Vec::new(),
        };
        for g in values.iter().filter(|v| v.as_str().is_some()) {
            if !list.contains(g) {
                list.push(g.clone());
            }
        }
        identity.insert(GROUPS_KEY, Value::List(list.into_iter().collect()));
    }

    fn attribute_value(&self, req: &Request<'_>, header: &str, list: bool) -> Option<Value> {
        let mut values: Vec<&str> = req.headers_named(header).collect();
        if values.is_empty() {
            return None;
        }
        if list {
            let parts: Vec<Value> = values
                .iter()
                .flat_map(|v| v.split(self.separator.as_str()))
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(Value::from)
                .collect();
            return Some(Value::List(parts.into_iter().collect()));
        }
        if values.len() == 1 {
            return values.pop().map(|v| Value::from(v.trim()));
        }
        Some(Value::from(
            values.into_iter().map(str::trim).collect::<Vec<_>>(),
        ))
    }
}

// IIdentifier
impl Identifier for HeaderPlugin {
    fn identify(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
    ) -> Result<Option<Identity>, PluginError> {
        if !self.trusts(req.peer_addr()) {
            // Keep spoofed copies away from the application too.
            for name in self.header_names() {
                if req.header(name).is_some() {
                    env.remove_downstream_header(name);
                }
            }
            return Ok(None);
        }
        let Some(user) = req.header(&self.user_header).map(str::trim) else {
            return Ok(None);
        };
        if user.is_empty() {
            return Ok(None);
        }
        let mut identity = Identity::new();
        identity.insert(USERID_KEY, user);
        identity.insert(USER_KEY, user);
        identity.insert(SOURCE_KEY, self.id.as_str());
        if !self.attributes.is_empty() {
            let mut attrs = Map::new();
            for (header, attr, list) in &self.attributes {
                if let Some(v) = self.attribute_value(req, header, *list) {
                    attrs.insert(attr, v);
                }
            }
            identity.insert(&self.attributes_name, attrs);
            self.merge_groups(&mut identity);
        }
        Ok(Some(identity))
    }

    fn remember(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
        identity: &Identity,
    ) -> Result<Vec<HeaderField>, PluginError> {
        match &self.rememberer {
            Some(r) => r.remember(req, env, identity),
            None => Ok(Vec::new()),
        }
    }

    fn forget(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
        identity: &Identity,
    ) -> Result<Vec<HeaderField>, PluginError> {
        match &self.rememberer {
            Some(r) => r.forget(req, env, identity),
            None => Ok(Vec::new()),
        }
    }
}

// IAuthenticator (accepts only identities this plugin found)
impl Authenticator for HeaderPlugin {
    fn authenticate(
        &self,
        _req: &Request<'_>,
        _env: &mut Environ,
        identity: &mut Identity,
    ) -> Result<Option<Value>, PluginError> {
        if identity.get_str(SOURCE_KEY) != Some(self.id.as_str()) {
            return Ok(None);
        }
        Ok(identity.get(USER_KEY).cloned())
    }
}

// IMetadataProvider: `groups` from the attribute map, also when `metadata_cache` replayed it.
impl MetadataProvider for HeaderPlugin {
    fn add_metadata(
        &self,
        _req: &Request<'_>,
        _env: &mut Environ,
        identity: &mut Identity,
    ) -> Result<(), PluginError> {
        self.merge_groups(identity);
        Ok(())
    }
}

rewho_plugin_api::export_plugin! {
    "header" => HeaderPlugin: [identifier, authenticator, mdprovider],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_match() {
        let lo = Cidr::parse("127.0.0.0/8").unwrap();
        assert!(lo.contains("127.1.2.3".parse().unwrap()));
        assert!(lo.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!lo.contains("128.0.0.1".parse().unwrap()));
        assert!(!lo.contains("::1".parse().unwrap()));
        let one = Cidr::parse("::1").unwrap();
        assert!(one.contains("::1".parse().unwrap()));
        assert!(!one.contains("::2".parse().unwrap()));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        let net = Cidr::parse("10.1.2.0/23").unwrap();
        assert!(net.contains("10.1.3.255".parse().unwrap()));
        assert!(!net.contains("10.1.4.0".parse().unwrap()));
        for bad in ["10.0.0.0/33", "::/129", "nope", "10.0.0.0/x", ""] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn groups_attribute_feeds_groups_from_headers_and_replayed_attributes() {
        let plugin = HeaderPlugin {
            id: "sso".into(),
            user_header: "X-Forwarded-User".into(),
            attributes: vec![("X-Forwarded-Groups".into(), "groups".into(), true)],
            attributes_name: "attributes".into(),
            separator: ",".into(),
            trusted: vec![Cidr::parse("127.0.0.0/8").unwrap()],
            rememberer: None,
            groups_attribute: Some("groups".into()),
        };
        let headers = [
            rewho_plugin_api::Header {
                name: "X-Forwarded-User".into(),
                value: "alice".into(),
            },
            rewho_plugin_api::Header {
                name: "X-Forwarded-Groups".into(),
                value: "admins, staff,,admins".into(),
            },
        ];
        let headers: &'static [rewho_plugin_api::Header<'static>] = Box::leak(Box::new(headers));
        let req = |remote: &'static str| rewho_plugin_api::testing::request("h", remote, headers);
        let mut env = rewho_plugin_api::testing::environ();
        let id = plugin
            .identify(&req("127.0.0.1"), &mut env)
            .unwrap()
            .unwrap();
        assert_eq!(
            id.get(GROUPS_KEY),
            Some(&Value::from(vec!["admins", "staff"]))
        );
        // From an untrusted address: nobody, and no groups.
        assert!(plugin
            .identify(&req("192.0.2.1"), &mut env)
            .unwrap()
            .is_none());
        // A cookie identity whose attribute map metadata_cache replayed, with groups already
        // set by another plugin.
        let mut replayed = Identity::new();
        replayed.insert(USERID_KEY, "alice");
        replayed.insert(GROUPS_KEY, Value::from(vec!["sso"]));
        let mut attrs = Map::new();
        attrs.insert("groups", Value::from(vec!["staff", "sso"]));
        replayed.insert("attributes", attrs);
        plugin
            .add_metadata(&req("127.0.0.1"), &mut env, &mut replayed)
            .unwrap();
        assert_eq!(
            replayed.get(GROUPS_KEY),
            Some(&Value::from(vec!["sso", "staff"]))
        );
    }

    #[test]
    fn header_names_are_checked() {
        assert!(valid_header_name("X-Forwarded-User"));
        assert!(!valid_header_name("X Forwarded"));
        assert!(!valid_header_name(""));
    }
}
