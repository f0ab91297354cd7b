//! `api_key`: an out-of-tree rewho plugin, written the way a third party would.
//!
//! It reads an API key from a header (identifier) and maps it to a user from a list in its
//! options (authenticator):
//!
//! ```ini
//! [plugin:api_key]
//! use = api_key
//! header = X-Api-Key
//! keys = alice:k-1234 bob:k-5678
//! ```
//!
//! Build with `cargo build --release`, drop `target/release/librewho_plugin_api_key.so` into a
//! folder on the plugin path (`[general] plugin_path`), and list `api_key` in
//! `[identifiers]` and `[authenticators]`.

use rewho_plugin_api::{
    constant_time_eq, Authenticator, Environ, FactoryContext, Identifier, Identity, Plugin,
    PluginError, Request, Value,
};
use serde::Deserialize;

/// The plugin: which header to read, and the known keys.
pub struct ApiKey {
    header: String,
    keys: Vec<(String, String)>,
}

/// Options of `[plugin:…]` sections that `use = api_key`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// Header carrying the key (default `X-Api-Key`).
    #[serde(default = "default_header")]
    header: String,
    /// `user:key` pairs, whitespace separated.
    keys: Vec<String>,
}

fn default_header() -> String {
    "X-Api-Key".to_owned()
}

impl Plugin for ApiKey {
    type Options = Options;
    const SUMMARY: &'static str = "API keys from a header";

    fn new(o: Options, _ctx: &FactoryContext<'_>) -> Result<Self, PluginError> {
        let keys = o
            .keys
            .iter()
            .map(|pair| {
                pair.split_once(':')
                    .map(|(u, k)| (u.to_owned(), k.to_owned()))
                    .ok_or_else(|| {
                        PluginError::new(format!("option `keys`: {pair:?} is not user:key"))
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(ApiKey {
            header: o.header,
            keys,
        })
    }
}

// IIdentifier
impl Identifier for ApiKey {
    fn identify(
        &self,
        req: &Request<'_>,
        _env: &mut Environ,
    ) -> Result<Option<Identity>, PluginError> {
        Ok(req.header(&self.header).map(|key| {
            let mut identity = Identity::new();
            identity.insert("api_key", key);
            identity
        }))
    }
}

// IAuthenticator
impl Authenticator for ApiKey {
    fn authenticate(
        &self,
        _req: &Request<'_>,
        _env: &mut Environ,
        identity: &mut Identity,
    ) -> Result<Option<Value>, PluginError> {
        let Some(given) = identity.get_str("api_key") else {
            return Ok(None);
        };
        // Compare every key in constant time and keep going after a match, so timing says
        // nothing about which key (or how much of one) matched.
        let mut found = None;
        for (user, key) in &self.keys {
            if constant_time_eq(given.as_bytes(), key.as_bytes()) && found.is_none() {
                found = Some(user.clone());
            }
        }
        Ok(found.map(Value::from))
    }
}

rewho_plugin_api::export_plugin! {
    "api_key" => ApiKey: [identifier, authenticator],
}
