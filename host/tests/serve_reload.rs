//! `rewho serve` reloads and shutdown, on the real binary: SIGHUP and `--watch` rebuild the
//! factory from who.ini (a changed option takes effect, requests in flight finish on the old
//! factory, a broken config is refused with its error and the old one keeps serving, new
//! plugin libraries load and loaded ones stay), and SIGTERM/SIGINT let the request in flight
//! finish before the process exits 0.
#![cfg(feature = "server")]

mod common;
mod serve_support;

use std::path::Path;
use std::time::{Duration, Instant};

use serve_support::{apache_htpasswd, basic, metric_value, Http, Resp, Rewho};

/// `who` identifies `X-User` and accepts anyone; `slowpoke` (only for requests with
/// `X-Class: slow`) records each call in `calls` before sleeping `sleep_ms`; `md` sets
/// `X-Test-Md: <value>` downstream.
fn config(md_value: &str, sleep_ms: u64) -> String {
    format!(
        r#"[general]
request_classifier = testkit:header_classifier

[plugin:who]
use = testkit:counting
identity_headers = login:X-User
count_file = %(here)s/who-calls
logins = alice slow

[plugin:slowpoke]
use = testkit:counting
count_file = %(here)s/calls
sleep_ms = {sleep_ms}
logins = slow

[plugin:md]
use = testkit:add_metadata
key = version
value = {md_value}

[plugin:marker]
use = testkit:marker_challenger

[identifiers]
plugins = who

[authenticators]
plugins =
    who;browser
    slowpoke;slow

[challengers]
plugins = marker

[mdproviders]
plugins = md
"#
    )
}

struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new(text: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let site = Site { dir };
        site.write(text);
        site
    }

    fn ini(&self) -> std::path::PathBuf {
        self.dir.path().join("who.ini")
    }

    /// Replaces who.ini in one step (write a temp file, rename), as editors and config
    /// management do, so a reload never reads half a file.
    fn write(&self, text: &str) {
        let tmp = self.dir.path().join("who.ini.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.ini()).unwrap();
    }

    /// Calls that reached `slowpoke` so far (it records each one before sleeping).
    fn slow_calls(&self) -> u64 {
        std::fs::metadata(self.dir.path().join("calls")).map_or(0, |m| m.len())
    }

    fn start(&self, extra: &[&str]) -> Rewho {
        let ini = self.ini();
        let mut args = vec!["--config", ini.to_str().unwrap()];
        args.extend_from_slice(extra);
        Rewho::start(&args)
    }
}

fn wait_until(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn auth(http: &Http, rewho: &Rewho, user: &str, class: &str) -> Resp {
    http.get(
        &rewho.url("/_rewho/auth"),
        &[("x-user", user), ("x-class", class)],
    )
    .await
}

fn md(r: &Resp) -> Option<&str> {
    r.header("x-test-md")
}

/// The value of one metrics line, e.g. `rewho_reloads_total{result="ok"}`.
async fn metric(http: &Http, rewho: &Rewho, line: &str) -> u64 {
    let m = http.get(&rewho.url("/_rewho/metrics"), &[]).await;
    metric_value(&m.body, line).unwrap_or_else(|| panic!("no `{line}` in\n{}", m.body))
}

/// Starts a slow request and returns once it is inside the slow plugin.
fn in_flight(http: &Http, rewho: &Rewho, site: &Site) -> tokio::task::JoinHandle<Resp> {
    let before = site.slow_calls();
    let http = http.clone();
    let url = rewho.url("/_rewho/auth");
    let task = tokio::spawn(async move {
        http.get(&url, &[("x-user", "slow"), ("x-class", "slow")])
            .await
    });
    wait_until(
        "the slow request to reach its plugin",
        Duration::from_secs(30),
        || site.slow_calls() > before,
    );
    task
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_applies_a_changed_option_and_the_request_in_flight_finishes_on_the_old_one() {
    let site = Site::new(&config("v1", 5000));
    let rewho = site.start(&[]);
    let http = Http::new();
    assert_eq!(
        md(&auth(&http, &rewho, "alice", "browser").await),
        Some("v1")
    );

    let slow = in_flight(&http, &rewho, &site);
    site.write(&config("v2", 0));
    rewho.signal(libc::SIGHUP);
    assert!(
        rewho.wait_for_log("config reloaded", Duration::from_secs(30)),
        "{}",
        rewho.log()
    );
    let r = auth(&http, &rewho, "alice", "browser").await;
    assert_eq!((r.status.as_u16(), md(&r)), (200, Some("v2")), "{r:?}");
    // The new slowpoke does not sleep: this one finishes while the old one is still asleep.
    let r = auth(&http, &rewho, "slow", "slow").await;
    assert_eq!(md(&r), Some("v2"));
    assert!(
        !slow.is_finished(),
        "the request in flight did not wait for its plugin"
    );

    let old = slow.await.unwrap();
    assert_eq!(old.status, 200, "{old:?}");
    assert_eq!(old.header("x-remote-user"), Some("slow"));
    assert_eq!(
        md(&old),
        Some("v1"),
        "the request in flight switched factories"
    );
    assert_eq!(
        metric(&http, &rewho, "rewho_reloads_total{result=\"ok\"}").await,
        1
    );
    assert!(rewho.log().contains("SIGHUP: reloading the config"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_config_is_refused_with_its_error_and_the_old_one_keeps_serving() {
    let site = Site::new(&config("v1", 0));
    let rewho = site.start(&[]);
    let http = Http::new();

    // An unknown option in [plugin:md].
    let broken = config("v2", 0).replace("value = v2\n", "value = v2\ncolour = blue\n");
    site.write(&broken);
    rewho.signal(libc::SIGHUP);
    assert!(
        rewho.wait_for_log("config reload refused", Duration::from_secs(30)),
        "{}",
        rewho.log()
    );
    let log = rewho.log();
    let line = log
        .lines()
        .find(|l| l.contains("colour"))
        .unwrap_or_else(|| panic!("the error is not logged:\n{log}"));
    // `<file>:<line>: [plugin:md]: unknown option `colour`...` (after `<file>: cannot load
    // the config:` and an escaped line break: a log line holds one event).
    let path = format!("{}:", site.ini().display());
    let located = line.match_indices(path.as_str()).any(|(at, _)| {
        let rest = &line[at + path.len()..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        digits > 0 && rest[digits..].starts_with(": [plugin:md]")
    });
    assert!(
        located,
        "the error does not name the file, line and section: {line}"
    );
    assert!(log.contains("still serving the previous config"), "{log}");
    let r = auth(&http, &rewho, "alice", "browser").await;
    assert_eq!((r.status.as_u16(), md(&r)), (200, Some("v1")), "{r:?}");

    // A plugin library that does not exist: refused too, naming the section.
    let missing = config("v2", 0).replace("use = testkit:add_metadata", "use = no_such_plugin");
    site.write(&missing);
    rewho.signal(libc::SIGHUP);
    wait_until("the second refusal", Duration::from_secs(30), || {
        rewho.log().matches("config reload refused").count() == 2
    });
    assert!(rewho.log().contains("no_such_plugin"), "{}", rewho.log());
    assert_eq!(
        md(&auth(&http, &rewho, "alice", "browser").await),
        Some("v1")
    );
    assert_eq!(
        metric(&http, &rewho, "rewho_reloads_total{result=\"error\"}").await,
        2
    );

    // Fixed: the next reload takes.
    site.write(&config("v3", 0));
    rewho.signal(libc::SIGHUP);
    assert!(rewho.wait_for_log("config reloaded", Duration::from_secs(30)));
    assert_eq!(
        md(&auth(&http, &rewho, "alice", "browser").await),
        Some("v3")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_reloads_when_the_file_changes() {
    let site = Site::new(&config("v1", 0));
    let rewho = site.start(&["--watch", "--watch-interval", "0.1"]);
    let http = Http::new();
    assert_eq!(
        md(&auth(&http, &rewho, "alice", "browser").await),
        Some("v1")
    );
    site.write(&config("version-two", 0));
    assert!(
        rewho.wait_for_log("config reloaded", Duration::from_secs(30)),
        "{}",
        rewho.log()
    );
    assert!(rewho.log().contains("config file changed"));
    assert_eq!(
        md(&auth(&http, &rewho, "alice", "browser").await),
        Some("version-two")
    );
    // A broken edit is refused while watching too.
    site.write("[plugin:x\n");
    assert!(rewho.wait_for_log("config reload refused", Duration::from_secs(30)));
    assert_eq!(
        md(&auth(&http, &rewho, "alice", "browser").await),
        Some("version-two")
    );
}

/// The plugin libraries mapped into process `pid`.
fn mapped_plugins(pid: u32) -> Vec<String> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mut libs: Vec<String> = maps
        .lines()
        // The host maps private copies, unlinked once mapped: "… (deleted)".
        .filter_map(|l| l.trim_end_matches(" (deleted)").rsplit('/').next())
        .filter(|f| f.starts_with("librewho_plugin_") && f.ends_with(".so"))
        .map(|f| f["librewho_plugin_".len()..f.len() - 3].to_owned())
        .collect();
    libs.sort();
    libs.dedup();
    libs
}

fn htpasswd_file(dir: &Path) {
    apache_htpasswd(&dir.join("passwd"), &["-B", "-C", "4"], "carol", "pw", true);
}

const STANDARD: &str = r#"[plugin:basicauth]
use = basicauth
realm = reloaded

[plugin:htpasswd]
use = htpasswd
filename = %(here)s/passwd

[identifiers]
plugins = basicauth

[authenticators]
plugins = htpasswd

[challengers]
plugins = basicauth
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_loads_new_libraries_and_keeps_the_loaded_ones() {
    serve_support::require_standard_plugins();
    let site = Site::new(&config("v1", 0));
    htpasswd_file(site.dir.path());
    let rewho = site.start(&[]);
    let pid = rewho.child.id();
    let http = Http::new();
    assert_eq!(mapped_plugins(pid), ["testkit"]);

    // Only the standard plugins now: their libraries load; testkit's stays mapped.
    site.write(STANDARD);
    rewho.signal(libc::SIGHUP);
    assert!(rewho.wait_for_log("config reloaded", Duration::from_secs(30)));
    assert_eq!(mapped_plugins(pid), ["basicauth", "htpasswd", "testkit"]);
    let r = http
        .get(
            &rewho.url("/_rewho/auth"),
            &[("authorization", &basic("carol", "pw"))],
        )
        .await;
    assert_eq!(r.header("x-remote-user"), Some("carol"), "{r:?}");
    let r = auth(&http, &rewho, "alice", "browser").await;
    assert_eq!(r.status, 401, "the old config still answers: {r:?}");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"reloaded\"")
    );

    // Back to testkit: the library already loaded builds the new config's plugins.
    let before = rewho.log().matches("config reloaded").count();
    site.write(&config("again", 0));
    rewho.signal(libc::SIGHUP);
    wait_until("the second reload", Duration::from_secs(30), || {
        rewho.log().matches("config reloaded").count() > before
    });
    assert_eq!(
        md(&auth(&http, &rewho, "alice", "browser").await),
        Some("again")
    );
    assert_eq!(mapped_plugins(pid), ["basicauth", "htpasswd", "testkit"]);
}

async fn shutdown_with(sig: i32, name: &str) {
    let site = Site::new(&config("v1", 2000));
    let mut rewho = site.start(&["--grace", "30"]);
    let http = Http::new();
    let slow = in_flight(&http, &rewho, &site);
    rewho.signal(sig);
    let r = slow.await.unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("x-remote-user"), Some("slow"));
    let status = rewho
        .wait_exit(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("still running after {name}:\n{}", rewho.log()));
    assert_eq!(status.code(), Some(0), "{}", rewho.log());
    let log = rewho.log();
    assert!(log.contains(&format!("{name} received")), "{log}");
    assert!(log.contains("finishing requests in flight"), "{log}");
    assert!(
        std::net::TcpStream::connect(rewho.addr).is_err(),
        "still accepting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_request_in_flight_finish_then_exits_0() {
    shutdown_with(libc::SIGTERM, "SIGTERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_lets_the_request_in_flight_finish_then_exits_0() {
    shutdown_with(libc::SIGINT, "SIGINT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_longer_than_the_grace_does_not_hold_the_exit() {
    let site = Site::new(&config("v1", 20_000));
    let mut rewho = site.start(&["--grace", "1"]);
    let http = Http::new();
    let slow = in_flight(&http, &rewho, &site);
    let signalled = Instant::now();
    rewho.signal(libc::SIGTERM);
    let status = rewho
        .wait_exit(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("the exit waited for the plugin:\n{}", rewho.log()));
    assert!(signalled.elapsed() < Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "{}", rewho.log());
    assert!(rewho.log().contains("grace period over"), "{}", rewho.log());
    // The client sees the connection closed, not an answer that grants access.
    let outcome = tokio::time::timeout(Duration::from_secs(10), slow).await;
    if let Ok(Ok(r)) = outcome {
        panic!("the cut-off request got an answer: {r:?}");
    }
}
