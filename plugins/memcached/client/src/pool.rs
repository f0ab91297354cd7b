//! A connection pool for one cache server that survives outages quietly.
//!
//! Every operation either succeeds or reports [`Unavailable`] quickly: connections carry short
//! timeouts, a failed server is skipped for a retry interval instead of being dialled on every
//! request, and the transition to "down" and back to "up" is logged exactly once each.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How loud a pool message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// A server became unreachable.
    Warn,
    /// A server is reachable again.
    Info,
}

/// Where a pool reports outages and recoveries (a plugin passes its host's logger).
pub type Log = Arc<dyn Fn(Level, &str) + Send + Sync>;

/// A logger that drops every message (tests, tools).
pub fn no_log() -> Log {
    Arc::new(|_, _| {})
}

/// Why an operation failed on an open connection.
#[derive(Debug)]
pub enum OpError {
    /// The transport failed (reset, closed, timed out): the server may be down.
    Io(io::Error),
    /// The server answered something unexpected or refused the command: it is up, but this
    /// connection is no longer trusted and is dropped.
    Protocol(String),
}

impl From<io::Error> for OpError {
    fn from(e: io::Error) -> Self {
        OpError::Io(e)
    }
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpError::Io(e) => write!(f, "{e}"),
            OpError::Protocol(m) => f.write_str(m),
        }
    }
}

/// An operation that could not be carried out; callers treat it as a cache miss.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// The server failed recently and is skipped until its retry time.
    Down,
    /// Connecting or talking to the server failed just now (it is now marked down).
    Failed(String),
    /// The server answered with an error; it stays up.
    Refused(String),
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::Down => f.write_str("server is down (waiting to retry)"),
            Unavailable::Failed(m) => write!(f, "server failed: {m}"),
            Unavailable::Refused(m) => write!(f, "server refused: {m}"),
        }
    }
}

impl std::error::Error for Unavailable {}

/// Settings shared by every pool of a plugin.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// How long a failed server is skipped before the next connection attempt.
    pub retry: Duration,
    /// How many idle connections are kept for reuse.
    pub max_idle: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            retry: Duration::from_secs(1),
            max_idle: 16,
        }
    }
}

type Connect<C> = Box<dyn Fn() -> io::Result<C> + Send + Sync>;

/// Connections to one server, with its up/down state.
pub struct Pool<C> {
    name: String,
    connect: Connect<C>,
    idle: Mutex<Vec<C>>,
    down: AtomicBool,
    /// Nanoseconds after `epoch` when the server went down.
    down_since: AtomicU64,
    /// Nanoseconds after `epoch` before which a down server is not tried.
    retry_at: AtomicU64,
    epoch: Instant,
    config: PoolConfig,
    log: Log,
}

impl<C> fmt::Debug for Pool<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.name)
            .field("down", &self.is_down())
            .finish()
    }
}

impl<C> Pool<C> {
    /// A pool named `name` in log messages (`memcached 127.0.0.1:11211`) that opens
    /// connections with `connect`. No connection is opened until the first operation.
    pub fn new(
        name: impl Into<String>,
        config: PoolConfig,
        log: Log,
        connect: impl Fn() -> io::Result<C> + Send + Sync + 'static,
    ) -> Self {
        Pool {
            name: name.into(),
            connect: Box::new(connect),
            idle: Mutex::new(Vec::new()),
            down: AtomicBool::new(false),
            down_since: AtomicU64::new(0),
            retry_at: AtomicU64::new(0),
            epoch: Instant::now(),
            config,
            log,
        }
    }

    /// The name used in log messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `true` while the server is considered down.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    fn now_nanos(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Runs `op` on a connection: a pooled one if any, else a new one.
    ///
    /// A pooled connection that fails with a transport error other than a timeout was most
    /// likely closed by a server restart; the operation is retried once on a new connection
    /// (operations must therefore be idempotent, as get/set/delete are). A timeout is not
    /// retried, which bounds the time one call can take to about two timeouts.
    pub fn run<T>(
        &self,
        mut op: impl FnMut(&mut C) -> Result<T, OpError>,
    ) -> Result<T, Unavailable> {
        if self.is_down() {
            let now = self.now_nanos();
            let due = self.retry_at.load(Ordering::Acquire);
            if now < due {
                return Err(Unavailable::Down);
            }
            // Let only this caller probe until the next retry time; the others skip.
            let next = now.saturating_add(nanos(self.config.retry));
            if self
                .retry_at
                .compare_exchange(due, next, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                return Err(Unavailable::Down);
            }
        }
        let pooled = self.lock_idle().pop();
        if let Some(mut conn) = pooled {
            match op(&mut conn) {
                Ok(v) => {
                    self.give_back(conn);
                    self.mark_up();
                    return Ok(v);
                }
                Err(OpError::Protocol(m)) => return Err(Unavailable::Refused(m)),
                Err(OpError::Io(e)) if is_timeout(&e) => {
                    self.mark_down(&e.to_string());
                    return Err(Unavailable::Failed(e.to_string()));
                }
                Err(OpError::Io(_)) => {
                    // Stale after a restart: so are the other idle ones.
                    self.lock_idle().clear();
                }
            }
        }
        let mut conn = match (self.connect)() {
            Ok(c) => c,
            Err(e) => {
                self.mark_down(&e.to_string());
                return Err(Unavailable::Failed(e.to_string()));
            }
        };
        match op(&mut conn) {
            Ok(v) => {
                self.give_back(conn);
                self.mark_up();
                Ok(v)
            }
            Err(OpError::Protocol(m)) => {
                self.mark_up();
                Err(Unavailable::Refused(m))
            }
            Err(OpError::Io(e)) => {
                self.mark_down(&e.to_string());
                Err(Unavailable::Failed(e.to_string()))
            }
        }
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<C>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn give_back(&self, conn: C) {
        let mut idle = self.lock_idle();
        if idle.len() < self.config.max_idle {
            idle.push(conn);
        }
    }

    fn mark_down(&self, why: &str) {
        let now = self.now_nanos();
        self.retry_at.store(
            now.saturating_add(nanos(self.config.retry)),
            Ordering::Release,
        );
        self.lock_idle().clear();
        if !self.down.swap(true, Ordering::AcqRel) {
            self.down_since.store(now, Ordering::Release);
            (self.log)(
                Level::Warn,
                &format!(
                    "{} is unavailable ({why}); requests go without the cache until it is \
                     back (retrying every {} ms)",
                    self.name,
                    self.config.retry.as_millis()
                ),
            );
        }
    }

    fn mark_up(&self) {
        if self.is_down() && self.down.swap(false, Ordering::AcqRel) {
            let since = self.down_since.load(Ordering::Acquire);
            let secs = self.now_nanos().saturating_sub(since) as f64 / 1e9;
            (self.log)(
                Level::Info,
                &format!("{} is available again after {secs:.1} s", self.name),
            );
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    type Lines = Arc<Mutex<Vec<(Level, String)>>>;

    fn recorder() -> (Log, Lines) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l = lines.clone();
        let log: Log = Arc::new(move |level, msg| l.lock().unwrap().push((level, msg.into())));
        (log, lines)
    }

    #[test]
    fn outage_is_logged_once_and_recovery_once() {
        let (log, lines) = recorder();
        let up = Arc::new(AtomicBool::new(false));
        let attempts = Arc::new(AtomicUsize::new(0));
        let (u, a) = (up.clone(), attempts.clone());
        let pool = Pool::new(
            "test server",
            PoolConfig {
                retry: Duration::from_millis(200),
                max_idle: 4,
            },
            log,
            move || {
                a.fetch_add(1, Ordering::SeqCst);
                if u.load(Ordering::SeqCst) {
                    Ok(())
                } else {
                    Err(io::Error::new(io::ErrorKind::ConnectionRefused, "refused"))
                }
            },
        );
        for _ in 0..50 {
            assert!(pool.run(|_| Ok::<_, OpError>(1)).is_err());
        }
        // Only the first call dialled: the others were inside the retry interval.
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
        std::thread::sleep(Duration::from_millis(250));
        assert!(pool.run(|_| Ok::<_, OpError>(1)).is_err());
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
        up.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(pool.run(|_| Ok::<_, OpError>(7)), Ok(7));
        assert_eq!(pool.run(|_| Ok::<_, OpError>(8)), Ok(8));
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0].0, Level::Warn);
        assert!(lines[0].1.contains("test server is unavailable"));
        assert_eq!(lines[1].0, Level::Info);
        assert!(lines[1].1.contains("available again"));
    }

    #[test]
    fn stale_pooled_connection_is_retried_on_a_fresh_one() {
        let (log, lines) = recorder();
        let opened = Arc::new(AtomicUsize::new(0));
        let o = opened.clone();
        let pool = Pool::new("s", PoolConfig::default(), log, move || {
            Ok(o.fetch_add(1, Ordering::SeqCst))
        });
        assert_eq!(pool.run(|c| Ok::<_, OpError>(*c)), Ok(0));
        // Connection 0 is pooled; make it fail as a closed socket does.
        let r = pool.run(|c| {
            if *c == 0 {
                Err(OpError::Io(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "closed",
                )))
            } else {
                Ok(*c)
            }
        });
        assert_eq!(r, Ok(1));
        assert!(lines.lock().unwrap().is_empty());
    }

    #[test]
    fn protocol_errors_do_not_mark_the_server_down() {
        let (log, lines) = recorder();
        let pool = Pool::new("s", PoolConfig::default(), log, || Ok(()));
        let r: Result<(), _> = pool.run(|_| Err(OpError::Protocol("SERVER_ERROR big".into())));
        assert_eq!(r, Err(Unavailable::Refused("SERVER_ERROR big".into())));
        assert!(!pool.is_down());
        assert!(lines.lock().unwrap().is_empty());
    }
}
