//! Where captured metadata lives: this process's memory, memcached or Redis.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::Mutex;
use std::time::Duration;

use rewho_cache_client::{Client, ClientConfig, Log, OpError, Pool, PoolConfig};
use rewho_plugin_api::Value;
use sha2::{Digest, Sha256};

/// A store of one JSON value per user. Network failures are reported by the store's pool
/// (once per outage); to callers they look like misses and dropped writes.
pub(crate) trait Store: Send + Sync {
    /// The value stored for `userid` (its JSON text), if any.
    fn get(&self, userid: &str) -> Option<Value>;
    /// Stores `value` for `userid`, replacing what was there.
    fn put(&self, userid: &str, value: &Value);
    /// Drops the entry of `userid`.
    fn remove(&self, userid: &str);
}

/// Seconds since the epoch (the host's clock, so tests can move time).
pub(crate) type Clock = Box<dyn Fn() -> i64 + Send + Sync>;

/// Entries in this process, least recently used evicted first, expiring by the host clock.
pub(crate) struct Memory {
    now: Clock,
    ttl: u64,
    max_entries: usize,
    lru: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    slots: HashMap<String, Slot>,
    /// Use tick → key, oldest first.
    order: BTreeMap<u64, String>,
    tick: u64,
}

struct Slot {
    value: Value,
    expires: Option<i64>,
    tick: u64,
}

impl Lru {
    fn touch(&mut self, key: &str) -> u64 {
        self.tick += 1;
        let tick = self.tick;
        if let Some(slot) = self.slots.get_mut(key) {
            self.order.remove(&slot.tick);
            slot.tick = tick;
            self.order.insert(tick, key.to_owned());
        }
        tick
    }

    fn remove(&mut self, key: &str) {
        if let Some(slot) = self.slots.remove(key) {
            self.order.remove(&slot.tick);
        }
    }
}

impl Memory {
    /// A store of at most `max_entries` entries kept `ttl` seconds (`0`: until evicted).
    pub(crate) fn new(now: Clock, ttl: u64, max_entries: usize) -> Self {
        Memory {
            now,
            ttl,
            max_entries,
            lru: Mutex::new(Lru::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.lru.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store for Memory {
    fn get(&self, userid: &str) -> Option<Value> {
        let now = (self.now)();
        let mut lru = self.lock();
        let expired = match lru.slots.get(userid) {
            None => return None,
            Some(slot) => slot.expires.is_some_and(|e| now >= e),
        };
        if expired {
            lru.remove(userid);
            return None;
        }
        lru.touch(userid);
        lru.slots.get(userid).map(|s| s.value.clone())
    }

    fn put(&self, userid: &str, value: &Value) {
        let expires = (self.ttl > 0)
            .then(|| (self.now)().saturating_add(i64::try_from(self.ttl).unwrap_or(i64::MAX)));
        let mut lru = self.lock();
        if let Some(slot) = lru.slots.get_mut(userid) {
            slot.value = value.clone();
            slot.expires = expires;
            lru.touch(userid);
            return;
        }
        while lru.slots.len() >= self.max_entries {
            let Some((_, oldest)) = lru.order.pop_first() else {
                break;
            };
            lru.slots.remove(&oldest);
        }
        lru.tick += 1;
        let tick = lru.tick;
        lru.order.insert(tick, userid.to_owned());
        lru.slots.insert(
            userid.to_owned(),
            Slot {
                value: value.clone(),
                expires,
                tick,
            },
        );
    }

    fn remove(&self, userid: &str) {
        self.lock().remove(userid);
    }
}

/// The network key of a user: `<prefix><name>:<sha256 hex of the user id's JSON>` (short,
/// free of spaces, and the same on every host).
pub(crate) fn network_key(prefix: &str, name: &str, userid: &str) -> String {
    let digest = Sha256::digest(userid.as_bytes());
    let mut key = String::with_capacity(prefix.len() + name.len() + 65);
    key.push_str(prefix);
    key.push_str(name);
    key.push(':');
    for b in digest {
        key.push_str(&format!("{b:02x}"));
    }
    key
}

fn parse(bytes: &[u8]) -> Option<Value> {
    serde_json::from_slice(bytes).ok()
}

/// Entries in memcached, shared by every host using the same servers.
pub(crate) struct Memcached {
    client: Client,
    prefix: String,
    name: String,
    ttl: u32,
}

impl Memcached {
    /// A store on `urls` (see the `memcached` plugin for the forms).
    pub(crate) fn new(
        urls: &[String],
        config: &ClientConfig,
        log: Log,
        prefix: &str,
        name: &str,
        ttl: u32,
    ) -> Result<Self, String> {
        Ok(Memcached {
            client: Client::new(urls, config, log)?,
            prefix: prefix.to_owned(),
            name: name.to_owned(),
            ttl,
        })
    }
}

impl Store for Memcached {
    fn get(&self, userid: &str) -> Option<Value> {
        let key = network_key(&self.prefix, &self.name, userid);
        self.client.get(&key).ok().flatten().and_then(|b| parse(&b))
    }

    fn put(&self, userid: &str, value: &Value) {
        let key = network_key(&self.prefix, &self.name, userid);
        if let Ok(bytes) = serde_json::to_vec(value) {
            let _ = self.client.set(&key, &bytes, self.ttl);
        }
    }

    fn remove(&self, userid: &str) {
        let key = network_key(&self.prefix, &self.name, userid);
        let _ = self.client.delete(&key);
    }
}

/// Entries in Redis, shared by every host using the same server.
pub(crate) struct Redis {
    pool: Pool<redis::Connection>,
    prefix: String,
    name: String,
    ttl: u64,
}

fn op_error(e: redis::RedisError) -> OpError {
    if e.is_timeout() {
        OpError::Io(io::Error::new(io::ErrorKind::TimedOut, e.to_string()))
    } else if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
        OpError::Io(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            e.to_string(),
        ))
    } else {
        OpError::Protocol(e.to_string())
    }
}

impl Redis {
    /// A store on the server of `url` (`redis://host:port/db`, `redis+unix:///path`).
    pub(crate) fn new(
        url: &str,
        timeout: Duration,
        pool: PoolConfig,
        log: Log,
        prefix: &str,
        name: &str,
        ttl: u64,
    ) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("{e}"))?;
        // Named by address only: the URL may carry a password.
        let label = format!("redis {}", client.get_connection_info().addr);
        let pool = Pool::new(label, pool, log, move || {
            let conn = client
                .get_connection_with_timeout(timeout)
                .map_err(|e| io::Error::other(e.to_string()))?;
            conn.set_read_timeout(Some(timeout))
                .and_then(|_| conn.set_write_timeout(Some(timeout)))
                .map_err(|e| io::Error::other(e.to_string()))?;
            Ok(conn)
        });
        Ok(Redis {
            pool,
            prefix: prefix.to_owned(),
            name: name.to_owned(),
            ttl,
        })
    }
}

impl Store for Redis {
    fn get(&self, userid: &str) -> Option<Value> {
        let key = network_key(&self.prefix, &self.name, userid);
        let bytes: Option<Vec<u8>> = self
            .pool
            .run(|c| redis::cmd("GET").arg(&key).query(c).map_err(op_error))
            .ok()
            .flatten();
        bytes.and_then(|b| parse(&b))
    }

    fn put(&self, userid: &str, value: &Value) {
        let key = network_key(&self.prefix, &self.name, userid);
        let Ok(bytes) = serde_json::to_vec(value) else {
            return;
        };
        let _ = self.pool.run(|c| {
            let mut cmd = redis::cmd("SET");
            cmd.arg(&key).arg(&bytes);
            if self.ttl > 0 {
                cmd.arg("EX").arg(self.ttl);
            }
            cmd.query::<()>(c).map_err(op_error)
        });
    }

    fn remove(&self, userid: &str) {
        let key = network_key(&self.prefix, &self.name, userid);
        let _ = self.pool.run(|c| {
            redis::cmd("DEL")
                .arg(&key)
                .query::<i64>(c)
                .map_err(op_error)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;

    fn memory(ttl: u64, max: usize) -> (Memory, Arc<AtomicI64>) {
        let t = Arc::new(AtomicI64::new(1_000));
        let c = t.clone();
        (
            Memory::new(Box::new(move || c.load(Ordering::SeqCst)), ttl, max),
            t,
        )
    }

    #[test]
    fn memory_expires_by_the_clock() {
        let (m, t) = memory(10, 100);
        m.put("\"a\"", &Value::from("x"));
        t.store(1_009, Ordering::SeqCst);
        assert_eq!(m.get("\"a\""), Some(Value::from("x")));
        t.store(1_010, Ordering::SeqCst);
        assert_eq!(m.get("\"a\""), None);
    }

    #[test]
    fn memory_evicts_least_recently_used() {
        let (m, _) = memory(0, 2);
        m.put("a", &Value::Int(1));
        m.put("b", &Value::Int(2));
        assert_eq!(m.get("a"), Some(Value::Int(1)));
        m.put("c", &Value::Int(3));
        assert_eq!(m.get("b"), None, "b was least recently used");
        assert_eq!(m.get("a"), Some(Value::Int(1)));
        assert_eq!(m.get("c"), Some(Value::Int(3)));
        m.put("c", &Value::Int(4));
        assert_eq!(m.get("c"), Some(Value::Int(4)));
        m.remove("a");
        assert_eq!(m.get("a"), None);
        let lru = m.lock();
        assert_eq!(lru.slots.len(), lru.order.len());
    }

    #[test]
    fn network_keys_are_short_and_spaceless() {
        let k = network_key("rewho:mdc:", "attributes", "\"some user with spaces\"");
        assert!(rewho_cache_client::valid_key(&k), "{k}");
        assert_eq!(k.len(), "rewho:mdc:attributes:".len() + 64);
    }
}
