//! `metadata_cache`: captures one-off metadata that arrives with a login and replays it on the
//! user's later requests (repoze.who.plugins.metadata_cache).
//!
//! Single sign-on hands over user attributes once: CAS releases them at ticket validation, a
//! Shibboleth-style front end puts them in headers of the requests it protects. When the
//! winning identity holds `identity[name]`, this plugin stores it for the user id; when a later
//! identity of the same user lacks it (an `auth_tkt` cookie, say), the stored value is put
//! back. Users with nothing stored get an empty map.
//!
//! ```ini
//! [plugin:attributes]
//! use = metadata_cache
//! name = attributes
//! # memory (default) | memcached | redis
//! backend = redis
//! redis_url = redis://127.0.0.1:6379/0
//!
//! [identifiers]
//! # optional: listed here, logout drops the user's entry
//! plugins = auth_tkt attributes
//!
//! [mdproviders]
//! plugins = attributes
//! ```
//!
//! # Backends
//! - `memory` (default): this process only; `max_entries` (10000, least recently used
//!   evicted first) and `ttl` by the host clock.
//! - `memcached`: `memcached_urls`, as the `memcached` plugin takes them.
//! - `redis`: `redis_url` (`redis://[:password@]host:port/db`, `redis+unix:///path`).
//!
//! The network backends share entries between hosts; keys are
//! `<key_prefix><name>:<sha256 of the user id's JSON>`. They use the same bounded timeouts
//! and once-per-outage logging as `memcached`: during an outage, nothing is replayed (users
//! get an empty map) and captures are dropped.
//!
//! # Logout
//! An identifier's `forget` is the only call a logout makes, so the plugin is also an
//! identifier that never identifies anyone: list it in `[identifiers]` and its `forget` drops
//! the entry of the user being logged out (the identity's user id, else the user id this
//! plugin saw earlier in the request, else `REMOTE_USER`).
//!
//! # Security
//! Whatever can write to the backend can hand users attributes; and the identity's `name`
//! must only ever be set by trusted plugins (see the `header` plugin's `trusted_proxies`).
#![warn(missing_docs, unreachable_pub)]
#![deny(unsafe_code)]

mod store;

use std::time::Duration;

use rewho_cache_client::{ClientConfig, Level, Log, PoolConfig};
use rewho_plugin_api::{
    Environ, FactoryContext, HeaderField, Identifier, Identity, Map, MetadataProvider, Plugin,
    PluginError, Request, Value,
};
use serde::Deserialize;

use store::Store;

/// Which store holds the entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// This process's memory.
    #[default]
    Memory,
    /// memcached servers.
    Memcached,
    /// A Redis server.
    Redis,
}

/// Options of the `metadata_cache` plugin (`[plugin:ID]` keys).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The identity key captured and replayed.
    #[serde(default = "default_name")]
    name: String,
    /// `memory`, `memcached` or `redis`.
    #[serde(default)]
    backend: Backend,
    /// Entries kept in memory (memory backend).
    max_entries: Option<usize>,
    /// Seconds an entry is kept after its last capture (`0`: no expiry).
    #[serde(default = "default_ttl")]
    ttl: u64,
    /// memcached servers (memcached backend).
    memcached_urls: Option<Vec<String>>,
    /// The Redis URL (redis backend).
    redis_url: Option<String>,
    /// Prefix of network keys.
    #[serde(default = "default_prefix")]
    key_prefix: String,
    /// Bound on connecting and on each read and write, in milliseconds (network backends).
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
    /// How long a failed server is skipped, in milliseconds (network backends).
    #[serde(default = "default_retry_ms")]
    retry_ms: u64,
    /// The environ key holding the user id, the last resort of `forget`.
    #[serde(default = "default_remote_user_key")]
    remote_user_key: String,
}

fn default_name() -> String {
    "attributes".into()
}
fn default_ttl() -> u64 {
    86_400
}
fn default_prefix() -> String {
    "rewho:metadata_cache:".into()
}
fn default_timeout_ms() -> u64 {
    100
}
fn default_retry_ms() -> u64 {
    1000
}
fn default_remote_user_key() -> String {
    "REMOTE_USER".into()
}

const DEFAULT_MAX_ENTRIES: usize = 10_000;
const MAX_MEMCACHED_TTL: u64 = 30 * 24 * 3600;

/// The `metadata_cache` plugin: a metadata provider, and an identifier only for logout.
pub struct MetadataCache {
    name: String,
    store: Box<dyn Store>,
    /// Where `add_metadata` leaves the user id for a later `forget` in the same request.
    seen_key: String,
    remote_user_key: String,
}

fn only_for(option: &str, backend: &str, given: bool) -> Result<(), PluginError> {
    if given {
        Err(PluginError::new(format!(
            "option `{option}`: only used with `backend = {backend}`"
        )))
    } else {
        Ok(())
    }
}

impl Plugin for MetadataCache {
    type Options = Options;
    const SUMMARY: &'static str =
        "captures login metadata (SSO attributes) and replays it on later requests";
    const DOES_IO: bool = true;

    fn new(o: Options, ctx: &FactoryContext<'_>) -> Result<Self, PluginError> {
        let host = ctx.host();
        if o.name.is_empty() {
            return Err(PluginError::new("option `name`: must not be empty"));
        }
        if o.key_prefix
            .contains(|c: char| c.is_whitespace() || c.is_control())
            || o.key_prefix.len() > 100
        {
            return Err(PluginError::new(
                "option `key_prefix`: at most 100 characters, no spaces",
            ));
        }
        if o.timeout_ms == 0 {
            return Err(PluginError::new("option `timeout_ms`: must be at least 1"));
        }
        let log_host = host.clone();
        let log: Log = std::sync::Arc::new(move |level, msg: &str| match level {
            Level::Warn => log_host.warn(msg),
            Level::Info => log_host.info(msg),
        });
        let timeout = Duration::from_millis(o.timeout_ms);
        let pool = PoolConfig {
            retry: Duration::from_millis(o.retry_ms),
            ..PoolConfig::default()
        };
        let store: Box<dyn Store> = match o.backend {
            Backend::Memory => {
                only_for("memcached_urls", "memcached", o.memcached_urls.is_some())?;
                only_for("redis_url", "redis", o.redis_url.is_some())?;
                let max = o.max_entries.unwrap_or(DEFAULT_MAX_ENTRIES);
                if max == 0 {
                    return Err(PluginError::new("option `max_entries`: must be at least 1"));
                }
                let clock_host = host.clone();
                Box::new(store::Memory::new(
                    Box::new(move || clock_host.now_secs()),
                    o.ttl,
                    max,
                ))
            }
            Backend::Memcached => {
                only_for("max_entries", "memory", o.max_entries.is_some())?;
                only_for("redis_url", "redis", o.redis_url.is_some())?;
                let urls = o.memcached_urls.unwrap_or_default();
                if urls.is_empty() {
                    return Err(PluginError::new(
                        "option `memcached_urls`: required with `backend = memcached`",
                    ));
                }
                if o.ttl > MAX_MEMCACHED_TTL {
                    return Err(PluginError::new(format!(
                        "option `ttl`: at most {MAX_MEMCACHED_TTL} seconds (30 days) with memcached"
                    )));
                }
                let sample = store::network_key(&o.key_prefix, &o.name, "");
                if !rewho_cache_client::valid_key(&sample) {
                    return Err(PluginError::new(
                        "option `name`: with memcached, `key_prefix` + `name` must be free of \
                         spaces and shorter than 150 characters",
                    ));
                }
                let config = ClientConfig { timeout, pool };
                Box::new(
                    store::Memcached::new(
                        &urls,
                        &config,
                        log,
                        &o.key_prefix,
                        &o.name,
                        o.ttl as u32,
                    )
                    .map_err(|e| PluginError::new(format!("option `memcached_urls`: {e}")))?,
                )
            }
            Backend::Redis => {
                only_for("max_entries", "memory", o.max_entries.is_some())?;
                only_for("memcached_urls", "memcached", o.memcached_urls.is_some())?;
                let Some(url) = o.redis_url else {
                    return Err(PluginError::new(
                        "option `redis_url`: required with `backend = redis`",
                    ));
                };
                Box::new(
                    store::Redis::new(&url, timeout, pool, log, &o.key_prefix, &o.name, o.ttl)
                        // The URL may hold a password: never echo it.
                        .map_err(|e| PluginError::new(format!("option `redis_url`: {e}")))?,
                )
            }
        };
        Ok(MetadataCache {
            name: o.name,
            store,
            seen_key: format!("rewho.metadata_cache.{}.userid", ctx.plugin_id()),
            remote_user_key: o.remote_user_key,
        })
    }
}

/// The store key of a user id: its JSON text, so `0` and `"0"` stay apart.
fn user_key(userid: &Value) -> Option<String> {
    serde_json::to_string(userid).ok()
}

// IMetadataProvider
impl MetadataProvider for MetadataCache {
    fn add_metadata(
        &self,
        _req: &Request<'_>,
        env: &mut Environ,
        identity: &mut Identity,
    ) -> Result<(), PluginError> {
        let Some(userid) = identity.userid() else {
            return Ok(());
        };
        let Some(key) = user_key(userid) else {
            return Ok(());
        };
        env.set(&self.seen_key, userid.clone());
        match identity.get(&self.name) {
            Some(value) if !value.is_null() => self.store.put(&key, value),
            _ => {
                let value = self
                    .store
                    .get(&key)
                    .unwrap_or_else(|| Value::Map(Map::new()));
                identity.insert(&self.name, value);
            }
        }
        Ok(())
    }
}

// IIdentifier (forget only: logout drops the entry)
impl Identifier for MetadataCache {
    fn identify(
        &self,
        _req: &Request<'_>,
        _env: &mut Environ,
    ) -> Result<Option<Identity>, PluginError> {
        Ok(None)
    }

    fn forget(
        &self,
        _req: &Request<'_>,
        env: &mut Environ,
        identity: &Identity,
    ) -> Result<Vec<HeaderField>, PluginError> {
        let userid = identity
            .userid()
            .or_else(|| env.get(&self.seen_key))
            .or_else(|| env.get(&self.remote_user_key));
        if let Some(key) = userid.and_then(user_key) {
            self.store.remove(&key);
        }
        Ok(Vec::new())
    }
}

rewho_plugin_api::export_plugin! {
    "metadata_cache" => MetadataCache: [mdprovider, identifier],
}
