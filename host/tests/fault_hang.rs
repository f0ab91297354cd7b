//! Fault: a plugin that hangs (testkit's `hang`, a stuck network call) under `rewho serve`,
//! with `[general] call_timeout`.
//!
//! What users see: the request whose chain is stuck gets a 503 after about `call_timeout`
//! (never an endless wait); the log names the plugin's section and the call. While that call
//! stays stuck, other requests skip the plugin and are answered by the rest of the chain, so
//! nobody else waits; once the call returns, the plugin is used again.
#![cfg(feature = "server")]

mod common;
mod serve_support;

use std::time::{Duration, Instant};

use common::who_ini;
use serve_support::{Http, Rewho};

/// `hang` stuck for carol (`seconds` as given; absent: forever), then `accept` for everyone.
fn ini(call_timeout: &str, hang_seconds: Option<f64>) -> String {
    let seconds = hang_seconds.map_or(String::new(), |s| format!("seconds = {s}"));
    format!(
        r#"
[general]
call_timeout = {call_timeout}

[plugin:hdr]
use = @TESTKIT@:header_identifier

[plugin:hang]
use = @TESTKIT@:hang
logins = carol
{seconds}

[plugin:accept]
use = @TESTKIT@:accept
logins = alice bob carol
password = secret

[plugin:marker]
use = @TESTKIT@:marker_challenger

[identifiers]
plugins = hdr
[authenticators]
plugins = hang accept
[challengers]
plugins = marker
"#
    )
}

fn creds(user: &'static str) -> [(&'static str, &'static str); 2] {
    [("x-test-login", user), ("x-test-password", "secret")]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_plugin_gets_a_503_names_the_plugin_and_is_skipped_while_stuck() {
    let ini = who_ini(&ini("0.5", None));
    let rewho = Rewho::start(&["--config", ini.path.to_str().unwrap()]);
    let http = Http::new();
    let auth = rewho.url("/_rewho/auth");

    // Before anything hangs: alice passes through `hang` (not her) to `accept`.
    let r = http.get(&auth, &creds("alice")).await;
    assert_eq!(r.status, 200, "{r:?}");

    // carol's call hangs forever: she gets a 503, bounded by the timeout, not by the plugin.
    let start = Instant::now();
    let r = http.get(&auth, &creds("carol")).await;
    let waited = start.elapsed();
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.header("x-remote-user").is_none());
    assert!(
        !r.body.contains("hang"),
        "the plugin is named in the log only: {r:?}"
    );
    assert!(
        waited >= Duration::from_millis(450) && waited < Duration::from_secs(10),
        "answered after {waited:?} (call_timeout 0.5 s)"
    );
    assert!(
        rewho.wait_for_log(
            "plugin `hang` did not return from `authenticate`",
            Duration::from_secs(10)
        ),
        "the log names the plugin and the call:\n{}",
        rewho.log()
    );

    // While carol's call is stuck, `hang` is skipped: carol and everyone else are answered
    // by `accept` at once, also under concurrent load; nothing is lost.
    let mut tasks = Vec::new();
    for i in 0..60 {
        let http = http.clone();
        let auth = auth.clone();
        let user = ["alice", "bob", "carol"][i % 3];
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            let r = http.get(&auth, &creds(user)).await;
            (user, r, start.elapsed())
        }));
    }
    for t in tasks {
        let (user, r, took) = t.await.unwrap();
        assert_eq!(r.status, 200, "{user}: {r:?}");
        assert_eq!(r.header("x-remote-user"), Some(user));
        assert!(
            took < Duration::from_secs(10),
            "{user} waited {took:?} although the stuck plugin is skipped"
        );
    }
    assert!(
        rewho.log().contains("stuck past call_timeout"),
        "{}",
        rewho.log()
    );

    // A wrong password is still refused (skipping a plugin never lets anyone in).
    let r = http
        .get(
            &auth,
            &[("x-test-login", "carol"), ("x-test-password", "nope")],
        )
        .await;
    assert_eq!(r.status, 401, "{r:?}");
    assert!(r.header("x-remote-user").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_whose_slow_call_returns_is_used_again() {
    // carol's call takes 2 s; the edge gives up after 0.3 s.
    let ini = who_ini(&ini("0.3", Some(2.0)));
    let rewho = Rewho::start(&["--config", ini.path.to_str().unwrap()]);
    let http = Http::new();
    let auth = rewho.url("/_rewho/auth");

    let r = http.get(&auth, &creds("carol")).await;
    assert_eq!(r.status, 503, "{r:?}");
    // Skipped while stuck.
    let r = http.get(&auth, &creds("carol")).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        rewho.wait_for_log(
            "plugin `hang` returned from its timed-out call",
            Duration::from_secs(15)
        ),
        "{}",
        rewho.log()
    );
    // Called again, and it is slow again: another 503.
    let r = http.get(&auth, &creds("carol")).await;
    assert_eq!(r.status, 503, "{r:?}");
    // The process never stopped serving.
    let r = http.get(&auth, &creds("bob")).await;
    assert_eq!(r.status, 200, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_edge_answers_503_too_and_the_access_log_says_timed_out() {
    let ini = who_ini(&ini("0.4", None));
    let rewho = Rewho::start(&["--config", ini.path.to_str().unwrap()]);
    let http = Http::new();
    // The demo page behind WhoLayer.
    let r = http.get(&rewho.url("/"), &creds("carol")).await;
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.header("retry-after"), Some("5"));
    let r = http.get(&rewho.url("/"), &creds("alice")).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        rewho.wait_for_log("timed_out", Duration::from_secs(5)),
        "{}",
        rewho.log()
    );
}

#[test]
fn a_bad_call_timeout_is_refused_with_its_section() {
    let ini = who_ini(&ini("ten", None));
    let e = rewho::ApiFactory::from_config_file(&ini.path).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("who.ini:2: [general]"), "{msg}");
    assert!(msg.contains("call_timeout: `ten`"), "{msg}");
}

#[test]
fn call_timeout_defaults_to_ten_seconds_and_can_be_turned_off() {
    let f = rewho::ApiFactory::builder().build().unwrap();
    assert_eq!(f.call_timeout(), Some(rewho::DEFAULT_CALL_TIMEOUT));
    assert_eq!(rewho::DEFAULT_CALL_TIMEOUT, Duration::from_secs(10));
    let ini = who_ini(&ini("off", None));
    let f = rewho::ApiFactory::from_config_file(&ini.path).unwrap();
    assert_eq!(f.call_timeout(), None);
    assert!(f.does_io(), "hang declares I/O");
}

/// A login whose authenticator hangs fails (the form again, after about `call_timeout`),
/// and the log names the plugin; the next try skips the stuck plugin and succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_stuck_in_a_plugin_fails_cleanly_and_the_next_one_succeeds() {
    let ini = who_ini(&ini("0.4", None));
    let rewho = Rewho::start(&["--config", ini.path.to_str().unwrap()]);
    let http = Http::new();
    let login = rewho.url("/_rewho/login");
    let form = "login=carol&password=secret&came_from=/";
    let start = Instant::now();
    let r = http.post_form(&login, &[], form).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("Invalid login"), "{r:?}");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(
        rewho.wait_for_log(
            "plugin `hang` did not return from `authenticate`",
            Duration::from_secs(10)
        ),
        "{}",
        rewho.log()
    );
    let r = http.post_form(&login, &[], form).await;
    assert_eq!(r.status, 302, "{r:?}");
    assert_eq!(r.header("location"), Some("/"), "{r:?}");
    assert_eq!(
        r.header("x-remember"),
        Some("hdr=carol"),
        "remembered: {r:?}"
    );
}

/// A plugin's own `call_timeout` (in its section; the plugin never sees the option) applies
/// to it even when `[general]` has none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugins_own_call_timeout_overrides_the_general_one() {
    let text = ini("off", None).replace("logins = carol", "logins = carol\ncall_timeout = 0.3");
    let ini = who_ini(&text);
    let f = rewho::ApiFactory::from_config_file(&ini.path).unwrap();
    assert_eq!(f.call_timeout(), None);
    assert_eq!(
        f.plugin_call_timeout("hang"),
        Some(Duration::from_millis(300))
    );
    assert_eq!(f.plugin_call_timeout("accept"), None);
    let rewho = Rewho::start(&["--config", ini.path.to_str().unwrap()]);
    let http = Http::new();
    let r = http.get(&rewho.url("/_rewho/auth"), &creds("carol")).await;
    assert_eq!(r.status, 503, "{r:?}");
    assert!(
        rewho.wait_for_log("plugin `hang` did not return", Duration::from_secs(10)),
        "{}",
        rewho.log()
    );
    let r = http.get(&rewho.url("/_rewho/auth"), &creds("alice")).await;
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn a_bad_plugin_call_timeout_is_refused_with_its_line() {
    let text = ini("off", None).replace("logins = carol", "logins = carol\ncall_timeout = soon");
    let ini = who_ini(&text);
    let msg = rewho::ApiFactory::from_config_file(&ini.path)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("who.ini:11: [plugin:hang]"), "{msg}");
    assert!(msg.contains("call_timeout: `soon`"), "{msg}");
}
