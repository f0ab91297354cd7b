//! The `{{name}}` rewho plugin: a starting point made by `rewho plugin new`. It identifies a
//! user from a header and accepts the logins listed in its options; replace both with your
//! own logic. docs/PLUGINS.md in rewho's repository explains every role and rule.
//!
//! ```ini
//! [plugin:{{name}}]
//! use = {{name}}
//! header = X-User
//! logins = alice bob
//!
//! [identifiers]
//! plugins = {{name}}
//! [authenticators]
//! plugins = {{name}}
//! ```

use rewho_plugin_api::{
    Authenticator, Environ, FactoryContext, Identifier, Identity, Plugin, PluginError, Request,
    Value,
};
use serde::Deserialize;

/// The section's options: a misspelt one is an error naming the section and the key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The header carrying the login.
    header: String,
    /// The logins to accept, whitespace separated.
    logins: Vec<String>,
}

/// The plugin, built once per `[plugin:ID]` section and shared by every request.
pub struct {{type}} {
    header: String,
    logins: Vec<String>,
}

impl Plugin for {{type}} {
    type Options = Options;
    const SUMMARY: &'static str = "{{name}}: logins from a header (edit me)";

    fn new(o: Options, _ctx: &FactoryContext<'_>) -> Result<Self, PluginError> {
        Ok({{type}} {
            header: o.header,
            logins: o.logins,
        })
    }
}

// IIdentifier
impl Identifier for {{type}} {
    fn identify(
        &self,
        req: &Request<'_>,
        _env: &mut Environ<'_>,
    ) -> Result<Option<Identity>, PluginError> {
        Ok(req.header(&self.header).map(|login| {
            let mut identity = Identity::new();
            identity.insert("login", login.to_owned());
            identity
        }))
    }
}

// IAuthenticator
impl Authenticator for {{type}} {
    fn authenticate(
        &self,
        _req: &Request<'_>,
        _env: &mut Environ<'_>,
        identity: &mut Identity,
    ) -> Result<Option<Value>, PluginError> {
        let Some(login) = identity.get_str("login") else {
            return Ok(None);
        };
        Ok(self
            .logins
            .iter()
            .any(|l| l == login)
            .then(|| Value::from(login.to_owned())))
    }
}

rewho_plugin_api::export_plugin! {
    "{{name}}" => {{type}}: [identifier, authenticator],
}
