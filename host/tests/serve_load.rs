//! A bounded load test of `rewho serve` on loopback: 64 concurrent clients, each with its
//! own connection, send 40 requests each (2,560 in all) mixing auth_tkt sessions of two
//! users, Basic with a bcrypt htpasswd entry, anonymous API calls, forged cookies from
//! browsers and the demo page; every answer is checked, including that it belongs to the
//! request that got it (each request names a path of its own).
#![cfg(feature = "server")]

mod common;
mod serve_support;

use std::time::Duration;

use serve_support::{basic, form_encode, metric_value, standard_ini, Http, Resp, Rewho};

const CLIENTS: usize = 64;
const PER_CLIENT: usize = 40;
const BROWSER: (&str, &str) = ("accept", "text/html,application/xhtml+xml,*/*;q=0.8");

async fn login(http: &Http, rewho: &Rewho, user: &str, password: &str) -> String {
    let r = http
        .post_form(
            &rewho.url("/_rewho/login"),
            &[BROWSER],
            &format!("login={user}&password={password}&came_from=/"),
        )
        .await;
    assert_eq!(r.status, 302, "{r:?}");
    r.cookies()
        .into_iter()
        .find(|c| c.starts_with("auth_tkt="))
        .unwrap()
}

#[derive(Default, Debug, PartialEq, Eq)]
struct Tally {
    authenticated: usize,
    challenged: usize,
    redirected: usize,
    demo: usize,
}

fn user_of(r: &Resp) -> Option<&str> {
    r.header("x-remote-user")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_clients_all_get_the_right_answer() {
    let ini = standard_ini(
        &[("alice", "a-pass"), ("bob", "b-pass"), ("carol", "c-pass")],
        "",
    );
    let rewho = Rewho::start(&["--config", ini.path.to_str().unwrap()]);
    let http = Http::new();
    let alice = login(&http, &rewho, "alice", "a-pass").await;
    let bob = login(&http, &rewho, "bob", "b-pass").await;
    let forged = alice.replacen("alice", "admin", 1);
    let carol = basic("carol", "c-pass");

    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let (alice, bob, forged, carol) =
            (alice.clone(), bob.clone(), forged.clone(), carol.clone());
        let auth = rewho.url("/_rewho/auth");
        let base = format!("http://{}", rewho.addr);
        tasks.push(tokio::spawn(async move {
            let http = Http::new();
            let mut tally = Tally::default();
            for i in 0..PER_CLIENT {
                let uri = format!("/c{client}/r{i}?q={}", client * PER_CLIENT + i);
                let kind = (client + i) % 8;
                let mut h: Vec<(&str, &str)> = vec![
                    ("x-original-uri", &uri),
                    ("x-original-method", "GET"),
                    ("x-remote-user", "root"),
                ];
                match kind {
                    0..=2 => {
                        let (cookie, user) = if kind == 1 {
                            (&bob, "bob")
                        } else {
                            (&alice, "alice")
                        };
                        h.push(("cookie", cookie));
                        let r = http.get(&auth, &h).await;
                        assert_eq!(
                            (r.status.as_u16(), user_of(&r)),
                            (200, Some(user)),
                            "{uri}: {r:?}"
                        );
                        tally.authenticated += 1;
                    }
                    3 => {
                        h.push(("authorization", &carol));
                        let r = http.get(&auth, &h).await;
                        assert_eq!(
                            (r.status.as_u16(), user_of(&r)),
                            (200, Some("carol")),
                            "{uri}: {r:?}"
                        );
                        tally.authenticated += 1;
                    }
                    4 | 5 => {
                        h.push(("accept", "application/json"));
                        let r = http.get(&auth, &h).await;
                        assert_eq!(r.status, 401, "{uri}: {r:?}");
                        assert_eq!(
                            r.header("www-authenticate"),
                            Some("Basic realm=\"serve tests\"")
                        );
                        assert_eq!(user_of(&r), None);
                        tally.challenged += 1;
                    }
                    6 => {
                        h.push(BROWSER);
                        h.push(("cookie", &forged));
                        let r = http.get(&auth, &h).await;
                        // Through nginx (X-Original-*), a redirect is a 401 with Location.
                        assert_eq!(r.status, 401, "{uri}: {r:?}");
                        let expected = format!(
                            "/_rewho/login?came_from={}",
                            form_encode(&format!("{base}{uri}"))
                        );
                        let location = r.header("location").unwrap_or_default();
                        assert!(location.ends_with(&expected), "{uri}: {location}");
                        assert_eq!(user_of(&r), None);
                        tally.redirected += 1;
                    }
                    _ => {
                        let r = http
                            .get(
                                &format!("{base}/c{client}/r{i}"),
                                &[BROWSER, ("cookie", &bob), ("x-remote-user", "root")],
                            )
                            .await;
                        assert_eq!(r.status, 200, "{uri}: {r:?}");
                        assert!(r.body.contains("Hello, bob"), "{uri}: {}", r.body);
                        assert!(
                            r.body.contains(&format!("/c{client}/r{i}")),
                            "{uri}: answer for another request"
                        );
                        assert!(!r.body.contains("root"), "{uri}: the spoofed user shows");
                        tally.demo += 1;
                    }
                }
            }
            tally
        }));
    }
    let mut total = Tally::default();
    let all = tokio::time::timeout(Duration::from_secs(180), async {
        for t in tasks {
            let t = t.await.expect("a client failed");
            total.authenticated += t.authenticated;
            total.challenged += t.challenged;
            total.redirected += t.redirected;
            total.demo += t.demo;
        }
    })
    .await;
    assert!(all.is_ok(), "the load did not finish within 180 s");
    let n = CLIENTS * PER_CLIENT;
    assert_eq!(
        total,
        Tally {
            authenticated: n / 2,
            challenged: n / 4,
            redirected: n / 8,
            demo: n / 8,
        }
    );

    // The server counted the same.
    let m = http.get(&rewho.url("/_rewho/metrics"), &[]).await;
    let count = |line: &str| -> usize {
        metric_value(&m.body, line).unwrap_or_else(|| panic!("no `{line}` in\n{}", m.body)) as usize
    };
    assert_eq!(
        count("rewho_requests_total{endpoint=\"auth\",outcome=\"authenticated\"}"),
        n / 2
    );
    assert_eq!(
        count("rewho_requests_total{endpoint=\"auth\",outcome=\"challenged\"}"),
        n / 4 + n / 8
    );
    assert_eq!(
        count("rewho_plugin_failures_total{plugin=\"htpasswd\",role=\"authenticator\"}"),
        0
    );
}
