//! LDAP plugins with the names and options of who_ldap and repoze.who.plugins.ldap:
//!
//! - `ldap` (`LDAPAuthenticatorPlugin`): binds as `naming_attribute=<login>,<base_dn>`;
//! - `ldap_search` (`LDAPSearchAuthenticatorPlugin`): finds the login's entry as a service
//!   account (or anonymously), then binds as it;
//! - `ldap_attributes` (`LDAPAttributesPlugin`): copies attributes of the user's entry into
//!   the identity;
//! - `ldap_groups` (`LDAPGroupsPlugin`): puts the user's group names under `groups` (a list
//!   of strings, what `group:` authorization rules read).
//!
//! ```ini
//! [plugin:ldap]
//! use = ldap_search
//! url = ldaps://ldap1.example.org ldaps://ldap2.example.org
//! base_dn = ou=people,dc=example,dc=org
//! bind_dn = cn=rewho,ou=services,dc=example,dc=org
//! bind_passfile = /etc/rewho/ldap.pass
//! returned_id = login
//! ```
//!
//! # Safety
//! Logins reach the directory only escaped (RFC 4515 in filters, RFC 4514 in DNs), so
//! `*)(uid=*` is a literal that matches nobody. An empty password is refused before any
//! bind: to LDAP it is an unauthenticated bind, which succeeds for every DN.
//!
//! # Outages
//! Connections are pooled and reused. Connecting and every operation are bounded
//! (`connect_timeout`, `timeout`). When no server answers, calls fail closed (no user id, no
//! metadata), the outage is logged once, requests fail fast for `retry_interval`, then one
//! tries again; the recovery is logged once too. An unavailable directory also sets the
//! environ key [`UNAVAILABLE_KEY`], so caching wrappers (`memcached` with `negative_ttl`) do
//! not remember an outage as a wrong password.
#![warn(missing_docs, unreachable_pub)]
#![deny(unsafe_code)]

pub mod authn;
pub mod directory;
pub mod escape;
pub mod metadata;
mod options;

use std::sync::Arc;

use rewho_plugin_api::{
    Authenticator, Environ, FactoryContext, Host, Identity, MetadataProvider, Plugin, PluginError,
    Request, Value,
};

use authn::{Accepted, BindAuth, SearchAuth};
use directory::{Directory, Level, Log, Unavailable};
use metadata::{Attributes, Groups, Template};
pub use options::{Options, ReturnedId};

/// Environ key set to `true` when a plugin's backend could not answer this request: its
/// `None` means "unknown", not "wrong credentials", and must not be cached as a failure.
pub const UNAVAILABLE_KEY: &str = "rewho.backend_unavailable";

/// who_ldap's default groups filter.
const GROUPS_FILTER: &str = "(&(objectClass=groupOfUniqueNames)(uniqueMember=%(dn)s))";

fn host_log(host: &Host) -> Log {
    let host = host.clone();
    Arc::new(move |level, msg: &str| match level {
        Level::Error => host.error(msg),
        Level::Info => host.info(msg),
        Level::Debug => host.debug(msg),
    })
}

fn directory(
    o: &Options,
    ctx: &FactoryContext<'_>,
    service: bool,
    log: &Log,
) -> Result<Directory, PluginError> {
    let config = o.directory(ctx, service)?;
    if !config.verify {
        ctx.host()
            .warn("tls_verify = false: server certificates are not checked (tests only)");
    }
    Directory::new(config, log.clone())
        .map_err(|e| PluginError::new(format!("option `ldap_connection`: {e}")))
}

/// Marks the environ and turns a failure into "no answer". Outages and refused service binds
/// are logged once by the directory; an operation the server refused (missing rights, a
/// size limit) is a configuration problem and logged each time.
fn unavailable(env: &mut Environ, e: &Unavailable, host: &Host) {
    env.set(UNAVAILABLE_KEY, true);
    match e {
        Unavailable::Refused { .. } => host.error(&e.to_string()),
        _ => host.debug(&e.to_string()),
    }
}

/// The identity's `login` and `password`, when both are strings.
fn credentials(identity: &Identity) -> Option<(String, String)> {
    Some((
        identity.get_str("login")?.to_owned(),
        identity.get_str("password")?.to_owned(),
    ))
}

fn finish(
    result: Result<Option<Accepted>, Unavailable>,
    env: &mut Environ,
    identity: &mut Identity,
    host: &Host,
) -> Option<Value> {
    match result {
        Ok(Some(a)) => {
            metadata::save_dn(identity, &a.dn);
            Some(Value::from(a.userid))
        }
        Ok(None) => None,
        Err(e) => {
            unavailable(env, &e, host);
            None
        }
    }
}

/// `ldap`: who_ldap's `LDAPAuthenticatorPlugin`.
pub struct Ldap {
    auth: BindAuth,
    host: Host,
}

impl Plugin for Ldap {
    type Options = Options;
    const SUMMARY: &'static str = "LDAP authenticator: binds as naming_attribute=<login>,base_dn";
    const DOES_IO: bool = true;

    fn new(o: Options, ctx: &FactoryContext<'_>) -> Result<Self, PluginError> {
        options::check_keys("ldap", ctx)?;
        let host = ctx.host();
        let log = host_log(&host);
        Ok(Ldap {
            auth: BindAuth {
                base_dn: o.base_dn()?,
                naming_attribute: o.naming_attribute()?,
                returned_id: o.returned_id()?,
                dir: directory(&o, ctx, false, &log)?,
            },
            host,
        })
    }
}

// IAuthenticator
impl Authenticator for Ldap {
    fn authenticate(
        &self,
        _req: &Request<'_>,
        env: &mut Environ,
        identity: &mut Identity,
    ) -> Result<Option<Value>, PluginError> {
        let Some((login, password)) = credentials(identity) else {
            return Ok(None);
        };
        let result = self.auth.authenticate(&login, &password);
        Ok(finish(result, env, identity, &self.host))
    }
}

/// `ldap_search`: who_ldap's `LDAPSearchAuthenticatorPlugin`.
pub struct LdapSearch {
    auth: SearchAuth,
    host: Host,
}

impl Plugin for LdapSearch {
    type Options = Options;
    const SUMMARY: &'static str = "LDAP authenticator: finds the login's entry, then binds as it";
    const DOES_IO: bool = true;

    fn new(o: Options, ctx: &FactoryContext<'_>) -> Result<Self, PluginError> {
        options::check_keys("ldap_search", ctx)?;
        let host = ctx.host();
        let log = host_log(&host);
        let restrict = options::set(&o.restrict).map(str::to_owned);
        if let Some(r) = &restrict {
            options::check_filter("restrict", r)?;
        }
        Ok(LdapSearch {
            auth: SearchAuth {
                base_dn: o.base_dn()?,
                naming_attribute: o.naming_attribute()?,
                returned_id: o.returned_id()?,
                scope: o.search_scope()?,
                restrict,
                dir: directory(&o, ctx, true, &log)?,
                log,
            },
            host,
        })
    }
}

// IAuthenticator
impl Authenticator for LdapSearch {
    fn authenticate(
        &self,
        _req: &Request<'_>,
        env: &mut Environ,
        identity: &mut Identity,
    ) -> Result<Option<Value>, PluginError> {
        let Some((login, password)) = credentials(identity) else {
            return Ok(None);
        };
        let result = self.auth.authenticate(&login, &password);
        Ok(finish(result, env, identity, &self.host))
    }
}

/// `ldap_attributes`: who_ldap's (and repoze.who.plugins.ldap's) `LDAPAttributesPlugin`.
pub struct LdapAttributes {
    attrs: Attributes,
    host: Host,
}

impl Plugin for LdapAttributes {
    type Options = Options;
    const SUMMARY: &'static str = "LDAP metadata provider: attributes of the user's entry";
    const DOES_IO: bool = true;

    fn new(o: Options, ctx: &FactoryContext<'_>) -> Result<Self, PluginError> {
        options::check_keys("ldap_attributes", ctx)?;
        let host = ctx.host();
        let log = host_log(&host);
        let filter = Template::parse(options::set(&o.filterstr).unwrap_or("(objectClass=*)"))
            .map_err(|e| PluginError::new(format!("option `filterstr`: {e}")))?;
        options::check_filter("filterstr", &filter.sample())?;
        let attributes = options::set(&o.attributes)
            .map(options::attribute_map)
            .transpose()?
            .filter(|m| !m.is_empty());
        Ok(LdapAttributes {
            attrs: Attributes {
                base_dn: options::set(&o.base_dn).unwrap_or("").to_owned(),
                filter,
                attributes,
                flatten: o.flatten,
                name: options::set(&o.name).map(str::to_owned),
                dir: directory(&o, ctx, true, &log)?,
                log,
            },
            host,
        })
    }
}

// IMetadataProvider
impl MetadataProvider for LdapAttributes {
    fn add_metadata(
        &self,
        _req: &Request<'_>,
        env: &mut Environ,
        identity: &mut Identity,
    ) -> Result<(), PluginError> {
        match self.attrs.lookup(identity) {
            Ok(Some(found)) => match &self.attrs.name {
                Some(name) => {
                    identity.insert(name.clone(), found);
                }
                None => identity.update(&found),
            },
            Ok(None) => {}
            Err(e) => unavailable(env, &e, &self.host),
        }
        Ok(())
    }
}

/// `ldap_groups`: who_ldap's `LDAPGroupsPlugin`, with the list under `groups` by default.
pub struct LdapGroups {
    groups: Groups,
    name: String,
    host: Host,
}

impl Plugin for LdapGroups {
    type Options = Options;
    const SUMMARY: &'static str = "LDAP metadata provider: the user's groups under `groups`";
    const DOES_IO: bool = true;

    fn new(o: Options, ctx: &FactoryContext<'_>) -> Result<Self, PluginError> {
        options::check_keys("ldap_groups", ctx)?;
        let host = ctx.host();
        let log = host_log(&host);
        let memberof = options::set(&o.memberof_attribute).map(str::to_owned);
        if let Some(m) = &memberof {
            options::attribute_name("memberof_attribute", m)?;
        }
        let filter = options::set(&o.filterstr)
            .unwrap_or(GROUPS_FILTER)
            .to_owned();
        if memberof.is_some() && options::set(&o.filterstr).is_some() {
            return Err(PluginError::new(
                "option `memberof_attribute`: give either it or `filterstr`",
            ));
        }
        options::check_filter(
            "filterstr",
            &metadata::render_groups_filter(&filter, "cn=x"),
        )?;
        let mut returned_id = options::set(&o.returned_id).unwrap_or("cn").to_owned();
        if returned_id.eq_ignore_ascii_case("dn") {
            returned_id = "dn".to_owned();
        }
        options::attribute_name("returned_id", &returned_id)?;
        let base_dn = match &memberof {
            Some(_) => options::set(&o.base_dn).unwrap_or("").to_owned(),
            None => o.base_dn()?,
        };
        Ok(LdapGroups {
            groups: Groups {
                base_dn,
                scope: o.search_scope()?,
                filter,
                returned_id,
                memberof,
                dir: directory(&o, ctx, true, &log)?,
                log,
            },
            name: options::set(&o.name).unwrap_or("groups").to_owned(),
            host,
        })
    }
}

// IMetadataProvider
impl MetadataProvider for LdapGroups {
    fn add_metadata(
        &self,
        _req: &Request<'_>,
        env: &mut Environ,
        identity: &mut Identity,
    ) -> Result<(), PluginError> {
        match self.groups.lookup(identity) {
            Ok(Some(names)) => {
                identity.insert(self.name.clone(), names);
            }
            Ok(None) => {}
            Err(e) => unavailable(env, &e, &self.host),
        }
        Ok(())
    }
}

rewho_plugin_api::export_plugin! {
    "ldap" => Ldap: [authenticator],
    "ldap_search" => LdapSearch: [authenticator],
    "ldap_attributes" => LdapAttributes: [mdprovider],
    "ldap_groups" => LdapGroups: [mdprovider],
}
