//! `regulation`: failed-login throttling around another authenticator (htpasswd, creds, LDAP,
//! any). Failures are counted per login and per client address; `max_retries` failures of
//! either within `find_time` seconds ban it for `ban_time` seconds (the option names are
//! Authelia's).
//!
//! ```ini
//! [plugin:htpasswd]
//! use = htpasswd
//! filename = %(here)s/passwd
//!
//! [plugin:throttled]
//! use = regulation
//! authenticator_name = htpasswd
//! max_retries = 5
//! find_time = 120
//! ban_time = 300
//! # backend = memory (default) | memcached | redis
//! # memcached_urls = 127.0.0.1:11211
//! # redis_url = redis://127.0.0.1:6379/0
//!
//! [authenticators]
//! plugins = throttled
//! ```
//!
//! # What a ban looks like
//! Exactly like a wrong password: the wrapped authenticator's answer is not asked for, the
//! call returns "not authenticated", and it takes about as long as a failed check of the
//! wrapped plugin (the plugin sleeps for the running average of its failures, so a ban costs
//! no hashing and a client cannot tell a ban from a wrong password by timing). The right
//! password is refused while banned. Bans apply to logins that exist and logins that do not
//! alike, so they tell nothing about which accounts exist. Each ban is logged once, when it
//! starts (login and address, never the password).
//!
//! # Shared bans
//! With `backend = memcached` or `redis`, every host using the same servers and `key_prefix`
//! counts together and shares bans. Keys hold a SHA-256 of the login or address, not the
//! value itself.
//!
//! # Outages
//! When the backend cannot answer, the plugin fails *open* for throttling: the password is
//! still verified by the wrapped authenticator, but failures are not counted and bans not
//! checked until the backend answers again. The outage is logged once, and the recovery.
//! (Failing closed would let anyone who can break the cache lock every user out.)
//!
//! Identities without the login key (`login_key`, default `login`) — a ticket, a session — are
//! passed to the wrapped plugin untouched and not counted. The client address is the
//! request's client address as the host derived it (trusted proxies only).
#![warn(missing_docs, unreachable_pub)]
#![deny(unsafe_code)]

pub mod regulator;
pub mod store;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use rewho_plugin_api::{
    Authenticator, Environ, FactoryContext, Host, Identity, Plugin, PluginError, PluginHandle,
    Request, Value,
};
use serde::Deserialize;

use regulator::Regulator;

/// The longest a banned attempt is made to wait (the running average of failures, capped).
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// Where counts and bans are kept.
#[derive(Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// This process only (the default).
    #[default]
    Memory,
    /// memcached servers (`memcached_urls`), shared by every host using them.
    Memcached,
    /// A Redis server (`redis_url`), shared by every host using it.
    Redis,
}

/// Options of the `regulation` plugin (`[plugin:ID]` keys).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The authenticator to wrap.
    authenticator_name: String,
    /// Failures (per login, per address) that ban. Default 3.
    #[serde(default = "default_max_retries")]
    max_retries: u64,
    /// Seconds within which `max_retries` failures ban. Default 120.
    #[serde(default = "default_find_time")]
    find_time: u32,
    /// Seconds a ban lasts. Default 300.
    #[serde(default = "default_ban_time")]
    ban_time: u32,
    /// `memory` (default), `memcached` or `redis`.
    #[serde(default)]
    backend: Backend,
    /// memcached servers for `backend = memcached`, whitespace separated.
    memcached_urls: Option<Vec<String>>,
    /// `redis://[user:password@]host[:port][/db]` for `backend = redis`.
    redis_url: Option<String>,
    /// Prefix of every key in the backend. Default `rewho:regulation:`.
    #[serde(default = "default_prefix")]
    key_prefix: String,
    /// The identity key holding the login. Default `login`.
    #[serde(default = "default_login_key")]
    login_key: String,
    /// Bound on each backend call, in milliseconds. Default 100.
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
    /// How long an unreachable backend is left alone before it is tried again, in
    /// milliseconds. Default 1000.
    #[serde(default = "default_retry_ms")]
    retry_ms: u64,
}

fn default_max_retries() -> u64 {
    3
}
fn default_find_time() -> u32 {
    120
}
fn default_ban_time() -> u32 {
    300
}
fn default_prefix() -> String {
    "rewho:regulation:".into()
}
fn default_login_key() -> String {
    "login".into()
}
fn default_timeout_ms() -> u64 {
    100
}
fn default_retry_ms() -> u64 {
    1000
}

/// The `regulation` plugin: an authenticator wrapping another one.
pub struct Regulation {
    inner: PluginHandle,
    regulator: Regulator,
    login_key: String,
    host: Host,
    /// Environ key telling later plugins and tests what happened (`banned`, `failed`, …).
    outcome_key: String,
    /// Running average of the wrapped plugin's failed calls, in nanoseconds.
    failure_nanos: AtomicU64,
}

/// Checks a time option: at least 1 s, and within memcached's relative-expiry range.
fn seconds(option: &str, value: u32) -> Result<u32, PluginError> {
    const MAX: u32 = 30 * 24 * 3600;
    if value == 0 || value > MAX {
        return Err(PluginError::new(format!(
            "option `{option}`: give 1 to {MAX} seconds (got {value})"
        )));
    }
    Ok(value)
}

impl Plugin for Regulation {
    type Options = Options;
    const SUMMARY: &'static str =
        "bans a login or client address after repeated failed logins (wraps an authenticator)";
    const DOES_IO: bool = true;

    fn new(o: Options, ctx: &FactoryContext<'_>) -> Result<Self, PluginError> {
        let host = ctx.host();
        let name = &o.authenticator_name;
        let inner = host.plugin(name).ok_or_else(|| {
            PluginError::new(format!(
                "option `authenticator_name`: no plugin `{name}` (add a [plugin:{name}] section)"
            ))
        })?;
        if !inner.is_authenticator() {
            return Err(PluginError::new(format!(
                "option `authenticator_name`: plugin `{name}` is not an authenticator (it is: {})",
                inner.role_names().join(", ")
            )));
        }
        if o.max_retries == 0 {
            return Err(PluginError::new("option `max_retries`: must be at least 1"));
        }
        let (find_time, ban_time) = (
            seconds("find_time", o.find_time)?,
            seconds("ban_time", o.ban_time)?,
        );
        if o.timeout_ms == 0 {
            return Err(PluginError::new("option `timeout_ms`: must be at least 1"));
        }
        let timeout = Duration::from_millis(o.timeout_ms);
        let retry = Duration::from_millis(o.retry_ms);
        let store: Box<dyn store::Store> = match o.backend {
            Backend::Memory => {
                for (set, option) in [
                    (o.memcached_urls.is_some(), "memcached_urls"),
                    (o.redis_url.is_some(), "redis_url"),
                ] {
                    if set {
                        return Err(PluginError::new(format!(
                            "option `{option}`: set `backend` to use it (the backend is `memory`)"
                        )));
                    }
                }
                Box::<store::Memory>::default()
            }
            Backend::Memcached => {
                let urls = o.memcached_urls.filter(|u| !u.is_empty()).ok_or_else(|| {
                    PluginError::new("option `memcached_urls`: required with `backend = memcached`")
                })?;
                Box::new(
                    store::Memcached::new(&urls, timeout, retry, &host)
                        .map_err(|e| PluginError::new(format!("option `memcached_urls`: {e}")))?,
                )
            }
            Backend::Redis => {
                let url = o.redis_url.ok_or_else(|| {
                    PluginError::new("option `redis_url`: required with `backend = redis`")
                })?;
                Box::new(
                    store::Redis::new(&url, timeout, retry, &host)
                        .map_err(|e| PluginError::new(format!("option `redis_url`: {e}")))?,
                )
            }
        };
        Ok(Regulation {
            inner,
            regulator: Regulator::new(store, o.key_prefix, o.max_retries, find_time, ban_time),
            login_key: o.login_key,
            host,
            outcome_key: format!("rewho.regulation.{}", ctx.plugin_id()),
            failure_nanos: AtomicU64::new(0),
        })
    }
}

impl Regulation {
    /// Folds one failed call's duration into the running average (weight 1/8).
    fn note_failure(&self, took: Duration) {
        let took = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let old = self.failure_nanos.load(Relaxed);
        let new = if old == 0 {
            took
        } else {
            old - old / 8 + took / 8
        };
        self.failure_nanos.store(new, Relaxed);
    }

    /// Waits as long as a failed check usually takes, without the work.
    fn pause_like_a_failure(&self) {
        let pause = Duration::from_nanos(self.failure_nanos.load(Relaxed)).min(MAX_PAUSE);
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
}

// IAuthenticator
impl Authenticator for Regulation {
    fn authenticate(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
        identity: &mut Identity,
    ) -> Result<Option<Value>, PluginError> {
        let Some(login) = identity.get_str(&self.login_key).map(str::to_owned) else {
            return self.inner.authenticate(req, env, identity);
        };
        // ABI 1.0: `req.client_addr()`.
        let addr = req.client_addr();
        // Unavailable: fail open (logged once by the store).
        if self.regulator.banned(&login, addr) == Ok(true) {
            env.set(&self.outcome_key, "banned");
            self.pause_like_a_failure();
            return Ok(None);
        }
        let start = Instant::now();
        let result = self.inner.authenticate(req, env, identity)?;
        if result.is_some() {
            env.set(&self.outcome_key, "ok");
            let _ = self.regulator.succeeded(&login);
            return Ok(result);
        }
        self.note_failure(start.elapsed());
        env.set(&self.outcome_key, "failed");
        if let Ok(banned) = self.regulator.failed(&login, addr) {
            for subject in banned {
                let (what, value) = match subject {
                    regulator::Subject::Login => ("login", login.as_str()),
                    regulator::Subject::Address => ("address", addr),
                };
                self.host.warn(&format!(
                    "regulation: {what} {value:?} banned for {} s after {} failed logins within \
                     {} s (last from {addr:?} as {login:?})",
                    self.regulator.ban_time, self.regulator.max_retries, self.regulator.find_time
                ));
            }
        }
        Ok(None)
    }
}

rewho_plugin_api::export_plugin! {
    "regulation" => Regulation: [authenticator],
}
