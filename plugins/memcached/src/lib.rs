//! `memcached`: caches the results of another authenticator and/or metadata provider in
//! memcached, to take load off a slow backend (LDAP, a database, bcrypt-hashed files).
//!
//! ```ini
//! [plugin:htpasswd]
//! use = htpasswd
//! filename = %(here)s/passwd
//!
//! [plugin:cached]
//! use = memcached
//! memcached_urls = 127.0.0.1:11211 127.0.0.1:11212
//! authenticator_name = htpasswd
//! secret = a long random string shared by every host using this cache
//!
//! [authenticators]
//! plugins = cached
//! ```
//!
//! The wrapped plugin is found by name and need not sit in any chain.
//!
//! # Keys
//! A cache key is `hex(HMAC(secret, method "\0" v₁ "\0" v₂ "\0" …))` over the values of the
//! key items (`key_items`, or every key of the identity in sorted order), so a leaked cache
//! does not reveal credentials. `method` is `authenticate` or `add_metadata`, which keeps
//! the two kinds of entries apart. `hash = sha1` gives the keys of repoze.who.plugins.memcached
//! byte for byte, so Python and rewho hosts can share one cache.
//!
//! With `key_items` set, an identity that lacks one of them bypasses the cache (the Python
//! plugin would hash the missing item as `""`, which makes every such identity share one
//! entry). An authenticator cache must include the credential in its key items: with
//! `key_items = login` alone, a cached login is accepted without its password.
//!
//! # Values
//! The value is a JSON object: the user id (always, for `authenticate`) and the value items
//! (`value_items`, or every key the wrapped plugin added). Anything else found under a key
//! (a foreign or corrupt value) is a miss, and is overwritten or deleted.
//! Failures are cached only when `negative_ttl` is set, and never when the wrapped plugin
//! marked its backend unavailable (environ key `rewho.backend_unavailable`, set by the `ldap`
//! plugins during a directory outage): an outage is not a wrong password.
//!
//! # Security
//! Keys reveal nothing, but values are plain JSON: whoever can write to the memcached servers
//! can plant an identity under a key they saw, as with the Python plugin. Keep memcached on a
//! private network or a unix socket.
//!
//! # Outages
//! Every connect, read and write is bounded by `timeout_ms` (100 ms); a server that fails is
//! skipped for `retry_ms` (1 s) and then redialled by one request. While it is down,
//! requests go straight to the wrapped plugin. The outage and the recovery are logged once.
//!
//! Each call leaves its outcome in the environ under `rewho.memcached.<id>.authenticate` or
//! `….add_metadata`: `hit`, `negative-hit`, `miss`, `bypass` or `unavailable`.
#![warn(missing_docs, unreachable_pub)]
#![deny(unsafe_code)]

mod key;

use std::collections::HashSet;
use std::time::Duration;

use rewho_cache_client::{Client, ClientConfig, Level, Log, PoolConfig, Unavailable};
use rewho_plugin_api::{
    Authenticator, Environ, FactoryContext, Host, Identity, Map, MetadataProvider, Plugin,
    PluginError, PluginHandle, Request, Value, USERID_KEY,
};
use serde::Deserialize;

pub use key::{python_str, HashAlgo, Keyer};

/// The largest TTL memcached reads as a duration (larger numbers are dates).
const MAX_TTL: u32 = 30 * 24 * 3600;
/// Environ key a wrapped plugin sets when its backend could not answer (the `ldap` plugins
/// do): its `None` then means "unknown", and is not cached as a failure.
pub const UNAVAILABLE_KEY: &str = "rewho.backend_unavailable";
/// Marks a cached failure (with a null user id, which the Python plugin also reads as one).
const NEGATIVE_KEY: &str = "rewho.negative";

/// Options of the `memcached` plugin (`[plugin:ID]` keys).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// memcached servers, whitespace separated: `host:port`, `memcache://host:port`, or a
    /// unix socket path. Keys are spread over them by hash; list them in the same order on
    /// every host.
    memcached_urls: Vec<String>,
    /// The authenticator to wrap.
    authenticator_name: Option<String>,
    /// The metadata provider to wrap.
    mdprovider_name: Option<String>,
    /// Identity keys hashed into the key (default: all keys, sorted).
    key_items: Option<Vec<String>>,
    /// Key items for `add_metadata` only (default: `key_items`). Typically
    /// `repoze.who.userid`.
    metadata_key_items: Option<Vec<String>>,
    /// Identity keys stored in the value (default: the keys the wrapped plugin added).
    value_items: Option<Vec<String>>,
    /// The HMAC key; the same on every host sharing the cache.
    secret: Option<String>,
    /// Without `secret`, use a random per-process secret (the cache is then not shared).
    #[serde(default)]
    allow_random_secret: bool,
    /// Seconds a result is kept.
    #[serde(default = "default_ttl")]
    ttl: u32,
    /// Seconds a failed authentication is kept (`0`, the default: not cached).
    #[serde(default)]
    negative_ttl: u32,
    /// `sha256` (default) or `sha1` (the Python plugin's keys).
    #[serde(default)]
    hash: HashAlgo,
    /// Bound on connecting to a server and on each read and write, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
    /// How long a failed server is skipped before it is tried again, in milliseconds.
    #[serde(default = "default_retry_ms")]
    retry_ms: u64,
}

fn default_ttl() -> u32 {
    60
}
fn default_timeout_ms() -> u64 {
    100
}
fn default_retry_ms() -> u64 {
    1000
}

/// The `memcached` plugin: an authenticator and metadata provider wrapping other plugins.
pub struct Memcached {
    authenticator: Option<PluginHandle>,
    mdprovider: Option<PluginHandle>,
    key_items: Option<Vec<String>>,
    metadata_key_items: Option<Vec<String>>,
    value_items: Option<Vec<String>>,
    keyer: Keyer,
    ttl: u32,
    negative_ttl: u32,
    client: Client,
    host: Host,
    auth_outcome_key: String,
    md_outcome_key: String,
}

/// What the cache said about one key.
enum Lookup {
    Hit(Map),
    Negative,
    Miss,
    /// A value that is not ours: treat as a miss and overwrite or delete it.
    Foreign,
    Unavailable,
}

fn wrapped(
    host: &Host,
    option: &str,
    name: &Option<String>,
    plays: fn(&PluginHandle) -> bool,
    role: &str,
) -> Result<Option<PluginHandle>, PluginError> {
    let Some(name) = name else { return Ok(None) };
    let handle = host.plugin(name).ok_or_else(|| {
        PluginError::new(format!(
            "option `{option}`: no plugin `{name}` (add a [plugin:{name}] section)"
        ))
    })?;
    if !plays(&handle) {
        return Err(PluginError::new(format!(
            "option `{option}`: plugin `{name}` is not {role} (it is: {})",
            handle.role_names().join(", ")
        )));
    }
    Ok(Some(handle))
}

fn nonempty(option: &str, items: &Option<Vec<String>>) -> Result<(), PluginError> {
    match items {
        Some(v) if v.is_empty() => Err(PluginError::new(format!(
            "option `{option}`: give at least one identity key (leave the option out for all keys)"
        ))),
        _ => Ok(()),
    }
}

impl Plugin for Memcached {
    type Options = Options;
    const SUMMARY: &'static str =
        "caches another authenticator's / metadata provider's results in memcached";
    const DOES_IO: bool = true;

    fn new(o: Options, ctx: &FactoryContext<'_>) -> Result<Self, PluginError> {
        let host = ctx.host();
        if o.authenticator_name.is_none() && o.mdprovider_name.is_none() {
            return Err(PluginError::new(
                "give `authenticator_name` and/or `mdprovider_name` (the plugins whose results \
                 to cache)",
            ));
        }
        let authenticator = wrapped(
            &host,
            "authenticator_name",
            &o.authenticator_name,
            PluginHandle::is_authenticator,
            "an authenticator",
        )?;
        let mdprovider = wrapped(
            &host,
            "mdprovider_name",
            &o.mdprovider_name,
            PluginHandle::is_mdprovider,
            "a metadata provider",
        )?;
        if o.memcached_urls.is_empty() {
            return Err(PluginError::new(
                "option `memcached_urls`: give at least one server",
            ));
        }
        nonempty("key_items", &o.key_items)?;
        nonempty("metadata_key_items", &o.metadata_key_items)?;
        for (option, ttl) in [("ttl", o.ttl), ("negative_ttl", o.negative_ttl)] {
            if ttl > MAX_TTL {
                return Err(PluginError::new(format!(
                    "option `{option}`: at most {MAX_TTL} seconds (30 days)"
                )));
            }
        }
        if o.ttl == 0 {
            return Err(PluginError::new("option `ttl`: must be at least 1 second"));
        }
        if o.timeout_ms == 0 {
            return Err(PluginError::new("option `timeout_ms`: must be at least 1"));
        }
        let secret: Vec<u8> = match (o.secret, o.allow_random_secret) {
            (Some(s), _) if s.is_empty() => {
                return Err(PluginError::new("option `secret`: must not be empty"))
            }
            (Some(s), _) => s.into_bytes(),
            (None, true) => {
                host.warn(
                    "no `secret`: using a random per-process secret, so this cache is not \
                     shared with other hosts or processes",
                );
                let mut s = vec![0u8; 32];
                rand::Rng::fill(&mut rand::rngs::OsRng, &mut s[..]);
                s
            }
            (None, false) => {
                return Err(PluginError::new(
                    "option `secret`: required, and the same on every host sharing the cache \
                     (or set `allow_random_secret = true` for a cache private to this process)",
                ))
            }
        };
        if authenticator.is_some() {
            if let Some(items) = &o.key_items {
                if !items.iter().any(|i| i == "password") {
                    host.warn(
                        "`key_items` does not include `password`: a cached identity is accepted \
                         on its key items alone; make sure they include the credential",
                    );
                }
            }
        }
        let log_host = host.clone();
        let log: Log = std::sync::Arc::new(move |level, msg: &str| match level {
            Level::Warn => log_host.warn(msg),
            Level::Info => log_host.info(msg),
        });
        let config = ClientConfig {
            timeout: Duration::from_millis(o.timeout_ms),
            pool: PoolConfig {
                retry: Duration::from_millis(o.retry_ms),
                ..PoolConfig::default()
            },
        };
        let client = Client::new(&o.memcached_urls, &config, log)
            .map_err(|e| PluginError::new(format!("option `memcached_urls`: {e}")))?;
        let id = ctx.plugin_id();
        Ok(Memcached {
            authenticator,
            mdprovider,
            metadata_key_items: o.metadata_key_items.or_else(|| o.key_items.clone()),
            key_items: o.key_items,
            value_items: o.value_items,
            keyer: Keyer::new(o.hash, &secret),
            ttl: o.ttl,
            negative_ttl: o.negative_ttl,
            client,
            host,
            auth_outcome_key: format!("rewho.memcached.{id}.authenticate"),
            md_outcome_key: format!("rewho.memcached.{id}.add_metadata"),
        })
    }
}

impl Memcached {
    /// The key of `identity` for `method`, or `None` when a configured key item is missing.
    fn key(
        &self,
        method: &str,
        items: &Option<Vec<String>>,
        identity: &Identity,
    ) -> Option<String> {
        match items {
            Some(items) => {
                if items.iter().any(|i| !identity.contains_key(i)) {
                    return None;
                }
                Some(
                    self.keyer
                        .key(method, identity, items.iter().map(String::as_str)),
                )
            }
            None => {
                let mut all: Vec<&str> = identity.keys().collect();
                all.sort_unstable();
                Some(self.keyer.key(method, identity, all))
            }
        }
    }

    fn lookup(&self, key: &str, authenticate: bool) -> Lookup {
        let bytes = match self.client.get(key) {
            Ok(Some(b)) => b,
            Ok(None) => return Lookup::Miss,
            Err(_) => return Lookup::Unavailable,
        };
        let Ok(map) = serde_json::from_slice::<Map>(&bytes) else {
            return Lookup::Foreign;
        };
        if !authenticate {
            return Lookup::Hit(map);
        }
        match map.userid() {
            Some(v) if !v.is_null() => Lookup::Hit(map),
            _ if self.negative_ttl > 0 && map.get(NEGATIVE_KEY) == Some(&Value::Bool(true)) => {
                Lookup::Negative
            }
            _ => Lookup::Foreign,
        }
    }

    fn store(&self, key: &str, value: &Map, ttl: u32) {
        match serde_json::to_vec(value) {
            Ok(bytes) => {
                if let Err(Unavailable::Refused(why)) = self.client.set(key, &bytes, ttl) {
                    self.host
                        .debug(&format!("memcached refused a value: {why}"));
                }
            }
            Err(e) => self.host.debug(&format!("value not stored: {e}")),
        }
    }

    /// The value items to store: the configured ones, or the keys added since `before`.
    fn collect(&self, identity: &Identity, before: &Option<HashSet<String>>, into: &mut Map) {
        match (&self.value_items, before) {
            (Some(items), _) => {
                for name in items {
                    if let Some(v) = identity.get(name) {
                        into.insert(name, v.clone());
                    }
                }
            }
            (None, Some(before)) => {
                for (k, v) in identity.iter() {
                    if !before.contains(k) {
                        into.insert(k.to_owned(), v.clone());
                    }
                }
            }
            (None, None) => {}
        }
    }

    fn keys_before(&self, identity: &Identity) -> Option<HashSet<String>> {
        self.value_items
            .is_none()
            .then(|| identity.keys().map(str::to_owned).collect())
    }
}

// IAuthenticator
impl Authenticator for Memcached {
    fn authenticate(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
        identity: &mut Identity,
    ) -> Result<Option<Value>, PluginError> {
        let Some(inner) = &self.authenticator else {
            return Ok(None);
        };
        let Some(key) = self.key("authenticate", &self.key_items, identity) else {
            env.set(&self.auth_outcome_key, "bypass");
            return inner.authenticate(req, env, identity);
        };
        let looked = self.lookup(&key, true);
        let outcome = match &looked {
            Lookup::Hit(cached) => {
                env.set(&self.auth_outcome_key, "hit");
                let userid = cached.userid().cloned();
                identity.update(cached);
                return Ok(userid);
            }
            Lookup::Negative => {
                env.set(&self.auth_outcome_key, "negative-hit");
                return Ok(None);
            }
            Lookup::Unavailable => "unavailable",
            Lookup::Miss | Lookup::Foreign => "miss",
        };
        env.set(&self.auth_outcome_key, outcome);
        let before = self.keys_before(identity);
        // Whether *this* call of the wrapped plugin found its backend unavailable.
        let marked_before = env.remove(UNAVAILABLE_KEY);
        let result = inner.authenticate(req, env, identity);
        let backend_down = env.get(UNAVAILABLE_KEY).is_some();
        if let (Some(v), false) = (marked_before, backend_down) {
            env.set(UNAVAILABLE_KEY, v);
        }
        let result = result?;
        if matches!(looked, Lookup::Unavailable) {
            return Ok(result);
        }
        match &result {
            Some(userid) => {
                let mut value = Map::new();
                value.insert(USERID_KEY, userid.clone());
                self.collect(identity, &before, &mut value);
                value.insert(USERID_KEY, userid.clone());
                self.store(&key, &value, self.ttl);
            }
            // An unreachable backend's `None` is "unknown", not "wrong": never cached.
            None if self.negative_ttl > 0 && !backend_down => {
                let value: Map = [(USERID_KEY, Value::Null), (NEGATIVE_KEY, Value::Bool(true))]
                    .into_iter()
                    .collect();
                self.store(&key, &value, self.negative_ttl);
            }
            None => {
                if matches!(looked, Lookup::Foreign) {
                    let _ = self.client.delete(&key);
                }
            }
        }
        Ok(result)
    }
}

// IMetadataProvider
impl MetadataProvider for Memcached {
    fn add_metadata(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
        identity: &mut Identity,
    ) -> Result<(), PluginError> {
        let Some(inner) = &self.mdprovider else {
            return Ok(());
        };
        let Some(key) = self.key("add_metadata", &self.metadata_key_items, identity) else {
            env.set(&self.md_outcome_key, "bypass");
            return inner.add_metadata(req, env, identity);
        };
        let looked = self.lookup(&key, false);
        let outcome = match &looked {
            Lookup::Hit(cached) => {
                env.set(&self.md_outcome_key, "hit");
                identity.update(cached);
                return Ok(());
            }
            Lookup::Unavailable => "unavailable",
            _ => "miss",
        };
        env.set(&self.md_outcome_key, outcome);
        let before = self.keys_before(identity);
        inner.add_metadata(req, env, identity)?;
        if !matches!(looked, Lookup::Unavailable) {
            let mut value = Map::new();
            self.collect(identity, &before, &mut value);
            self.store(&key, &value, self.ttl);
        }
        Ok(())
    }
}

rewho_plugin_api::export_plugin! {
    "memcached" => Memcached: [authenticator, mdprovider],
}
