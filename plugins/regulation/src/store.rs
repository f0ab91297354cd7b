//! Where failures and bans are kept: this process' memory, memcached or Redis. Every backend
//! counts failures in a window that starts at the first failure and lasts `find_time`, and
//! keeps a ban as a key that expires after `ban_time`; the counting is atomic on the server,
//! so several hosts sharing a backend count together and share bans.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rewho_cache_client::{Client, ClientConfig, Level, Log, PoolConfig};
use rewho_plugin_api::Host;

/// The backend could not answer (already logged by the backend, once per outage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

/// A place to count failures and keep bans. Keys are short printable ASCII.
pub trait Store: Send + Sync {
    /// Whether `key` is banned now.
    fn banned(&self, key: &str) -> Result<bool, Unavailable>;
    /// Counts one failure under `key`; the count in the current window (1 for the first).
    fn fail(&self, key: &str, find_time: u32) -> Result<u64, Unavailable>;
    /// Bans `key` for `ban_time` seconds.
    fn ban(&self, key: &str, ban_time: u32) -> Result<(), Unavailable>;
    /// Forgets the failures counted under `key`.
    fn clear(&self, key: &str) -> Result<(), Unavailable>;
}

/// Most keys the memory backend holds; past it expired keys are dropped, and if none have
/// expired new failures are not counted (the per-address count still bans a flood).
const MEMORY_MAX_KEYS: usize = 100_000;

/// This process' memory: nothing shared, nothing to go down.
#[derive(Default)]
pub struct Memory {
    /// key → (count or 0 for a ban, expiry).
    keys: Mutex<HashMap<String, (u64, Instant)>>,
    full_reported: AtomicBool,
}

impl Memory {
    fn room(&self, keys: &mut HashMap<String, (u64, Instant)>) -> bool {
        if keys.len() < MEMORY_MAX_KEYS {
            return true;
        }
        let now = Instant::now();
        keys.retain(|_, (_, until)| *until > now);
        keys.len() < MEMORY_MAX_KEYS
    }
}

impl Store for Memory {
    fn banned(&self, key: &str) -> Result<bool, Unavailable> {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        Ok(keys
            .get(key)
            .is_some_and(|(_, until)| *until > Instant::now()))
    }

    fn fail(&self, key: &str, find_time: u32) -> Result<u64, Unavailable> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if let Some((count, until)) = keys.get_mut(key) {
            if *until > now {
                *count += 1;
                return Ok(*count);
            }
        }
        if !self.room(&mut keys) {
            if !self.full_reported.swap(true, Ordering::Relaxed) {
                return Err(Unavailable);
            }
            return Ok(0);
        }
        keys.insert(
            key.to_owned(),
            (1, now + Duration::from_secs(find_time.into())),
        );
        Ok(1)
    }

    fn ban(&self, key: &str, ban_time: u32) -> Result<(), Unavailable> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        // A ban is always kept, even when the map is full: drop expired keys first.
        self.room(&mut keys);
        keys.insert(
            key.to_owned(),
            (0, Instant::now() + Duration::from_secs(ban_time.into())),
        );
        Ok(())
    }

    fn clear(&self, key: &str) -> Result<(), Unavailable> {
        self.keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        Ok(())
    }
}

/// memcached (`add` then `incr` for counts, so hosts count together).
pub struct Memcached {
    client: Client,
}

impl Memcached {
    /// A client for `urls` (parsed now); outages are logged through `host`.
    pub fn new(
        urls: &[String],
        timeout: Duration,
        retry: Duration,
        host: &Host,
    ) -> Result<Self, String> {
        let log_host = host.clone();
        let log: Log = std::sync::Arc::new(move |level, msg: &str| match level {
            Level::Warn => log_host.warn(&format!("{msg}; bans are not checked meanwhile")),
            Level::Info => log_host.info(msg),
        });
        let config = ClientConfig {
            timeout,
            pool: PoolConfig {
                retry,
                ..PoolConfig::default()
            },
        };
        Ok(Memcached {
            client: Client::new(urls, &config, log).map_err(|e| e.to_string())?,
        })
    }
}

impl Store for Memcached {
    fn banned(&self, key: &str) -> Result<bool, Unavailable> {
        self.client
            .get(key)
            .map(|v| v.is_some())
            .map_err(|_| Unavailable)
    }

    fn fail(&self, key: &str, find_time: u32) -> Result<u64, Unavailable> {
        if self
            .client
            .add(key, b"1", find_time)
            .map_err(|_| Unavailable)?
        {
            return Ok(1);
        }
        match self.client.incr(key, 1).map_err(|_| Unavailable)? {
            Some(n) => Ok(n),
            // Expired between the two calls: this failure opens a new window.
            None => {
                let _ = self.client.add(key, b"1", find_time);
                Ok(1)
            }
        }
    }

    fn ban(&self, key: &str, ban_time: u32) -> Result<(), Unavailable> {
        self.client
            .set(key, b"1", ban_time)
            .map(drop)
            .map_err(|_| Unavailable)
    }

    fn clear(&self, key: &str) -> Result<(), Unavailable> {
        self.client.delete(key).map(drop).map_err(|_| Unavailable)
    }
}

/// Redis (`SET NX EX` + `INCR` in one transaction for counts).
pub struct Redis {
    client: redis::Client,
    shown_url: String,
    timeout: Duration,
    retry: Duration,
    conn: Mutex<Option<redis::Connection>>,
    /// While down: no new connection attempt before this instant.
    down_until: Mutex<Option<Instant>>,
    host: Host,
}

/// `redis://user:pass@host/0` → `redis://***@host/0`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

impl Redis {
    /// A client for `url` (parsed now, connected lazily).
    pub fn new(url: &str, timeout: Duration, retry: Duration, host: &Host) -> Result<Self, String> {
        let shown_url = redact_url(url);
        let client = redis::Client::open(url).map_err(|e| format!("`{shown_url}`: {e}"))?;
        Ok(Redis {
            client,
            shown_url,
            timeout,
            retry,
            conn: Mutex::new(None),
            down_until: Mutex::new(None),
            host: host.clone(),
        })
    }

    /// Runs `f` on the connection (made if needed); an error drops the connection and, the
    /// first time, logs the outage.
    fn run<T>(
        &self,
        f: impl Fn(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, Unavailable> {
        let mut slot = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        {
            let down = self.down_until.lock().unwrap_or_else(|e| e.into_inner());
            if matches!(*down, Some(at) if Instant::now() < at) {
                return Err(Unavailable);
            }
        }
        let result = (|| {
            if slot.is_none() {
                let c = self.client.get_connection_with_timeout(self.timeout)?;
                c.set_read_timeout(Some(self.timeout))?;
                c.set_write_timeout(Some(self.timeout))?;
                *slot = Some(c);
            }
            f(slot.as_mut().expect("connected above"))
        })();
        let mut down = self.down_until.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(v) => {
                if down.take().is_some() {
                    self.host.info(&format!(
                        "Redis at {} answers again; bans are checked again",
                        self.shown_url
                    ));
                }
                Ok(v)
            }
            Err(e) => {
                *slot = None;
                if down.replace(Instant::now() + self.retry).is_none() {
                    self.host.error(&format!(
                        "Redis at {} is unreachable ({e}); failing open: passwords are still \
                         verified, but failures are not counted and bans not checked until it \
                         answers again",
                        self.shown_url
                    ));
                }
                Err(Unavailable)
            }
        }
    }
}

impl Store for Redis {
    fn banned(&self, key: &str) -> Result<bool, Unavailable> {
        self.run(|c| redis::cmd("EXISTS").arg(key).query::<i64>(c))
            .map(|n| n > 0)
    }

    fn fail(&self, key: &str, find_time: u32) -> Result<u64, Unavailable> {
        // `SET NX EX` opens the window (a no-op inside one); `INCR` keeps the expiry.
        let (_, n): (Option<String>, u64) = self.run(|c| {
            redis::pipe()
                .atomic()
                .cmd("SET")
                .arg(key)
                .arg(0)
                .arg("EX")
                .arg(find_time)
                .arg("NX")
                .cmd("INCR")
                .arg(key)
                .query(c)
        })?;
        Ok(n)
    }

    fn ban(&self, key: &str, ban_time: u32) -> Result<(), Unavailable> {
        self.run(|c| {
            redis::cmd("SET")
                .arg(key)
                .arg(1)
                .arg("EX")
                .arg(ban_time)
                .query::<()>(c)
        })
    }

    fn clear(&self, key: &str) -> Result<(), Unavailable> {
        self.run(|c| redis::cmd("DEL").arg(key).query::<i64>(c))
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_counts_in_a_window_and_bans_expire() {
        let m = Memory::default();
        assert_eq!(m.fail("f", 60), Ok(1));
        assert_eq!(m.fail("f", 60), Ok(2));
        assert_eq!(m.fail("g", 60), Ok(1));
        m.clear("f").unwrap();
        assert_eq!(m.fail("f", 60), Ok(1));
        assert_eq!(m.banned("b"), Ok(false));
        m.ban("b", 1).unwrap();
        assert_eq!(m.banned("b"), Ok(true));
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(m.banned("b"), Ok(false));
    }

    #[test]
    fn urls_lose_their_credentials_in_logs() {
        assert_eq!(redact_url("redis://:pw@h:6379/0"), "redis://***@h:6379/0");
        assert_eq!(redact_url("redis://h:6379"), "redis://h:6379");
    }
}
