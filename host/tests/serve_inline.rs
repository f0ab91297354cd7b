//! Inline-first runs of I/O chains in `rewho serve` (`Plugin::ASKS_BEFORE_BLOCKING`): with
//! htpasswd in the chain, requests whose plugins never need to block stay on the reactor
//! thread, and the ones that do (a bcrypt check, the once-a-second look at the password
//! file) move to a blocking thread and still get the right answer. Counted by the server's
//! own `rewho_inline_runs_total` metric; password files are written by Apache's `htpasswd`.
#![cfg(feature = "server")]

mod common;
mod serve_support;

use std::path::Path;
use std::time::Duration;

use serve_support::{apache_htpasswd, basic, metric_value, require_standard_plugins, Http, Rewho};

/// Adds `user` to the password file `passwd` with Apache's `htpasswd` (`flag`: `-s` for
/// `{SHA}`, `-B` for bcrypt at the lowest cost), creating it when `create`.
fn htpasswd(passwd: &Path, flag: &str, user: &str, password: &str, create: bool) {
    let flags: &[&str] = if flag == "-B" {
        &["-B", "-C", "4"]
    } else {
        &[flag]
    };
    apache_htpasswd(passwd, flags, user, password, create);
}

/// A who.ini with basicauth and htpasswd on `passwd`, and a server on it.
fn start(dir: &Path) -> Rewho {
    require_standard_plugins();
    let ini = dir.join("who.ini");
    std::fs::write(
        &ini,
        "[plugin:basicauth]\nuse = basicauth\nrealm = inline\n\n\
         [plugin:htpasswd]\nuse = htpasswd\nfilename = %(here)s/passwd\n\n\
         [identifiers]\nplugins = basicauth\n[authenticators]\nplugins = htpasswd\n\
         [challengers]\nplugins = basicauth\n",
    )
    .unwrap();
    Rewho::start(&["--config", ini.to_str().unwrap()])
}

/// `(kept, moved, htpasswd failures)` from `/_rewho/metrics`.
async fn counts(http: &Http, rewho: &Rewho) -> (u64, u64, u64) {
    let m = http.get(&rewho.url("/_rewho/metrics"), &[]).await;
    let value = |line: &str| -> u64 {
        metric_value(&m.body, line).unwrap_or_else(|| panic!("no `{line}` in\n{}", m.body))
    };
    let failures =
        metric_value(&m.body, "rewho_plugin_failures_total{plugin=\"htpasswd\"").unwrap_or(0);
    (
        value("rewho_inline_runs_total{result=\"kept\"}"),
        value("rewho_inline_runs_total{result=\"moved\"}"),
        failures,
    )
}

async fn auth(http: &Http, rewho: &Rewho, header: Option<&str>) -> (u16, Option<String>) {
    let headers: Vec<(&str, &str)> = header.map(|h| ("authorization", h)).into_iter().collect();
    let r = http.get(&rewho.url("/_rewho/auth"), &headers).await;
    (
        r.status.as_u16(),
        r.header("x-remote-user").map(str::to_owned),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_hashes_stay_inline_and_a_changed_file_still_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    htpasswd(&passwd, "-s", "alice", "a-pass", true);
    let rewho = start(dir.path());
    let http = Http::new();

    let alice = basic("alice", "a-pass");
    let wrong = basic("alice", "nope");
    const N: u64 = 200;
    let started = std::time::Instant::now();
    for i in 0..N {
        let (status, user) = if i % 2 == 0 {
            auth(&http, &rewho, Some(&alice)).await
        } else {
            auth(&http, &rewho, Some(&wrong)).await
        };
        if i % 2 == 0 {
            assert_eq!((status, user.as_deref()), (200, Some("alice")));
        } else {
            assert_eq!((status, user), (401, None));
        }
    }
    let secs = started.elapsed().as_secs() + 1;
    let (kept, moved, failures) = counts(&http, &rewho).await;
    assert_eq!(kept + moved, N, "every auth request was tried inline once");
    // Only the request that finds the once-a-second file check due may move.
    assert!(
        moved <= secs,
        "{moved} of {N} moved in {secs} s: {{SHA}} checks block nothing"
    );
    assert_eq!(
        failures, 0,
        "stopping before blocking is not a plugin failure"
    );

    // A user added to the file is found: the due check moves one request to a blocking
    // thread, which stats and reloads the file.
    htpasswd(&passwd, "-s", "bob", "b-pass", false);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, user) = auth(&http, &rewho, Some(&basic("bob", "b-pass"))).await;
    assert_eq!((status, user.as_deref()), (200, Some("bob")));
    let (_, moved_after, failures) = counts(&http, &rewho).await;
    assert!(moved_after > moved, "the reload ran on a blocking thread");
    assert_eq!(failures, 0);
    assert!(
        !rewho.log().contains("plugin call failed"),
        "early returns are not logged as failures:\n{}",
        rewho.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bcrypt_checks_move_to_a_blocking_thread_and_requests_without_credentials_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    htpasswd(&passwd, "-B", "carol", "c-pass", true);
    let rewho = start(dir.path());
    let http = Http::new();

    let (kept0, moved0, _) = counts(&http, &rewho).await;
    const N: u64 = 20;
    for _ in 0..N {
        let (status, user) = auth(&http, &rewho, Some(&basic("carol", "c-pass"))).await;
        assert_eq!((status, user.as_deref()), (200, Some("carol")));
        // An unknown user is checked against a real bcrypt entry too (equal timing), so
        // it moves as well, and is refused.
        let (status, user) = auth(&http, &rewho, Some(&basic("mallory", "c-pass"))).await;
        assert_eq!((status, user), (401, None));
    }
    let (kept1, moved1, failures) = counts(&http, &rewho).await;
    assert_eq!(
        moved1 - moved0,
        2 * N,
        "every bcrypt check left the reactor thread"
    );
    assert_eq!(kept1, kept0);
    assert_eq!(failures, 0);

    // Anonymous requests give htpasswd nothing to check: no reason to move.
    for _ in 0..N {
        assert_eq!(auth(&http, &rewho, None).await, (401, None));
    }
    let (kept2, moved2, _) = counts(&http, &rewho).await;
    assert!(kept2 - kept1 >= N - 2, "anonymous requests stayed inline");
    assert!(moved2 - moved1 <= 2, "at most the file checks moved");
}
