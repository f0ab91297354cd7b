//! Per-call deadlines for plugins that block on I/O: `[general] call_timeout`, and a
//! `call_timeout` option in a `[plugin:ID]` section for that plugin alone (the host takes the
//! option out before the plugin's factory sees it).
//!
//! Plugin calls are synchronous FFI calls: nothing can interrupt one, and a thread stuck in
//! one cannot be reclaimed. So the deadline is kept by whoever *waits*, not by the call:
//!
//! - an async edge runs an I/O chain on tokio's blocking pool
//!   ([`WhoApi::try_run`](crate::WhoApi::try_run)), and that thread records in a
//!   [`CallWatch`] which plugin call it is in and since when;
//! - the edge waits with a deadline. When the call in progress has run longer than
//!   `call_timeout` (or no thread picked the request up for that long), it stops waiting,
//!   logs the plugin (its section id) and the call, and answers 503;
//! - the stuck thread is abandoned: it finishes on its own whenever the plugin returns, its
//!   remaining plugin calls are skipped, and its results are thrown away;
//! - while the abandoned call is still stuck, the plugin is *tripped*: every other request
//!   treats it as failed (a plugin error: the chain goes on without it) instead of piling
//!   more threads onto it. It is called again as soon as the stuck call returns.
//!
//! The cost when nothing hangs: one thread-local read per plugin call, plus, on I/O chains, a
//! short lock per call and a timer per request. CPU-only chains run inline on the edge's
//! thread and have no deadline: they cannot wait on I/O.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rewho_plugin_api::PluginError;

use crate::api::Role;

/// The deadline of one plugin call when `[general] call_timeout` is not set.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A request whose plugin call did not return in time: what the edge logs before answering
/// 503.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct CallTimeout {
    /// The section id of the plugin that was stuck; `None` when no thread even started the
    /// request's calls in time (the blocking pool is full of stuck calls).
    pub plugin: Option<String>,
    /// The call it was stuck in (`identify`, `authenticate`, …; identifiers' `remember` and
    /// `forget` count as `identify`).
    pub call: Option<&'static str>,
    /// How long the edge waited.
    pub after: Duration,
}

impl CallTimeout {
    fn describe(&self) -> String {
        match (&self.plugin, self.call) {
            (Some(p), Some(c)) => format!(
                "plugin `{p}` did not return from `{c}` within {:.3}s (call_timeout)",
                self.after.as_secs_f64()
            ),
            _ => format!(
                "no thread started this request's plugin calls within {:.3}s (call_timeout): \
                 the blocking pool is busy with stuck calls",
                self.after.as_secs_f64()
            ),
        }
    }
}

/// Parses `[general] call_timeout`: seconds (`10`, `0.5`), or `0` / `off` / `none` for no
/// deadline.
pub(crate) fn parse_call_timeout(value: &str) -> Result<Option<Duration>, String> {
    let v = value.trim();
    if v.eq_ignore_ascii_case("off") || v.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    match v.parse::<f64>() {
        Ok(0.0) => Ok(None),
        Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Ok(Some(Duration::from_secs_f64(s))),
        _ => Err(format!(
            "call_timeout: `{v}` is not a number of seconds between 0 and 86400 (or `off`)"
        )),
    }
}

/// The deadline of each plugin's calls: `[general] call_timeout`, overridden per plugin by a
/// `call_timeout` option in its `[plugin:ID]` section (which the host keeps for itself).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Deadlines {
    pub(crate) default: Option<Duration>,
    pub(crate) per_plugin: Vec<(String, Option<Duration>)>,
}

impl Deadlines {
    /// The deadline of `plugin`'s calls (`None`: no deadline).
    pub(crate) fn for_plugin(&self, plugin: &str) -> Option<Duration> {
        self.per_plugin
            .iter()
            .find(|(id, _)| id == plugin)
            .map_or(self.default, |(_, d)| *d)
    }

    /// How long a request may wait for a thread: the general deadline, else the longest
    /// per-plugin one. `None` when no plugin has a deadline.
    pub(crate) fn wait_limit(&self) -> Option<Duration> {
        self.default
            .or_else(|| self.per_plugin.iter().filter_map(|(_, d)| *d).max())
    }
}

/// The plugins that have a call stuck past its deadline; shared by a factory and every
/// request's [`CallWatch`].
#[derive(Debug, Default)]
pub(crate) struct Tripped {
    count: AtomicUsize,
    names: Mutex<Vec<String>>,
}

impl Tripped {
    /// `Some(error)` when `plugin` has a stuck call: the caller skips it for this request.
    #[inline]
    pub(crate) fn refuse(&self, plugin: &str) -> Option<PluginError> {
        if self.count.load(Ordering::Acquire) == 0 {
            return None;
        }
        let names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        names.iter().any(|n| n == plugin).then(|| {
            PluginError::new(
                "skipped: an earlier call of this plugin is stuck past call_timeout".to_owned(),
            )
        })
    }

    fn trip(&self, plugin: &str) {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        names.push(plugin.to_owned());
        self.count.store(names.len(), Ordering::Release);
    }

    fn reset(&self, plugin: &str) {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = names.iter().position(|n| n == plugin) {
            names.swap_remove(i);
        }
        self.count.store(names.len(), Ordering::Release);
    }
}

/// What one request's blocking thread is doing, shared with the edge waiting for it.
#[derive(Debug)]
pub(crate) struct CallWatch {
    state: Mutex<WatchState>,
    tripped: Arc<Tripped>,
    deadlines: Arc<Deadlines>,
}

#[derive(Debug, Default)]
struct WatchState {
    /// A thread has picked the request up.
    started: bool,
    /// The plugin call in progress: section id (buffer reused between calls), call, start,
    /// deadline.
    plugin: String,
    call: Option<(&'static str, Instant, Option<Duration>)>,
    /// The edge gave up on this request.
    abandoned: bool,
    /// The edge tripped the plugin whose call is in progress.
    tripped_current: bool,
}

thread_local! {
    static WATCH: RefCell<Option<Arc<CallWatch>>> = const { RefCell::new(None) };
}

/// Removes the thread's watch when the request's work on this thread ends (or unwinds).
pub(crate) struct Installed(());

impl Drop for Installed {
    fn drop(&mut self) {
        WATCH.with(|w| w.borrow_mut().take());
    }
}

impl CallWatch {
    pub(crate) fn new(tripped: Arc<Tripped>, deadlines: Arc<Deadlines>) -> Arc<Self> {
        Arc::new(CallWatch {
            state: Mutex::new(WatchState::default()),
            tripped,
            deadlines,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WatchState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes this the watch of the current thread's plugin calls until the guard drops.
    pub(crate) fn install(self: &Arc<Self>) -> Installed {
        self.lock().started = true;
        WATCH.with(|w| *w.borrow_mut() = Some(self.clone()));
        Installed(())
    }

    /// When the waiting edge should look again: when the call in progress reaches its
    /// deadline, or `limit` (the wait limit) from now when no deadline is running, or
    /// `limit` after `spawned` while no thread has picked the request up.
    pub(crate) fn next_check(&self, limit: Duration, spawned: Instant) -> Instant {
        let s = self.lock();
        match (s.started, s.call) {
            (false, _) => spawned + limit,
            (true, Some((_, since, Some(deadline)))) => since + deadline,
            (true, _) => Instant::now() + limit,
        }
    }

    /// Gives up on the request if the call in progress has passed its deadline (or the wait
    /// for a thread has passed `limit`): trips the plugin and says what timed out. `None`:
    /// keep waiting.
    pub(crate) fn expire(&self, limit: Duration, spawned: Instant) -> Option<CallTimeout> {
        let mut s = self.lock();
        let now = Instant::now();
        if !s.started {
            if now.duration_since(spawned) < limit {
                return None;
            }
            s.abandoned = true;
            return Some(CallTimeout {
                plugin: None,
                call: None,
                after: now.duration_since(spawned),
            });
        }
        let (call, since, deadline) = s.call?;
        if now.duration_since(since) < deadline? {
            return None;
        }
        s.abandoned = true;
        s.tripped_current = true;
        self.tripped.trip(&s.plugin);
        Some(CallTimeout {
            plugin: Some(s.plugin.clone()),
            call: Some(call),
            after: now.duration_since(since),
        })
    }

    /// Records the start of a call; `false` when the request was abandoned (skip the call).
    fn enter(&self, plugin: &str, role: Role) -> bool {
        let mut s = self.lock();
        if s.abandoned {
            return false;
        }
        s.plugin.clear();
        s.plugin.push_str(plugin);
        s.call = Some((
            role.label(),
            Instant::now(),
            self.deadlines.for_plugin(plugin),
        ));
        true
    }

    /// Records the end of a call; un-trips the plugin if this was the stuck call.
    fn leave(&self) {
        let mut s = self.lock();
        let since = s.call.take().map(|(_, t, _)| t);
        if std::mem::take(&mut s.tripped_current) {
            self.tripped.reset(&s.plugin);
            tracing::warn!(
                target: "rewho::timeout",
                plugin = %s.plugin,
                after_ms = since.map_or(0, |t| t.elapsed().as_millis() as u64),
                "plugin `{}` returned from its timed-out call; it is used again",
                s.plugin
            );
        }
    }
}

/// Runs one plugin call under the current thread's watch, if it has one.
#[inline]
pub(crate) fn watched<T>(
    plugin: &str,
    role: Role,
    call: impl FnOnce() -> Result<T, PluginError>,
) -> Result<T, PluginError> {
    let Some(watch) = WATCH.with(|w| w.borrow().clone()) else {
        return call();
    };
    if !watch.enter(plugin, role) {
        return Err(PluginError::new(
            "skipped: the request was abandoned after a call timeout",
        ));
    }
    struct Leave<'w>(&'w CallWatch);
    impl Drop for Leave<'_> {
        fn drop(&mut self) {
            self.0.leave();
        }
    }
    let _leave = Leave(&watch);
    call()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_seconds_and_off() {
        assert_eq!(parse_call_timeout("10"), Ok(Some(Duration::from_secs(10))));
        assert_eq!(
            parse_call_timeout(" 0.25 "),
            Ok(Some(Duration::from_millis(250)))
        );
        assert_eq!(parse_call_timeout("0"), Ok(None));
        assert_eq!(parse_call_timeout("off"), Ok(None));
        assert_eq!(parse_call_timeout("None"), Ok(None));
        for bad in ["", "-1", "ten", "NaN", "inf", "1e9"] {
            let e = parse_call_timeout(bad).unwrap_err();
            assert!(e.contains("call_timeout"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_stuck_call_is_reported_tripped_and_reset_when_it_returns() {
        let tripped = Arc::new(Tripped::default());
        let limit = Duration::from_millis(50);
        let deadlines = Deadlines {
            default: Some(limit),
            per_plugin: vec![("other".into(), None)],
        };
        let watch = CallWatch::new(tripped.clone(), Arc::new(deadlines));
        let spawned = Instant::now();
        let (entered_tx, entered_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let w = watch.clone();
        let worker = std::thread::spawn(move || {
            let _on = w.install();
            let first = watched("hang", Role::Authenticator, || {
                entered_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                Ok(1)
            });
            // The next call of an abandoned request is skipped.
            let second = watched("other", Role::MetadataProvider, || Ok(2));
            (first, second)
        });
        entered_rx.recv().unwrap();
        assert_eq!(watch.expire(limit, spawned), None, "not yet past the limit");
        std::thread::sleep(limit + Duration::from_millis(20));
        let t = watch.expire(limit, spawned).expect("timed out");
        assert_eq!(t.plugin.as_deref(), Some("hang"));
        assert_eq!(t.call, Some("authenticate"));
        assert!(t.to_string().contains("plugin `hang`"), "{t}");
        assert!(tripped.refuse("hang").is_some(), "tripped while stuck");
        assert!(tripped.refuse("other").is_none());
        release_tx.send(()).unwrap();
        let (first, second) = worker.join().unwrap();
        assert_eq!(first, Ok(1));
        assert!(second.is_err(), "abandoned request's later call skipped");
        assert!(
            tripped.refuse("hang").is_none(),
            "reset once the call returned"
        );
    }

    #[test]
    fn waiting_for_a_thread_counts_too() {
        let watch = CallWatch::new(Arc::default(), Arc::default());
        let spawned = Instant::now() - Duration::from_secs(2);
        let t = watch
            .expire(Duration::from_secs(1), spawned)
            .expect("no thread started it");
        assert_eq!(t.plugin, None);
        assert!(t.to_string().contains("blocking pool"), "{t}");
    }

    #[test]
    fn per_plugin_deadlines_override_the_general_one() {
        let d = Deadlines {
            default: Some(Duration::from_secs(10)),
            per_plugin: vec![
                ("ldap".into(), Some(Duration::from_secs(2))),
                ("slow".into(), None),
            ],
        };
        assert_eq!(d.for_plugin("ldap"), Some(Duration::from_secs(2)));
        assert_eq!(d.for_plugin("slow"), None);
        assert_eq!(d.for_plugin("other"), Some(Duration::from_secs(10)));
        assert_eq!(d.wait_limit(), Some(Duration::from_secs(10)));
        let only = Deadlines {
            default: None,
            per_plugin: vec![
                ("a".into(), Some(Duration::from_secs(1))),
                ("b".into(), Some(Duration::from_secs(3))),
            ],
        };
        assert_eq!(only.for_plugin("c"), None);
        assert_eq!(only.wait_limit(), Some(Duration::from_secs(3)));
        assert_eq!(Deadlines::default().wait_limit(), None);
    }

    #[test]
    fn calls_without_a_watch_run_plainly() {
        assert_eq!(watched("x", Role::Identifier, || Ok(5)), Ok(5));
    }
}
