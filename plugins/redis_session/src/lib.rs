//! The `redis_session` identifier: browsers carry a signed session id, backends see a JWT.
//!
//! A port of impact-stack's `auth_wsgi_middleware`. The client sends a session UUID signed by
//! Python's itsdangerous `Signer`, in a cookie or a header. The plugin checks the signature,
//! looks the UUID up in Redis, and when Redis holds a JWT for it, rewrites the downstream
//! request so backends only ever deal with JWTs:
//!
//! - `Authorization: <header_type> <jwt>` (default `Bearer`), and
//! - `X-IST-Session-UUID: <uuid>` (the `uuid_header`).
//!
//! The identity it returns is `{jwt, session_uuid}`. It names no user: put the `jwt` plugin in
//! `[authenticators]` to verify the token and take the user id from it, in the same request.
//!
//! ```ini
//! [plugin:session]
//! use = redis_session
//! secretfile = %(here)s/session.key
//! redis_url = redis://127.0.0.1:6379/0
//!
//! [plugin:jwt]
//! use = jwt
//! secretfile = %(here)s/jwt.key
//!
//! [identifiers]
//! plugins = session jwt
//! [authenticators]
//! plugins = jwt
//! ```
//!
//! # Options
//! | option | default | meaning |
//! | --- | --- | --- |
//! | `secret_key` / `secretfile` | required, one of them | the itsdangerous secret (a file's trailing newline is dropped) |
//! | `signature_algorithm` | `sha256` | `sha1`, `sha224`, `sha256`, `sha384`, `sha512` (hashlib names) |
//! | `salt` | `itsdangerous.Signer` | itsdangerous' salt |
//! | `key_derivation` | `django-concat` | `django-concat`, `concat`, `hmac`, `none` |
//! | `cookie_name` | `session_uuid` | cookie holding the signed id (empty: cookies are not read) |
//! | `header_name` | `X-IST-Session` | request header holding the signed id (empty: not read); also the header passed back from a refresh |
//! | `uuid_header` | `X-IST-Session-UUID` | downstream header carrying the verified UUID |
//! | `redis_url` | required | `redis://[:password@]host[:port][/db]`, `unix:///path` |
//! | `key_prefix` | empty | prepended to the UUID to form the Redis key |
//! | `header_type` | `Bearer` | scheme of the downstream `Authorization` |
//! | `redis_timeout` | `1.0` | seconds for connect, read and write |
//! | `redis_retry_interval` | `1.0` | seconds between reconnection attempts while Redis is down |
//! | `refresh_url` | none | enables token refresh (`http://`; `https://` needs the `https` feature) |
//! | `minimum_token_life_time` | `14400` | refresh when the key's TTL (seconds) is below this |
//! | `refresh_timeout` | `2.0` | seconds for the whole refresh call |
//! | `delete_on_logout` | `false` | `forget` also deletes the session's Redis key |
//! | `cookie_path`, `cookie_domain` | `/`, none | attributes of the expiring cookie `forget` sends |
//!
//! # Headers
//! - An incoming `Authorization` header passes through untouched, and the session is then not
//!   looked at (the original's behaviour since 0.7): API clients with their own token keep it.
//!   The plugin only ever *sets* `Authorization` when it found a JWT, so the edges strip the
//!   client's copy only in that case.
//! - The `uuid_header` is always removed from the downstream request unless this plugin set
//!   it, so a client cannot claim a session id it does not hold.
//!
//! # Failures: fail-closed
//! A bad signature, an unknown or expired session, a non-string Redis value, or Redis being
//! unreachable all give *no identity* and a log line (the signed value and the token are never
//! logged). The request then proceeds as anonymous, so a protected resource is challenged.
//! Redis going down is logged once as an error (and its recovery once), not per request; while
//! it is down, requests fail fast except for one reconnection attempt per
//! `redis_retry_interval`, each bounded by `redis_timeout`.
//!
//! # Refresh
//! With `refresh_url`, a found session whose key has a TTL below `minimum_token_life_time`
//! triggers `POST refresh_url` with the downstream `Authorization`. The response's
//! `Set-Cookie` headers and `header_name` header are kept in the request's environ and returned
//! by `remember`, so they reach the client with the application's response. A failed refresh
//! (network, timeout, non-2xx) is logged and ignored. Keys without expiry are not refreshed.
//!
//! # Logout
//! `forget` expires the session cookie. With `delete_on_logout = true` it also deletes the Redis
//! key of the session the *request* carries (its signature checked; an identity's own values are
//! never trusted for this). repoze.who calls `forget` on logout and when it challenges a
//! client whose identity came from this plugin, so both end the session.

#![warn(missing_docs)]

mod refresh;
/// itsdangerous signatures; public for the fuzz target in `fuzz/`, not a stable API.
#[doc(hidden)]
pub mod signer;
mod store;

use std::time::Duration;

use rewho_plugin_api::{
    Environ, FactoryContext, HeaderField, Host, Identifier, Identity, Map, Plugin, PluginError,
    Request, Value,
};
use serde::Deserialize;

use crate::refresh::Refresher;
use crate::signer::{DigestAlgorithm, KeyDerivation, Signer};
use crate::store::{Lookup, Store};

/// The identity key holding the JWT found in Redis (what the `jwt` authenticator verifies).
pub const JWT_KEY: &str = "jwt";
/// The identity key holding the verified session UUID.
pub const SESSION_KEY: &str = "session_uuid";

/// The `redis_session` identifier. `Debug` is not derived: it holds the signing key.
pub struct RedisSession {
    host: Host,
    signer: Signer,
    cookie_name: String,
    header_name: String,
    uuid_header: String,
    header_type: String,
    store: Store,
    refresher: Option<Refresher>,
    minimum_token_life_time: i64,
    delete_on_logout: bool,
    expired_cookie: String,
    /// Environ key under which refresh headers wait for `remember`.
    env_key: String,
}

/// Options of `[plugin:…] use = redis_session`; see the crate docs for each.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    secret_key: Option<String>,
    secretfile: Option<String>,
    #[serde(default)]
    signature_algorithm: DigestAlgorithm,
    #[serde(default = "default_salt")]
    salt: String,
    #[serde(default)]
    key_derivation: KeyDerivation,
    #[serde(default = "default_cookie_name")]
    cookie_name: String,
    #[serde(default = "default_header_name")]
    header_name: String,
    #[serde(default = "default_uuid_header")]
    uuid_header: String,
    redis_url: String,
    #[serde(default)]
    key_prefix: String,
    #[serde(default = "default_header_type")]
    header_type: String,
    #[serde(default = "default_redis_timeout")]
    redis_timeout: f64,
    #[serde(default = "default_redis_retry_interval")]
    redis_retry_interval: f64,
    refresh_url: Option<String>,
    #[serde(default = "default_minimum_token_life_time")]
    minimum_token_life_time: i64,
    #[serde(default = "default_refresh_timeout")]
    refresh_timeout: f64,
    #[serde(default)]
    delete_on_logout: bool,
    #[serde(default = "default_cookie_path")]
    cookie_path: String,
    cookie_domain: Option<String>,
}

fn default_salt() -> String {
    "itsdangerous.Signer".into()
}
fn default_cookie_name() -> String {
    "session_uuid".into()
}
fn default_header_name() -> String {
    "X-IST-Session".into()
}
fn default_uuid_header() -> String {
    "X-IST-Session-UUID".into()
}
fn default_header_type() -> String {
    "Bearer".into()
}
fn default_redis_timeout() -> f64 {
    1.0
}
fn default_redis_retry_interval() -> f64 {
    1.0
}
fn default_minimum_token_life_time() -> i64 {
    4 * 3600
}
fn default_refresh_timeout() -> f64 {
    2.0
}
fn default_cookie_path() -> String {
    "/".into()
}

/// A positive number of seconds, or an error naming the option.
fn seconds(name: &str, value: f64) -> Result<Duration, PluginError> {
    if value.is_finite() && value > 0.0 && value < 86_400.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(PluginError(format!(
            "option `{name}` must be a positive number of seconds, got {value}"
        )))
    }
}

/// The secret from `secret_key` or `secretfile` (exactly one), never echoed in errors.
fn read_secret(o: &Options, ctx: &FactoryContext<'_>) -> Result<Vec<u8>, PluginError> {
    let secret = match (&o.secret_key, &o.secretfile) {
        (Some(s), None) => s.clone(),
        (None, Some(file)) => {
            let path = ctx.resolve_path(file);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                PluginError(format!(
                    "option `secretfile`: cannot read {}: {e}",
                    path.display()
                ))
            })?;
            text.trim_end_matches(['\r', '\n']).to_owned()
        }
        (Some(_), Some(_)) => {
            return Err("set either `secret_key` or `secretfile`, not both".into());
        }
        (None, None) => return Err("missing option `secret_key` (or `secretfile`)".into()),
    };
    if secret.is_empty() {
        return Err("the session secret is empty".into());
    }
    Ok(secret.into_bytes())
}

impl Plugin for RedisSession {
    type Options = Options;
    const SUMMARY: &'static str =
        "signed session id (itsdangerous) → Redis → downstream Authorization: Bearer <jwt>";
    const DOES_IO: bool = true;

    fn new(o: Options, ctx: &FactoryContext<'_>) -> Result<Self, PluginError> {
        let secret = read_secret(&o, ctx)?;
        let signer = Signer::new(
            &secret,
            o.salt.as_bytes(),
            o.key_derivation,
            o.signature_algorithm,
        );
        if o.cookie_name.is_empty() && o.header_name.is_empty() {
            return Err("`cookie_name` and `header_name` are both empty: nothing to read".into());
        }
        if o.uuid_header.is_empty() || o.header_type.trim().is_empty() {
            return Err("`uuid_header` and `header_type` must not be empty".into());
        }
        let host = ctx.host();
        let store = Store::new(
            &o.redis_url,
            o.key_prefix,
            seconds("redis_timeout", o.redis_timeout)?,
            seconds("redis_retry_interval", o.redis_retry_interval)?,
            host.clone(),
        )?;
        let refresher = match o.refresh_url {
            Some(url) if !url.trim().is_empty() => Some(Refresher::new(
                url.trim().to_owned(),
                seconds("refresh_timeout", o.refresh_timeout)?,
                o.header_name.clone(),
            )?),
            _ => None,
        };
        let mut expired_cookie = format!(
            "{}=; Path={}; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            o.cookie_name, o.cookie_path
        );
        if let Some(domain) = o.cookie_domain.filter(|d| !d.is_empty()) {
            expired_cookie.push_str("; Domain=");
            expired_cookie.push_str(&domain);
        }
        Ok(RedisSession {
            host,
            signer,
            cookie_name: o.cookie_name,
            header_name: o.header_name,
            uuid_header: o.uuid_header,
            header_type: o.header_type.trim().to_owned(),
            store,
            refresher,
            minimum_token_life_time: o.minimum_token_life_time,
            delete_on_logout: o.delete_on_logout,
            expired_cookie,
            env_key: format!("rewho.redis_session.{}.remember", ctx.plugin_id()),
        })
    }

    /// The UUID header carries a verified identity: no client copy ever passes. (The
    /// `Authorization` it sets is not declared: a client's own passes when there is no session.)
    fn downstream_headers(&self) -> Vec<String> {
        vec![self.uuid_header.clone()]
    }
}

impl RedisSession {
    /// The session UUID the request carries with a valid signature: the cookie first, then
    /// the header. Bad signatures are logged (without the value).
    fn session_uuid<'r>(&self, req: &'r Request<'_>) -> Option<&'r str> {
        let cookie = (!self.cookie_name.is_empty())
            .then(|| req.cookie(&self.cookie_name))
            .flatten();
        let header = (!self.header_name.is_empty())
            .then(|| req.header(&self.header_name))
            .flatten();
        for (source, name, signed) in [
            ("cookie", &self.cookie_name, cookie),
            ("header", &self.header_name, header),
        ] {
            let Some(signed) = signed.map(str::trim).filter(|s| !s.is_empty()) else {
                continue;
            };
            match self.signer.unsign(signed) {
                Some(uuid) if store::is_header_safe(uuid) => return Some(uuid),
                _ => self.host.warn(&format!(
                    "session {source} `{name}` has a bad signature; ignoring it"
                )),
            }
        }
        None
    }

    /// Stores refresh headers for `remember`.
    fn stash(&self, env: &mut Environ, headers: Vec<HeaderField>) {
        let list: Vec<Value> = headers
            .into_iter()
            .map(|h| {
                let mut m = Map::new();
                m.insert("name", h.name.as_str());
                m.insert("value", h.value.as_str());
                Value::Map(m)
            })
            .collect();
        env.set(&self.env_key, Value::from(list));
    }

    fn maybe_refresh(&self, env: &mut Environ, authorization: &str, ttl: Option<i64>) {
        let (Some(refresher), Some(ttl)) = (&self.refresher, ttl) else {
            return;
        };
        // -1: the key never expires; -2: it vanished between GET and TTL.
        if ttl < 0 || ttl >= self.minimum_token_life_time {
            return;
        }
        match refresher.refresh(authorization) {
            Ok(headers) => {
                self.host.debug(&format!(
                    "session token refreshed ({} header(s) for the client)",
                    headers.len()
                ));
                self.stash(env, headers);
            }
            Err(message) => self.host.warn(&message),
        }
    }
}

// IIdentifier
impl Identifier for RedisSession {
    fn identify(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
    ) -> Result<Option<Identity>, PluginError> {
        // Whatever happens next, a client-sent UUID header never reaches the backend.
        env.remove_downstream_header(self.uuid_header.as_str());
        if req
            .header("authorization")
            .is_some_and(|a| !a.trim().is_empty())
        {
            self.host
                .debug("request has its own Authorization header; leaving it untouched");
            return Ok(None);
        }
        let Some(uuid) = self.session_uuid(req) else {
            return Ok(None);
        };
        let (jwt, ttl) = match self.store.lookup(uuid, self.refresher.is_some()) {
            Ok(Lookup::Found { jwt, ttl }) => (jwt, ttl),
            Ok(Lookup::Missing) => {
                self.host
                    .info("no session in Redis for a validly signed session id (expired?)");
                return Ok(None);
            }
            // Logged by the store (once per outage): fail closed.
            Err(_) => return Ok(None),
        };
        let authorization = format!("{} {}", self.header_type, jwt);
        self.maybe_refresh(env, &authorization, ttl);
        env.set_downstream_header("Authorization", authorization);
        env.set_downstream_header(self.uuid_header.as_str(), uuid);
        let mut identity = Identity::new();
        identity.insert(JWT_KEY, jwt);
        identity.insert(SESSION_KEY, uuid);
        Ok(Some(identity))
    }

    fn remember(
        &self,
        _req: &Request<'_>,
        env: &mut Environ,
        _identity: &Identity,
    ) -> Result<Vec<HeaderField>, PluginError> {
        let Some(Value::List(list)) = env.remove(&self.env_key) else {
            return Ok(Vec::new());
        };
        Ok(list
            .iter()
            .filter_map(Value::as_map)
            .filter_map(|m| Some(HeaderField::new(m.get_str("name")?, m.get_str("value")?)))
            .collect())
    }

    fn forget(
        &self,
        req: &Request<'_>,
        _env: &mut Environ,
        _identity: &Identity,
    ) -> Result<Vec<HeaderField>, PluginError> {
        if self.delete_on_logout {
            if let Some(uuid) = self.session_uuid(req) {
                if self.store.delete(uuid).is_ok() {
                    self.host.info("session deleted from Redis on logout");
                }
            }
        }
        if self.cookie_name.is_empty() {
            return Ok(Vec::new());
        }
        Ok(vec![HeaderField::new(
            "Set-Cookie",
            self.expired_cookie.as_str(),
        )])
    }
}

rewho_plugin_api::export_plugin! {
    "redis_session" => RedisSession: [identifier],
}
