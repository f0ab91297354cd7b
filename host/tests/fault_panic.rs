//! Fault: a plugin that panics in every call (testkit's `panicky`, an identifier, an
//! authenticator and a challenger placed first in each chain) under `rewho serve`, under load.
//!
//! What users see: nothing of it. Every request is answered by the rest of the chains exactly
//! as if the plugin were absent (alice is let in, strangers are challenged by the next
//! challenger); the process keeps serving; the log names the plugin and says it panicked.
#![cfg(feature = "server")]

mod common;
mod serve_support;

use std::time::Duration;

use common::who_ini;
use serve_support::{Http, Rewho};

const INI: &str = r#"
[plugin:panicky]
use = @TESTKIT@:panicky

[plugin:hdr]
use = @TESTKIT@:header_identifier

[plugin:accept]
use = @TESTKIT@:accept
logins = alice
password = secret

[plugin:marker]
use = @TESTKIT@:marker_challenger

[identifiers]
plugins = panicky hdr
[authenticators]
plugins = panicky accept
[challengers]
plugins = panicky marker
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_plugins_are_skipped_under_load_and_the_host_keeps_serving() {
    let ini = who_ini(INI);
    let mut rewho = Rewho::start(&["--config", ini.path.to_str().unwrap()]);
    let http = Http::new();
    let auth = rewho.url("/_rewho/auth");
    let page = rewho.url("/");
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let http = http.clone();
        let (auth, page) = (auth.clone(), page.clone());
        tasks.push(tokio::spawn(async move {
            let mut seen = 0;
            for i in 0..40 {
                let url = if i % 2 == 0 { &auth } else { &page };
                if (worker + i) % 3 == 0 {
                    // A stranger: the panicking challenger is skipped, the marker answers.
                    let r = http.get(&auth, &[]).await;
                    assert_eq!(r.status, 401, "{r:?}");
                    assert!(r.header("x-remote-user").is_none(), "{r:?}");
                } else {
                    let r = http
                        .get(
                            url,
                            &[("x-test-login", "alice"), ("x-test-password", "secret")],
                        )
                        .await;
                    assert_eq!(r.status, 200, "{r:?}");
                    if url == &auth {
                        assert_eq!(r.header("x-remote-user"), Some("alice"), "{r:?}");
                    }
                }
                seen += 1;
            }
            seen
        }));
    }
    let mut answered = 0;
    for t in tasks {
        answered += t.await.expect("no request failed");
    }
    assert_eq!(answered, 8 * 40, "every request was answered");
    assert!(
        rewho.child.try_wait().unwrap().is_none(),
        "rewho is still running"
    );
    let log = rewho.log();
    assert!(log.contains("plugin panicked"), "{log}");
    assert!(log.contains("panicky"), "the log names the plugin: {log}");
    // Still serving after the storm.
    let r = http
        .get(
            &auth,
            &[("x-test-login", "alice"), ("x-test-password", "secret")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(rewho.wait_exit(Duration::from_millis(10)).is_none());
}
