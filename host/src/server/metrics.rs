//! Counters for `GET /_rewho/metrics`, in Prometheus' text format: per-plugin calls, failures
//! and latency (fed by [`CallObserver`]), requests by endpoint and outcome, reloads.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use super::conns::Closed;
use crate::{CallObserver, Role};

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 9] = [
    0.000_001, 0.000_005, 0.000_025, 0.000_1, 0.000_5, 0.002_5, 0.01, 0.1, 1.0,
];

/// The endpoints and outcomes counted without a lock (see [`Metrics::request`]).
pub(super) const ENDPOINTS: [&str; 5] = ["auth", "login", "logout", "metrics", "app"];
pub(super) const OUTCOMES: [&str; 10] = [
    "authenticated",
    "anonymous",
    "challenged",
    "responded",
    "no_challenger",
    "login_ok",
    "login_failed",
    "timed_out",
    "logout",
    "none",
];

#[derive(Default)]
struct PluginStats {
    calls: AtomicU64,
    failures: AtomicU64,
    nanos: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
}

/// Everything `/_rewho/metrics` reports. Shared by every factory a server builds, so counts
/// survive a reload.
#[derive(Default)]
pub struct Metrics {
    /// `(role, plugin)` → counters. This is looked up on every plugin call of every request,
    /// so it is a short list scanned in place (a few dozen entries at most; no key hashing or
    /// allocation, counted under the read lock without `Arc` traffic). Profiled: SipHash of
    /// the key and a `String` for it cost about 600 instructions per call.
    plugins: RwLock<Vec<(&'static str, String, PluginStats)>>,
    /// Requests by the endpoints and outcomes the server knows: one atomic each, since every
    /// request counts here (a map under a lock made the two reactor threads queue for it).
    requests: [[AtomicU64; OUTCOMES.len()]; ENDPOINTS.len()],
    /// Any other `(endpoint, outcome)`.
    other_requests: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    /// Requests of I/O chains tried inline and kept there, or moved to a blocking thread.
    inline_kept: AtomicU64,
    inline_moved: AtomicU64,
    /// Connections the server closed, by [`Closed`] reason.
    connections_closed: [AtomicU64; Closed::ALL.len()],
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Identifier => "identifier",
        Role::Authenticator => "authenticator",
        Role::Challenger => "challenger",
        Role::MetadataProvider => "mdprovider",
        Role::RequestClassifier => "classifier",
        Role::ChallengeDecider => "decider",
        Role::Authorizer => "authorizer",
    }
}

impl CallObserver for Metrics {
    fn inline_attempt(&self, kept: bool) {
        if kept {
            &self.inline_kept
        } else {
            &self.inline_moved
        }
        .fetch_add(1, Relaxed);
    }

    fn plugin_call(&self, plugin: &str, role: Role, elapsed: Duration, ok: bool) {
        let role = role_name(role);
        let count = |stats: &PluginStats| {
            stats.calls.fetch_add(1, Relaxed);
            if !ok {
                stats.failures.fetch_add(1, Relaxed);
            }
            let secs = elapsed.as_secs_f64();
            stats.nanos.fetch_add(
                u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
                Relaxed,
            );
            if let Some(i) = BUCKETS.iter().position(|&b| secs <= b) {
                stats.buckets[i].fetch_add(1, Relaxed);
            }
        };
        {
            let list = self.plugins.read().unwrap_or_else(|e| e.into_inner());
            if let Some((_, _, stats)) = list.iter().find(|(r, p, _)| *r == role && p == plugin) {
                count(stats);
                return;
            }
        }
        // First call of this plugin in this role: add its counters (unless a racing call did).
        let mut list = self.plugins.write().unwrap_or_else(|e| e.into_inner());
        match list.iter().position(|(r, p, _)| *r == role && p == plugin) {
            Some(i) => count(&list[i].2),
            None => {
                let stats = PluginStats::default();
                count(&stats);
                list.push((role, plugin.to_owned(), stats));
            }
        }
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Counts one request to `endpoint` (`auth`, `login`, `logout`, `app`) with `outcome`.
    pub fn request(&self, endpoint: &'static str, outcome: &'static str) {
        let e = ENDPOINTS.iter().position(|&n| n == endpoint);
        let o = OUTCOMES.iter().position(|&n| n == outcome);
        match (e, o) {
            (Some(e), Some(o)) => {
                self.requests[e][o].fetch_add(1, Relaxed);
            }
            _ => {
                *self
                    .other_requests
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry((endpoint, outcome))
                    .or_default() += 1;
            }
        }
    }

    /// Counts a reload.
    pub fn reload(&self, ok: bool) {
        if ok {
            &self.reloads_ok
        } else {
            &self.reloads_failed
        }
        .fetch_add(1, Relaxed);
    }

    /// Counts a connection the server closed (timeouts, the connection cap).
    pub(crate) fn connection_closed(&self, reason: Closed) {
        self.connections_closed[reason as usize].fetch_add(1, Relaxed);
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let list = self.plugins.read().unwrap_or_else(|e| e.into_inner());
        let mut plugins: Vec<((String, &'static str), &PluginStats)> = list
            .iter()
            .map(|(role, plugin, s)| ((plugin.clone(), *role), s))
            .collect();
        plugins.sort_by(|a, b| a.0.cmp(&b.0));
        let labels = |(p, r): &(String, &str)| format!("plugin=\"{}\",role=\"{r}\"", escape(p));
        let _ = writeln!(
            out,
            "# HELP rewho_plugin_calls_total Plugin calls, by plugin and role."
        );
        let _ = writeln!(out, "# TYPE rewho_plugin_calls_total counter");
        for (k, s) in &plugins {
            let _ = writeln!(
                out,
                "rewho_plugin_calls_total{{{}}} {}",
                labels(k),
                s.calls.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP rewho_plugin_failures_total Plugin calls that returned an error (or panicked)."
        );
        let _ = writeln!(out, "# TYPE rewho_plugin_failures_total counter");
        for (k, s) in &plugins {
            let _ = writeln!(
                out,
                "rewho_plugin_failures_total{{{}}} {}",
                labels(k),
                s.failures.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP rewho_plugin_call_duration_seconds Time spent in one plugin call."
        );
        let _ = writeln!(out, "# TYPE rewho_plugin_call_duration_seconds histogram");
        for (k, s) in &plugins {
            let l = labels(k);
            let mut cumulative = 0;
            for (i, b) in BUCKETS.iter().enumerate() {
                cumulative += s.buckets[i].load(Relaxed);
                let _ = writeln!(
                    out,
                    "rewho_plugin_call_duration_seconds_bucket{{{l},le=\"{b}\"}} {cumulative}"
                );
            }
            let calls = s.calls.load(Relaxed);
            let _ = writeln!(
                out,
                "rewho_plugin_call_duration_seconds_bucket{{{l},le=\"+Inf\"}} {calls}"
            );
            let _ = writeln!(
                out,
                "rewho_plugin_call_duration_seconds_sum{{{l}}} {}",
                s.nanos.load(Relaxed) as f64 / 1e9
            );
            let _ = writeln!(
                out,
                "rewho_plugin_call_duration_seconds_count{{{l}}} {calls}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP rewho_requests_total Requests, by endpoint and chain outcome."
        );
        let _ = writeln!(out, "# TYPE rewho_requests_total counter");
        let mut requests = self
            .other_requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for (e, endpoint) in ENDPOINTS.iter().enumerate() {
            for (o, outcome) in OUTCOMES.iter().enumerate() {
                let n = self.requests[e][o].load(Relaxed);
                if n > 0 {
                    requests.insert((endpoint, outcome), n);
                }
            }
        }
        for ((endpoint, outcome), n) in &requests {
            let _ = writeln!(
                out,
                "rewho_requests_total{{endpoint=\"{endpoint}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP rewho_inline_runs_total Runs of chains holding I/O plugins that asked before \
             blocking: kept on the reactor thread, or moved to a blocking thread."
        );
        let _ = writeln!(out, "# TYPE rewho_inline_runs_total counter");
        for (result, n) in [("kept", &self.inline_kept), ("moved", &self.inline_moved)] {
            let _ = writeln!(
                out,
                "rewho_inline_runs_total{{result=\"{result}\"}} {}",
                n.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP rewho_connections_closed_total Connections the server closed: no request \
             head in time, idle, or at the connection cap (evicted to admit another, or refused)."
        );
        let _ = writeln!(out, "# TYPE rewho_connections_closed_total counter");
        for reason in Closed::ALL {
            let _ = writeln!(
                out,
                "rewho_connections_closed_total{{reason=\"{}\"}} {}",
                reason.name(),
                self.connections_closed[reason as usize].load(Relaxed)
            );
        }
        let _ = writeln!(out, "# HELP rewho_reloads_total Config reloads, by result.");
        let _ = writeln!(out, "# TYPE rewho_reloads_total counter");
        let _ = writeln!(
            out,
            "rewho_reloads_total{{result=\"ok\"}} {}",
            self.reloads_ok.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "rewho_reloads_total{{result=\"error\"}} {}",
            self.reloads_failed.load(Relaxed)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_cumulative_buckets() {
        let m = Metrics::default();
        m.plugin_call(
            "auth_tkt",
            Role::Identifier,
            Duration::from_nanos(800),
            true,
        );
        m.plugin_call(
            "auth_tkt",
            Role::Identifier,
            Duration::from_micros(50),
            false,
        );
        m.plugin_call("we\"ird", Role::Authenticator, Duration::from_secs(5), true);
        m.request("auth", "authenticated");
        m.reload(false);
        let text = m.render();
        assert!(
            text.contains("rewho_plugin_calls_total{plugin=\"auth_tkt\",role=\"identifier\"} 2")
        );
        assert!(
            text.contains("rewho_plugin_failures_total{plugin=\"auth_tkt\",role=\"identifier\"} 1")
        );
        assert!(text.contains(
            "rewho_plugin_call_duration_seconds_bucket{plugin=\"auth_tkt\",role=\"identifier\",le=\"0.000001\"} 1"
        ));
        assert!(text.contains(
            "rewho_plugin_call_duration_seconds_bucket{plugin=\"auth_tkt\",role=\"identifier\",le=\"0.0001\"} 2"
        ));
        assert!(text.contains("plugin=\"we\\\"ird\""));
        assert!(text.contains(
            "rewho_plugin_call_duration_seconds_bucket{plugin=\"we\\\"ird\",role=\"authenticator\",le=\"1\"} 0"
        ));
        assert!(
            text.contains("rewho_requests_total{endpoint=\"auth\",outcome=\"authenticated\"} 1")
        );
        assert!(text.contains("rewho_reloads_total{result=\"error\"} 1"));
    }
}
