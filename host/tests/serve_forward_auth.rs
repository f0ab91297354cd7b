//! `rewho serve` end to end, on the test plugins: forward-auth (nginx and Traefik/Caddy
//! headers), login/logout with safe `came_from`, the demo page, metrics and the access log.
#![cfg(feature = "server")]

mod common;
mod serve_support;

use common::{who_ini, WhoIni};
use serve_support::{form_encode, metric_value, Http, Rewho};

/// Cookie sessions and header credentials; browsers are redirected, others get a marker 401.
pub const TESTKIT_INI: &str = r#"
[general]
request_classifier = accept_request_classifier

[plugin:cookie]
use = testkit:test_cookie

[plugin:hdr]
use = testkit:header_identifier

[plugin:accept]
use = testkit:accept
logins = alice bob
password = secret

[plugin:md]
use = testkit:add_metadata
key = email
value = alice@example.org

[plugin:redirect]
use = testkit:redirect_challenger
login_url = /_rewho/login

[plugin:marker]
use = testkit:marker_challenger

[identifiers]
plugins = cookie hdr

[authenticators]
plugins = cookie accept

[challengers]
plugins =
    redirect;browser
    marker

[mdproviders]
plugins = md
"#;

fn start() -> (WhoIni, Rewho) {
    let ini = who_ini(TESTKIT_INI);
    let rewho = Rewho::start(&["--config", ini.path.to_str().unwrap()]);
    (ini, rewho)
}

const ALICE: [(&str, &str); 3] = [
    ("x-test-login", "alice"),
    ("x-test-password", "secret"),
    ("accept", "*/*"),
];
const BROWSER: (&str, &str) = ("accept", "text/html,application/xhtml+xml,*/*;q=0.8");

#[tokio::test]
async fn authenticated_request_gets_user_and_plugin_headers() {
    let (_ini, rewho) = start();
    let http = Http::new();
    let r = http.get(&rewho.url("/_rewho/auth"), &ALICE).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("x-remote-user"), Some("alice"));
    assert_eq!(r.header("x-test-md"), Some("alice@example.org"));
    assert!(r.header("x-request-id").is_some());
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn browsers_are_redirected_with_the_url_rebuilt_from_traefik_headers() {
    let (_ini, rewho) = start();
    let r = Http::new()
        .get(
            &rewho.url("/_rewho/auth"),
            &[
                BROWSER,
                ("x-forwarded-method", "GET"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "app.example"),
                ("x-forwarded-uri", "/private?x=1"),
                ("x-forwarded-for", "192.0.2.7"),
            ],
        )
        .await;
    assert_eq!(r.status, 302, "{r:?}");
    assert_eq!(
        r.header("location"),
        Some("/_rewho/login?came_from=https%3A%2F%2Fapp.example%2Fprivate%3Fx%3D1")
    );
    assert!(r.header("x-remote-user").is_none());
}

#[tokio::test]
async fn through_nginx_a_redirect_is_a_401_with_location() {
    let (_ini, rewho) = start();
    let r = Http::new()
        .get(
            &rewho.url("/_rewho/auth"),
            &[
                BROWSER,
                ("host", "site.example:8443"),
                ("x-original-uri", "/a/b?c=d"),
                ("x-original-method", "GET"),
                ("x-real-ip", "198.51.100.4"),
            ],
        )
        .await;
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(
        r.header("location"),
        Some("/_rewho/login?came_from=http%3A%2F%2Fsite.example%3A8443%2Fa%2Fb%3Fc%3Dd")
    );
}

#[tokio::test]
async fn non_browsers_get_the_api_challenge_and_bad_credentials_never_pass() {
    let (_ini, rewho) = start();
    let http = Http::new();
    let r = http
        .get(
            &rewho.url("/_rewho/auth"),
            &[("accept", "application/json")],
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("x-challenger"), Some("marker"));
    let r = http
        .get(
            &rewho.url("/_rewho/auth"),
            &[("x-test-login", "alice"), ("x-test-password", "wrong")],
        )
        .await;
    assert_eq!(r.status, 401);
    assert!(r.header("x-remote-user").is_none());
}

#[tokio::test]
async fn login_sets_the_session_and_logout_forgets_it() {
    let (_ini, rewho) = start();
    let http = Http::new();
    let form = http
        .get(
            &rewho.url("/_rewho/login?came_from=%22%3E%3Cscript%3E"),
            &[BROWSER],
        )
        .await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("name=\"password\""));
    assert!(form.body.contains("value=\"&quot;&gt;&lt;script&gt;\""));
    assert!(!form.body.contains("\"><script>"));

    let r = http
        .post_form(
            &rewho.url("/_rewho/login"),
            &[BROWSER],
            &format!(
                "login=alice&password=secret&came_from={}",
                form_encode(&format!("http://{}/private?q=1", rewho.addr))
            ),
        )
        .await;
    assert_eq!(r.status, 302, "{r:?}");
    assert_eq!(r.header("location"), Some("/private?q=1"));
    assert_eq!(r.cookies(), vec!["testkit_user=alice".to_owned()]);

    let r = http
        .get(
            &rewho.url("/_rewho/auth"),
            &[BROWSER, ("cookie", "testkit_user=alice")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-remote-user"), Some("alice"));

    let r = http
        .post_form(&rewho.url("/_rewho/logout?came_from=/bye"), &[BROWSER], "")
        .await;
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("/bye"));
    assert!(r
        .all("set-cookie")
        .iter()
        .any(|c| c.starts_with("testkit_user=;") && c.contains("Max-Age=0")));
}

#[tokio::test]
async fn failed_login_shows_the_form_again_and_forgets() {
    let (_ini, rewho) = start();
    let r = Http::new()
        .post_form(
            &rewho.url("/_rewho/login"),
            &[BROWSER],
            "login=alice&password=nope&came_from=%2Fx",
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Invalid login or password."));
    assert!(r.body.contains("value=\"/x\""));
    assert!(r.cookies().is_empty());
    assert!(r.all("set-cookie").iter().any(|c| c.contains("Max-Age=0")));
    assert!(
        !rewho.log().contains("nope"),
        "the password reached the log"
    );
}

#[tokio::test]
async fn came_from_never_leaves_the_site() {
    let (_ini, rewho) = start();
    let http = Http::new();
    for evil in [
        "http://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
        "https://127.0.0.1.evil.example/",
    ] {
        let r = http
            .post_form(
                &rewho.url("/_rewho/login"),
                &[BROWSER],
                &format!("login=bob&password=secret&came_from={}", form_encode(evil)),
            )
            .await;
        assert_eq!(r.status, 302);
        assert_eq!(r.header("location"), Some("/"), "{evil}");
    }
}

#[tokio::test]
async fn demo_page_shows_the_identity_and_anonymous_users_are_challenged() {
    let (_ini, rewho) = start();
    let http = Http::new();
    let r = http.get(&rewho.url("/"), &ALICE).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("Hello, alice"));
    assert!(r.body.contains("alice@example.org"));
    assert!(!r.body.contains("secret"), "the password is shown");
    let r = http.get(&rewho.url("/anything"), &[BROWSER]).await;
    assert_eq!(r.status, 302);
    assert!(r
        .header("location")
        .unwrap()
        .starts_with("/_rewho/login?came_from=http%3A%2F%2F127.0.0.1"));
}

#[tokio::test]
async fn metrics_count_plugin_calls_and_the_log_has_ids_and_outcomes() {
    let (_ini, rewho) = start();
    let http = Http::new();
    for _ in 0..3 {
        assert_eq!(
            http.get(&rewho.url("/_rewho/auth"), &ALICE).await.status,
            200
        );
    }
    http.get(&rewho.url("/_rewho/auth"), &[]).await;
    let m = http.get(&rewho.url("/_rewho/metrics"), &[]).await;
    assert_eq!(m.status, 200);
    assert!(m
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let count = |line: &str| -> u64 {
        metric_value(&m.body, line).unwrap_or_else(|| panic!("no `{line}` in\n{}", m.body))
    };
    assert!(count("rewho_plugin_calls_total{plugin=\"accept\",role=\"authenticator\"}") >= 3);
    assert!(count("rewho_plugin_calls_total{plugin=\"hdr\",role=\"identifier\"}") >= 4);
    assert!(count("rewho_plugin_calls_total{plugin=\"md\",role=\"mdprovider\"}") >= 3);
    assert_eq!(
        count("rewho_requests_total{endpoint=\"auth\",outcome=\"authenticated\"}"),
        3
    );
    assert!(m
        .body
        .contains("rewho_plugin_call_duration_seconds_bucket{plugin=\"accept\",role=\"authenticator\",le=\"+Inf\"}"));
    assert!(
        rewho.wait_for_log(
            "outcome=\"authenticated\"",
            std::time::Duration::from_secs(5)
        ) || rewho.wait_for_log("outcome=authenticated", std::time::Duration::from_secs(5))
    );
    let log = rewho.log();
    assert!(
        log.contains("user=alice") || log.contains("user=\"alice\""),
        "{log}"
    );
    assert!(log.contains("request{id="), "{log}");
    assert!(
        !log.contains("secret"),
        "a credential reached the log:\n{log}"
    );
}
