//! Load for the fault, scale-out and soak tests: a few client tasks sending requests in a
//! loop until told to stop, each checking its own answer, and a tally of what went right and
//! what went wrong (nothing may be lost: every request is either a success or a recorded
//! failure with its reason).
#![allow(dead_code)]

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a load run saw.
#[derive(Debug, Default)]
pub struct Report {
    /// Requests answered as expected.
    pub ok: u64,
    /// Requests that were not, each with its reason (the first 50).
    pub failures: Vec<String>,
    /// How many failed in all.
    pub failed: u64,
}

impl Report {
    /// Fails the test, listing the failures, unless every request succeeded and at least
    /// `min_ok` did.
    pub fn assert_clean(&self, min_ok: u64, what: &str) {
        assert!(
            self.failed == 0,
            "{what}: {} of {} requests failed; first failures:\n{}",
            self.failed,
            self.failed + self.ok,
            self.failures.join("\n")
        );
        assert!(
            self.ok >= min_ok,
            "{what}: only {} requests were answered (expected at least {min_ok})",
            self.ok
        );
    }
}

/// A running load: `workers` tasks each calling `check(worker, iteration)` until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Starts the load. `check` sends one request and says whether its answer was right.
    pub fn start<F, Fut>(workers: usize, check: F) -> Load
    where
        F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let check = Arc::new(check);
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let tasks = (0..workers)
            .map(|w| {
                let (check, stop, ok, failed, failures) = (
                    check.clone(),
                    stop.clone(),
                    ok.clone(),
                    failed.clone(),
                    failures.clone(),
                );
                tokio::spawn(async move {
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        match check(w, i).await {
                            Ok(()) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                let mut f = failures.lock().unwrap();
                                if f.len() < 50 {
                                    f.push(format!("worker {w} request {i}: {e}"));
                                }
                            }
                        }
                        i += 1;
                    }
                })
            })
            .collect();
        Load {
            stop,
            ok,
            failed,
            failures,
            tasks,
        }
    }

    /// Requests answered as expected so far.
    pub fn ok(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }

    /// Waits (bounded by `within`) until at least `n` more requests than now succeeded.
    pub async fn wait_for_more(&self, n: u64, within: Duration) -> bool {
        let target = self.ok() + n;
        let end = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < end {
            if self.ok() >= target {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// Stops the workers (each finishes its request in flight) and reports.
    pub async fn stop(self) -> Report {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            if let Err(e) = t.await {
                self.failed.fetch_add(1, Ordering::Relaxed);
                self.failures
                    .lock()
                    .unwrap()
                    .push(format!("a load task died: {e}"));
            }
        }
        Report {
            ok: self.ok.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            failures: std::mem::take(&mut self.failures.lock().unwrap()),
        }
    }
}

/// `Authorization: Basic base64(user:password)`.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// Runs Apache's real `htpasswd` to add or update a user in `file` (bcrypt, low cost so load
/// tests stay fast); creates the file with `create`.
pub fn htpasswd(file: &std::path::Path, user: &str, password: &str, create: bool) {
    let bin = "/usr/bin/htpasswd";
    assert!(
        std::path::Path::new(bin).is_file(),
        "{bin} is missing: install apache2-utils (`bash .ci/install` does)"
    );
    let mut cmd = std::process::Command::new(bin);
    cmd.arg(if create { "-cbB" } else { "-bB" })
        .args(["-C", "4"])
        .arg(file)
        .args([user, password]);
    let out = cmd.output().expect("run htpasswd");
    assert!(
        out.status.success(),
        "htpasswd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn basic_header_encodes_like_base64() {
    assert_eq!(basic("alice", "secret"), "Basic YWxpY2U6c2VjcmV0");
    assert_eq!(basic("a", "b"), "Basic YTpi");
    assert_eq!(basic("ab", "c"), "Basic YWI6Yw==");
}
