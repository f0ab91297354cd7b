//! The Redis session store: a few pooled sync connections with short timeouts, reconnection,
//! and an outage state that is logged once per outage instead of once per request.
//!
//! Redis being unreachable is *fail-closed*: a lookup returns [`Unavailable`], the identifier
//! returns no identity, and requests that depend on a session are challenged like anonymous
//! ones. While Redis is down, at most one attempt per `retry_interval` waits for the connect
//! timeout; the others fail at once, so latency stays bounded.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::{Connection, ErrorKind, RedisError, RedisResult};
use rewho_plugin_api::Host;

/// Idle connections kept for reuse; more may be open during a burst.
const MAX_IDLE: usize = 8;

/// What Redis holds for a session id.
pub enum Lookup {
    /// The stored JWT, and the key's TTL in seconds when asked for (`-1`: no expiry).
    Found {
        /// The JWT text.
        jwt: String,
        /// The key's remaining life, when it was asked for.
        ttl: Option<i64>,
    },
    /// No such key (an unknown or expired session), or a value that is not a JWT string.
    Missing,
}

/// Redis could not answer; the reason has already been logged.
#[derive(Debug)]
pub struct Unavailable;

struct Health {
    /// `false` from the first failure until a command succeeds again.
    up: bool,
    /// While down: no new connection attempt before this instant.
    retry_at: Option<Instant>,
}

/// A Redis client with a small connection pool. `Debug` is not derived: the URL may hold a
/// password.
pub struct Store {
    client: redis::Client,
    /// The URL without credentials, for logs.
    shown_url: String,
    key_prefix: String,
    timeout: Duration,
    retry_interval: Duration,
    idle: Mutex<Vec<Connection>>,
    health: Mutex<Health>,
    host: Host,
}

/// `redis://user:pass@host/0` → `redis://***@host/0`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

/// Non-empty printable ASCII without spaces: safe to put in a header value.
pub fn is_header_safe(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic())
}

/// Errors that say "Redis is not usable" (down, unreachable, refusing our credentials,
/// loading) rather than "this key holds something else". Only the latter is per request.
fn is_outage(e: &RedisError) -> bool {
    !(e.kind() == ErrorKind::TypeError || e.code() == Some("WRONGTYPE"))
}

impl Store {
    /// A store for `url` (parsed now: a malformed URL stops start-up); connects lazily.
    pub fn new(
        url: &str,
        key_prefix: String,
        timeout: Duration,
        retry_interval: Duration,
        host: Host,
    ) -> Result<Store, String> {
        let shown_url = redact_url(url);
        let client =
            redis::Client::open(url).map_err(|e| format!("bad redis_url `{shown_url}`: {e}"))?;
        Ok(Store {
            client,
            shown_url,
            key_prefix,
            timeout,
            retry_interval,
            idle: Mutex::new(Vec::new()),
            health: Mutex::new(Health {
                up: true,
                retry_at: None,
            }),
            host,
        })
    }

    fn key(&self, session: &str) -> String {
        format!("{}{}", self.key_prefix, session)
    }

    /// Looks a session id up: `GET`, plus `TTL` in the same round trip when `want_ttl`.
    pub fn lookup(&self, session: &str, want_ttl: bool) -> Result<Lookup, Unavailable> {
        let key = self.key(session);
        let (value, ttl) = if want_ttl {
            let (value, ttl): (Option<Vec<u8>>, i64) =
                self.run(|c| redis::pipe().get(&key).ttl(&key).query(c))?;
            (value, Some(ttl))
        } else {
            let value: Option<Vec<u8>> = self.run(|c| redis::cmd("GET").arg(&key).query(c))?;
            (value, None)
        };
        let Some(value) = value else {
            return Ok(Lookup::Missing);
        };
        // A token goes into a header: printable ASCII only (JWTs are base64url and dots).
        match String::from_utf8(value) {
            Ok(jwt) if is_header_safe(jwt.trim()) => Ok(Lookup::Found {
                jwt: jwt.trim().to_owned(),
                ttl,
            }),
            _ => {
                self.host
                    .warn("the session's Redis value is not a token string; ignoring the session");
                Ok(Lookup::Missing)
            }
        }
    }

    /// Deletes a session's key (logout).
    pub fn delete(&self, session: &str) -> Result<(), Unavailable> {
        let key = self.key(session);
        self.run(|c| redis::cmd("DEL").arg(&key).query::<i64>(c))
            .map(drop)
    }

    /// Runs `f` on a pooled connection. A pooled connection that fails (Redis restarted, the
    /// server closed an idle socket) is retried once on a fresh one before Redis counts as down.
    fn run<T>(&self, f: impl Fn(&mut Connection) -> RedisResult<T>) -> Result<T, Unavailable> {
        if let Some(mut conn) = self.pooled() {
            match f(&mut conn) {
                Ok(v) => {
                    self.release(conn);
                    return Ok(v);
                }
                Err(e) if !is_outage(&e) => return Err(self.command_error(conn, &e)),
                Err(_) => {
                    drop(conn);
                    // Any other idle connection is likely as stale as this one.
                    self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
                }
            }
        }
        self.check_retry_window()?;
        let mut conn = match self.connect() {
            Ok(c) => c,
            Err(e) => return Err(self.mark_down(&e)),
        };
        match f(&mut conn) {
            Ok(v) => {
                self.mark_up();
                self.release(conn);
                Ok(v)
            }
            Err(e) if !is_outage(&e) => Err(self.command_error(conn, &e)),
            Err(e) => Err(self.mark_down(&e)),
        }
    }

    fn pooled(&self) -> Option<Connection> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    fn release(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    fn connect(&self) -> RedisResult<Connection> {
        let conn = self.client.get_connection_with_timeout(self.timeout)?;
        conn.set_read_timeout(Some(self.timeout))?;
        conn.set_write_timeout(Some(self.timeout))?;
        Ok(conn)
    }

    /// Fails at once while Redis is down and its retry window has not passed.
    fn check_retry_window(&self) -> Result<(), Unavailable> {
        let health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        match health.retry_at {
            Some(at) if !health.up && Instant::now() < at => Err(Unavailable),
            _ => Ok(()),
        }
    }

    /// A per-key error (wrong type, say): the connection is fine, Redis is up.
    fn command_error(&self, conn: Connection, e: &RedisError) -> Unavailable {
        self.release(conn);
        self.host.warn(&format!(
            "Redis refused the session lookup ({e}); treating the request as having no session"
        ));
        Unavailable
    }

    fn mark_down(&self, e: &RedisError) -> Unavailable {
        let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        health.retry_at = Some(Instant::now() + self.retry_interval);
        if std::mem::replace(&mut health.up, false) {
            drop(health);
            self.host.error(&format!(
                "Redis at {} is unreachable ({e}); failing closed: requests carrying a session \
                 get no identity until Redis answers again (retrying at most every {:?})",
                self.shown_url, self.retry_interval
            ));
        } else {
            drop(health);
            self.host.debug(&format!(
                "Redis at {} still unreachable: {e}",
                self.shown_url
            ));
        }
        Unavailable
    }

    fn mark_up(&self) {
        let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        health.retry_at = None;
        if !std::mem::replace(&mut health.up, true) {
            drop(health);
            self.host.info(&format!(
                "Redis at {} answers again; sessions are honoured again",
                self.shown_url
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_credentials_only() {
        assert_eq!(
            redact_url("redis://:hunter2@localhost:6379/0"),
            "redis://***@localhost:6379/0"
        );
        assert_eq!(
            redact_url("rediss://user:p@ss@h/1?x=a@b"),
            "rediss://***@h/1?x=a@b"
        );
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(redact_url("unix:///tmp/r.sock"), "unix:///tmp/r.sock");
    }
}
