//! Connection limits for `rewho serve`: a header-read timeout, an idle keep-alive timeout and a
//! cap on open connections, so silent or slow clients (a slowloris) cannot hold every file
//! descriptor and keep valid requests out.
//!
//! - A connection that has not sent a complete request head within
//!   [`ConnLimits::header_timeout`] of being accepted is closed.
//! - A connection with no request in flight and nothing written to it for
//!   [`ConnLimits::idle_timeout`] is closed (this also bounds a slow head after a keep-alive
//!   request). A response that is still streaming writes, so it is never idle.
//! - At [`ConnLimits::max_connections`] open connections, accepting one more closes the oldest
//!   connection with no request in flight, preferring those that never sent a request. A new
//!   client that sends its request at once is thus served even while hundreds of silent
//!   connections are held against the server; only when every open connection has a request
//!   in flight is the new one refused (closed).
//!
//! The cap defaults to what the process' open-file limit allows, with room left for upstream
//! connections and plugin files ([`ConnLimits::effective_max`]).

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::Metrics;

/// Descriptors kept free for everything that is not a client connection (listener, logs,
/// plugin files, memcached/Redis/LDAP sockets).
const RESERVED_FDS: u64 = 32;

/// How long a new connection may take to send its first request before, at the cap, it is
/// closed ahead of older connections that have served requests.
const SILENT_AFTER: Duration = Duration::from_secs(1);

/// The timeouts and the cap; see the module docs. `rewho serve --header-timeout`,
/// `--idle-timeout`, `--max-connections`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// From accept to a complete first request head. Default 10 s.
    pub header_timeout: Duration,
    /// With no request in flight and nothing written. Default 75 s (longer than the 60 s
    /// nginx and Traefik keep idle upstream connections, so the proxy closes first).
    pub idle_timeout: Duration,
    /// Open connections at most; 0 picks [`ConnLimits::effective_max`]'s default.
    pub max_connections: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_connections: 0,
        }
    }
}

impl ConnLimits {
    /// The cap in force: `max_connections` when set, else half of the descriptors the soft
    /// `RLIMIT_NOFILE` leaves after a small reserve (the other half is for upstream
    /// connections a proxied request opens), at least 16 and at most 65 536.
    pub fn effective_max(&self) -> usize {
        if self.max_connections > 0 {
            return self.max_connections;
        }
        let soft = open_file_limit().unwrap_or(1024);
        (soft.saturating_sub(RESERVED_FDS) / 2).clamp(16, 65_536) as usize
    }
}

/// The soft limit on open files, if the OS says.
fn open_file_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) writes into the struct we pass.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    (rc == 0).then_some(lim.rlim_cur)
}

/// Why a connection was closed by the server (the `reason` label of
/// `rewho_connections_closed_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closed {
    /// No complete request head within the header timeout.
    HeaderTimeout,
    /// Idle for the idle timeout.
    IdleTimeout,
    /// Closed to make room for a new connection at the cap.
    Evicted,
    /// Refused at the cap: every open connection had a request in flight.
    Refused,
}

impl Closed {
    pub(crate) const ALL: [Closed; 4] = [
        Closed::HeaderTimeout,
        Closed::IdleTimeout,
        Closed::Evicted,
        Closed::Refused,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Closed::HeaderTimeout => "header_timeout",
            Closed::IdleTimeout => "idle_timeout",
            Closed::Evicted => "evicted",
            Closed::Refused => "refused",
        }
    }
}

/// One open connection's state, shared by its task, its requests and the registry.
#[derive(Debug)]
pub(crate) struct ConnState {
    id: u64,
    accepted: Instant,
    in_flight: AtomicU32,
    requests: AtomicU64,
    /// Bumped by every write and every request that ends: any change means "not idle".
    activity: AtomicU64,
    evict: Notify,
}

impl ConnState {
    /// Marks a request as in flight until the guard drops.
    pub(crate) fn request(self: &Arc<Self>) -> InFlight {
        self.requests.fetch_add(1, Relaxed);
        self.in_flight.fetch_add(1, Relaxed);
        InFlight(self.clone())
    }
}

/// A request in flight on a connection; see [`ConnState::request`].
pub(crate) struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
        self.0.activity.fetch_add(1, Relaxed);
    }
}

/// The open connections of one server.
#[derive(Debug)]
pub(crate) struct Registry {
    limits: ConnLimits,
    max: usize,
    open: Mutex<HashMap<u64, Arc<ConnState>>>,
    next_id: AtomicU64,
    metrics: Arc<Metrics>,
    /// When the cap was last reported in the log (seconds since `started`), so an attack
    /// logs once every 10 s, not once per connection.
    last_warning: AtomicU64,
    started: Instant,
}

/// A connection's place in the [`Registry`]; leaving it (drop) frees the place.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) state: Arc<ConnState>,
    registry: Arc<Registry>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.registry.open.lock() {
            open.remove(&self.state.id);
        }
    }
}

impl Registry {
    /// A registry enforcing `limits`, counting closes in `metrics`.
    pub(crate) fn new(limits: ConnLimits, metrics: Arc<Metrics>) -> Arc<Registry> {
        let max = limits.effective_max();
        tracing::info!(
            target: "rewho::serve",
            max_connections = max,
            header_timeout_s = limits.header_timeout.as_secs_f64(),
            idle_timeout_s = limits.idle_timeout.as_secs_f64(),
            "connection limits"
        );
        Arc::new(Registry {
            limits,
            max,
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            metrics,
            last_warning: AtomicU64::new(u64::MAX),
            started: Instant::now(),
        })
    }

    /// A place for a connection just accepted, making room at the cap; `None` when every
    /// open connection has a request in flight (the caller closes the new one).
    pub(crate) fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.len() >= self.max {
            // Oldest first among those with nothing in flight; first those that have sent no
            // request for a second (silent), then any (a new client gets that second to
            // send its request before it counts as silent).
            let now = Instant::now();
            let victim = open
                .values()
                .filter(|c| c.in_flight.load(Relaxed) == 0)
                .min_by_key(|c| {
                    let silent = c.requests.load(Relaxed) == 0
                        && now.duration_since(c.accepted) >= SILENT_AFTER;
                    (!silent, c.accepted)
                })
                .map(|c| c.id);
            let outcome = match victim.and_then(|id| open.remove(&id)) {
                Some(v) => {
                    v.evict.notify_one();
                    Closed::Evicted
                }
                None => Closed::Refused,
            };
            self.metrics.connection_closed(outcome);
            self.warn_at_cap(outcome);
            if outcome == Closed::Refused {
                return None;
            }
        }
        let state = Arc::new(ConnState {
            id: self.next_id.fetch_add(1, Relaxed),
            accepted: Instant::now(),
            in_flight: AtomicU32::new(0),
            requests: AtomicU64::new(0),
            activity: AtomicU64::new(0),
            evict: Notify::new(),
        });
        open.insert(state.id, state.clone());
        Some(Slot {
            state,
            registry: self.clone(),
        })
    }

    fn warn_at_cap(&self, outcome: Closed) {
        let now = self.started.elapsed().as_secs();
        let last = self.last_warning.load(Relaxed);
        if (last == u64::MAX || now >= last + 10)
            && self
                .last_warning
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_ok()
        {
            tracing::warn!(
                target: "rewho::serve",
                max_connections = self.max,
                "connection limit reached: {} (see rewho_connections_closed_total; --max-connections)",
                match outcome {
                    Closed::Refused => "every connection is busy, new ones are refused",
                    _ => "closing the oldest idle connections to admit new ones",
                }
            );
        }
    }

    /// Drives `conn` (a connection's hyper future) until it ends, its timeout passes or it is
    /// evicted; then drops it, closing the socket.
    pub(crate) async fn supervise<F: std::future::Future>(&self, slot: Slot, conn: F) {
        let state = slot.state.clone();
        tokio::pin!(conn);
        let mut seen_activity = 0;
        let mut idle_since = state.accepted;
        let closed = loop {
            let deadline = if state.requests.load(Relaxed) == 0 {
                state.accepted + self.limits.header_timeout
            } else {
                idle_since + self.limits.idle_timeout
            };
            tokio::select! {
                _ = &mut conn => break None,
                () = state.evict.notified() => break None, // counted by `admit`
                () = tokio::time::sleep_until(deadline) => {
                    let activity = state.activity.load(Relaxed);
                    if state.in_flight.load(Relaxed) > 0 || activity != seen_activity {
                        seen_activity = activity;
                        idle_since = Instant::now();
                        continue;
                    }
                    break Some(if state.requests.load(Relaxed) == 0 {
                        Closed::HeaderTimeout
                    } else {
                        Closed::IdleTimeout
                    });
                }
            }
        };
        if let Some(reason) = closed {
            self.metrics.connection_closed(reason);
            tracing::debug!(target: "rewho::serve", reason = reason.name(), "connection closed");
        }
        drop(slot);
    }
}

/// A socket that counts its writes, so a connection streaming a response is never idle.
#[derive(Debug)]
pub(crate) struct Tracked<S> {
    inner: S,
    state: Arc<ConnState>,
}

impl<S> Tracked<S> {
    pub(crate) fn new(inner: S, state: Arc<ConnState>) -> Self {
        Tracked { inner, state }
    }

    fn wrote(&self, r: &Poll<io::Result<usize>>) {
        if let Poll::Ready(Ok(n)) = r {
            if *n > 0 {
                self.state.activity.fetch_add(1, Relaxed);
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(&r);
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(&r);
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize) -> ConnLimits {
        ConnLimits {
            max_connections: max,
            ..ConnLimits::default()
        }
    }

    #[tokio::test]
    async fn at_the_cap_the_oldest_unused_connection_makes_room_and_busy_ones_stay() {
        let reg = Registry::new(limits(3), Arc::default());
        let a = reg.admit().unwrap();
        let b = reg.admit().unwrap();
        let c = reg.admit().unwrap();
        // `a` has served a request (idle now), `b` has been silent for a second, `c` is busy.
        drop(a.state.request());
        let _busy = c.state.request();
        tokio::time::sleep(SILENT_AFTER).await;
        let d = reg.admit().expect("room is made");
        assert!(
            !reg.open.lock().unwrap().contains_key(&b.state.id),
            "b evicted"
        );
        let e = reg.admit().expect("room is made again");
        assert!(
            !reg.open.lock().unwrap().contains_key(&a.state.id),
            "then the oldest idle one, not the new one"
        );
        let _d_busy = d.state.request();
        let _e_busy = e.state.request();
        assert!(reg.admit().is_none(), "every connection busy: refused");
        assert_eq!(reg.open.lock().unwrap().len(), 3);
    }

    #[test]
    fn the_default_cap_follows_the_open_file_limit() {
        let soft = open_file_limit().unwrap();
        let max = ConnLimits::default().effective_max() as u64;
        assert!(
            max >= 16 && (max <= soft / 2 || soft < 64),
            "{max} for {soft}"
        );
        assert_eq!(limits(7).effective_max(), 7);
    }

    fn short() -> ConnLimits {
        ConnLimits {
            header_timeout: Duration::from_millis(200),
            idle_timeout: Duration::from_millis(300),
            max_connections: 0,
        }
    }

    #[tokio::test]
    async fn a_silent_connection_is_closed_after_the_header_timeout() {
        let reg = Registry::new(short(), Arc::default());
        let slot = reg.admit().unwrap();
        let start = Instant::now();
        reg.supervise(slot, std::future::pending::<()>()).await;
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(200) && took < Duration::from_secs(2),
            "{took:?}"
        );
        assert!(reg.open.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_connection_with_a_request_in_flight_is_not_idle() {
        let reg = Registry::new(short(), Arc::default());
        let slot = reg.admit().unwrap();
        let busy = slot.state.request();
        let start = Instant::now();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1000)).await;
            drop(busy);
        });
        reg.supervise(slot, std::future::pending::<()>()).await;
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(1000 + 300), "{took:?}");
        assert!(
            took < Duration::from_millis(1000 + 2 * 300 + 500),
            "{took:?}"
        );
    }
}
