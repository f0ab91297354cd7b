//! Fault: who.ini rewritten and reloaded with SIGHUP again and again while `rewho serve` is
//! under load, including once with a broken file.
//!
//! What users see: no failed request, ever. Requests in flight finish on the config they
//! started with; a user both configs allow is always let in; a user only the new config
//! allows is let in once the reload is logged; a broken file is refused and the previous
//! config keeps serving.
#![cfg(feature = "server")]

mod common;
mod load_support;
mod serve_support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{plugin_so, who_ini};
use load_support::Load;
use serve_support::{Http, Rewho};

/// A config accepting `logins` (with password `secret`); `slow_accept` declares I/O, so
/// requests run on the blocking pool and stay in flight across reloads.
fn config(logins: &str) -> String {
    format!(
        r#"
[plugin:hdr]
use = {testkit}:header_identifier

[plugin:accept]
use = {testkit}:slow_accept
logins = {logins}
sleep_ms = 2

[plugin:marker]
use = {testkit}:marker_challenger

[identifiers]
plugins = hdr
[authenticators]
plugins = accept
[challengers]
plugins = marker
"#,
        testkit = plugin_so("testkit").display()
    )
}

/// Replaces the file atomically (write a sibling, then rename over it), as editors and
/// config management do.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("ini.new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_under_load_lose_no_request() {
    let ini = who_ini(&config("alice"));
    let rewho = Rewho::start(&["--config", ini.path.to_str().unwrap()]);
    let http = Http::new();
    let url = rewho.url("/_rewho/auth");
    // Set once the config allowing bob has been reloaded (and never unset: later configs
    // allow him too), so bob's requests sent after that must pass.
    let bob_allowed = Arc::new(AtomicBool::new(false));
    let allowed = bob_allowed.clone();
    let load = Load::start(4, move |w, _| {
        let (http, url, allowed) = (http.clone(), url.clone(), allowed.clone());
        async move {
            let user = if w % 2 == 0 { "alice" } else { "bob" };
            let must_pass = user == "alice" || allowed.load(Ordering::SeqCst);
            let r = http
                .get(
                    &url,
                    &[("x-test-login", user), ("x-test-password", "secret")],
                )
                .await;
            match (r.status.as_u16(), r.header("x-remote-user")) {
                (200, Some(u)) if u == user => Ok(()),
                (401, None) if !must_pass => Ok(()),
                _ => Err(format!("{user} (must pass: {must_pass}): {r:?}")),
            }
        }
    });
    assert!(load.wait_for_more(30, Duration::from_secs(20)).await);

    // Reload 1: bob is added.
    replace(&ini.path, &config("alice bob"));
    rewho.signal(libc::SIGHUP);
    assert!(
        rewho.wait_for_log("config reloaded", Duration::from_secs(20)),
        "{}",
        rewho.log()
    );
    bob_allowed.store(true, Ordering::SeqCst);
    assert!(load.wait_for_more(30, Duration::from_secs(20)).await);

    // A broken file: refused, the running config stays.
    replace(&ini.path, "[identifiers]\nplugins = nosuchplugin\n");
    rewho.signal(libc::SIGHUP);
    assert!(
        rewho.wait_for_log("config reload refused", Duration::from_secs(20)),
        "{}",
        rewho.log()
    );
    assert!(load.wait_for_more(30, Duration::from_secs(20)).await);

    // More reloads in quick succession, each a config allowing both.
    for i in 0..5 {
        let users = if i % 2 == 0 {
            "bob alice"
        } else {
            "alice bob carol"
        };
        replace(&ini.path, &config(users));
        rewho.signal(libc::SIGHUP);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let reloads = |log: &str| log.matches("config reloaded").count();
    let end = tokio::time::Instant::now() + Duration::from_secs(20);
    while reloads(&rewho.log()) < 2 && tokio::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(load.wait_for_more(30, Duration::from_secs(20)).await);
    let report = load.stop().await;
    report.assert_clean(120, "reloads under load");
    assert!(reloads(&rewho.log()) >= 2, "{}", rewho.log());
}
