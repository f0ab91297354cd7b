//! Security at the HTTP edges of `rewho serve` (forward-auth and reverse proxy) and the tower
//! layer: spoofed identity headers stripped, cookies `HttpOnly` by default and `Secure` when
//! configured, no open redirect through `came_from` or the redirector, oversized headers and
//! cookies answered cleanly (never a crash or a hang).
#![cfg(feature = "server")]

mod common;
mod serve_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::who_ini;
use serve_support::{form_encode, Http, Rewho, Upstream};

/// Header credentials (`x-test-login`/`x-test-password`) and a metadata plugin that sets
/// `X-Test-Md` downstream; browsers are sent to the login form by the real redirector.
const INI: &str = r#"
[general]
request_classifier = accept_request_classifier

[plugin:hdr]
use = testkit:header_identifier

[plugin:accept]
use = testkit:accept
logins = alice
password = secret

[plugin:md]
use = testkit:add_metadata
key = email
value = alice@example.org

[plugin:redirector]
use = redirector
login_url = /_rewho/login
came_from_param = came_from

[plugin:marker]
use = testkit:marker_challenger

[identifiers]
plugins = hdr

[authenticators]
plugins = accept

[challengers]
plugins =
    redirector;browser
    marker

[mdproviders]
plugins = md
"#;

const ALICE: [(&str, &str); 2] = [("x-test-login", "alice"), ("x-test-password", "secret")];
const SPOOF: [(&str, &str); 3] = [
    ("x-remote-user", "admin"),
    ("x-test-md", "forged@evil.example"),
    ("x-kept", "yes"),
];

fn start(extra_general: &str, upstream: Option<&str>) -> (common::WhoIni, Rewho) {
    common::plugin_so("redirector");
    let ini = who_ini(&INI.replace("[general]\n", &format!("[general]\n{extra_general}\n")));
    let mut args = vec!["--config", ini.path.to_str().unwrap()];
    if let Some(u) = upstream {
        args.extend(["--upstream", u]);
    }
    let rewho = Rewho::start(&args);
    (ini, rewho)
}

#[tokio::test]
async fn forward_auth_never_echoes_a_spoofed_user_header() {
    let (_ini, rewho) = start("", None);
    let http = Http::new();
    let url = rewho.url("/_rewho/auth");
    // No credentials: refused, and the forged user is not handed back to the proxy.
    let mut h = SPOOF.to_vec();
    h.push(("accept", "*/*"));
    let r = http.get(&url, &h).await;
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.header("x-remote-user"), None);
    assert_eq!(r.header("x-test-md"), None);
    // Credentials and a forged user: the real user wins.
    let mut h = SPOOF.to_vec();
    h.extend(ALICE);
    let r = http.get(&url, &h).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.all("x-remote-user"), ["alice"]);
    assert_eq!(r.all("x-test-md"), ["alice@example.org"]);
}

#[tokio::test]
async fn reverse_proxy_strips_spoofed_identity_headers_even_before_any_login() {
    let upstream = Upstream::start().await;
    // `strip_headers` names the plugin's header up front, as SECURITY.md tells operators
    // to do; the user header is always stripped.
    let (_ini, rewho) = start("strip_headers = X-Test-Md", Some(&upstream.url()));
    let http = Http::new();
    // The very first request, anonymous, with forged identity headers.
    let r = http.get(&rewho.url("/page"), &SPOOF).await;
    assert_eq!(r.status, 200, "anonymous requests reach the app: {r:?}");
    {
        let seen = upstream.seen.lock().unwrap();
        let first = seen.last().unwrap();
        assert_eq!(first.get("x-remote-user"), None, "{first:?}");
        assert_eq!(first.get("x-test-md"), None, "{first:?}");
        assert_eq!(first.get("x-kept").map(String::as_str), Some("yes"));
    }
    // Authenticated: the plugin's values replace the forged ones.
    let mut h = SPOOF.to_vec();
    h.extend(ALICE);
    let r = http.get(&rewho.url("/page"), &h).await;
    assert_eq!(r.status, 200, "{r:?}");
    let seen = upstream.seen.lock().unwrap();
    let last = seen.last().unwrap();
    assert_eq!(last.get("x-remote-user").map(String::as_str), Some("alice"));
    assert_eq!(
        last.get("x-test-md").map(String::as_str),
        Some("alice@example.org")
    );
}

#[tokio::test]
async fn reverse_proxy_learns_plugin_headers_without_strip_headers() {
    // Without `strip_headers`, a header is guarded from the first time a plugin sets it: one
    // login, and from then on forged copies are dropped for everyone.
    let upstream = Upstream::start().await;
    let (_ini, rewho) = start("", Some(&upstream.url()));
    let http = Http::new();
    let r = http.get(&rewho.url("/page"), &ALICE).await;
    assert_eq!(r.status, 200);
    let r = http.get(&rewho.url("/page"), &SPOOF).await;
    assert_eq!(r.status, 200);
    let seen = upstream.seen.lock().unwrap();
    let last = seen.last().unwrap();
    assert_eq!(last.get("x-remote-user"), None, "{last:?}");
    assert_eq!(last.get("x-test-md"), None, "{last:?}");
}

const TKT_INI: &str = r#"
[plugin:auth_tkt]
use = auth_tkt
secret = cookie-test-secret
@SECURE@

[plugin:hdr]
use = testkit:header_identifier

[plugin:accept]
use = testkit:accept
logins = alice
password = secret

[identifiers]
plugins = auth_tkt hdr

[authenticators]
plugins = auth_tkt accept
"#;

/// The `Set-Cookie` headers of a login through `/_rewho/login`.
async fn login_cookies(secure_line: &str) -> Vec<String> {
    common::plugin_so("auth_tkt");
    let ini = who_ini(&TKT_INI.replace("@SECURE@", secure_line));
    let rewho = Rewho::start(&["--config", ini.path.to_str().unwrap()]);
    let r = Http::new()
        .post_form(
            &rewho.url("/_rewho/login"),
            &[],
            "login=alice&password=secret&came_from=/",
        )
        .await;
    assert_eq!(r.status, 302, "{r:?}\n{}", rewho.log());
    let cookies: Vec<String> = r
        .all("set-cookie")
        .into_iter()
        .filter(|c| c.starts_with("auth_tkt="))
        .collect();
    assert!(!cookies.is_empty(), "{r:?}");
    cookies
}

#[tokio::test]
async fn session_cookies_are_httponly_by_default_and_secure_when_configured() {
    for c in login_cookies("").await {
        let attrs: Vec<&str> = c.split(';').map(str::trim).collect();
        assert!(attrs.contains(&"HttpOnly"), "{c}");
        assert!(
            !attrs.iter().any(|a| a.eq_ignore_ascii_case("secure")),
            "{c}"
        );
    }
    for c in login_cookies("secure = true").await {
        let attrs: Vec<&str> = c.split(';').map(str::trim).collect();
        assert!(attrs.contains(&"HttpOnly"), "{c}");
        assert!(
            attrs.iter().any(|a| a.eq_ignore_ascii_case("secure")),
            "{c}"
        );
    }
}

#[tokio::test]
async fn redirector_and_login_never_send_the_browser_off_site() {
    let (_ini, rewho) = start("", None);
    let http = Http::new();
    let browser = ("accept", "text/html");
    // A challenge for a request whose Host is forged names that host in came_from (it is the
    // URL this very request asked for); the login form must still refuse to go there.
    let r = http
        .get(
            &rewho.url("/private"),
            &[
                browser,
                ("host", "evil.example"),
                ("x-forwarded-host", "evil.example"),
            ],
        )
        .await;
    assert_eq!(r.status, 302, "{r:?}");
    let location = r.header("location").unwrap().to_owned();
    let came_from = location
        .split_once("came_from=")
        .map(|(_, v)| v.split('&').next().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no came_from in {location}"));
    for evil in [
        came_from.clone(),
        form_encode("http://evil.example/"),
        form_encode("//evil.example/"),
        form_encode("/\\evil.example/"),
        form_encode("\\\\evil.example/"),
        form_encode("/%2F%2Fevil.example/"),
        form_encode(" //evil.example/"),
        form_encode("http:evil.example"),
        form_encode("javascript:alert(1)"),
        form_encode("data:text/html,x"),
        form_encode("/\t/evil.example/"),
    ] {
        let r = http
            .post_form(
                &rewho.url("/_rewho/login"),
                &[browser],
                &format!("login=alice&password=secret&came_from={evil}"),
            )
            .await;
        assert_eq!(r.status, 302, "{evil}: {r:?}");
        let to = r.header("location").unwrap();
        assert!(same_site(to), "{evil} → {to}");
        let r = http
            .post_form(
                &rewho.url(&format!("/_rewho/logout?came_from={evil}")),
                &[browser],
                "",
            )
            .await;
        if let Some(to) = r.header("location") {
            assert!(same_site(to), "logout: {evil} → {to}");
        }
    }
    // A same-site came_from is honoured.
    let r = http
        .post_form(
            &rewho.url("/_rewho/login"),
            &[browser],
            "login=alice&password=secret&came_from=%2Fprivate%3Fa%3D1",
        )
        .await;
    assert_eq!(r.header("location"), Some("/private?a=1"));
}

/// A `Location` a browser resolves on this site: a path, not `//host` or `/\\host`, and
/// no control characters (browsers drop tabs and newlines, turning `/\t/x` into `//x`).
fn same_site(to: &str) -> bool {
    to.starts_with('/')
        && !to.starts_with("//")
        && !to.starts_with("/\\")
        && !to.chars().any(|c| c.is_control())
}

/// Sends `head` (a raw HTTP/1.1 request head) and returns the status line, or `None` if the
/// server closed the connection without an answer. Bounded by a 20 s read timeout.
fn raw_status(addr: std::net::SocketAddr, head: &[u8]) -> Option<String> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    // The server may answer (and close) before reading it all: ignore write errors.
    let _ = s.write_all(head);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.windows(2).any(|w| w == b"\r\n") {
                    break;
                }
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                panic!("no answer within 20 s: the server hangs")
            }
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&buf);
    text.lines()
        .next()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
}

#[tokio::test]
async fn oversized_cookies_and_headers_are_answered_cleanly_and_the_server_survives() {
    let upstream = Upstream::start().await;
    let (_ini, mut rewho) = start("", Some(&upstream.url()));
    let addr = rewho.addr;
    let cases: [(&str, String, &[&str]); 4] = [
        // 100 KB cookie: within the limit; answered normally (anonymous) or refused.
        (
            "100 KB cookie",
            format!("Cookie: auth_tkt=\"{}\"\r\n", "a".repeat(100 * 1024)),
            &["200", "400", "431"],
        ),
        // 1 MB header: over any sane limit.
        (
            "1 MB header",
            format!("X-Big: {}\r\n", "b".repeat(1024 * 1024)),
            &["431", "400"],
        ),
        // Many headers.
        (
            "2000 headers",
            (0..2000).map(|i| format!("X-H{i}: v\r\n")).collect(),
            &["431", "400"],
        ),
        // 100 KB forward-auth URI.
        (
            "100 KB X-Original-URI",
            format!("X-Original-URI: /{}\r\n", "u".repeat(100 * 1024)),
            &["200", "302", "401", "400", "431"],
        ),
    ];
    for (what, headers, allowed) in cases {
        let path = if what.contains("Original") {
            "/_rewho/auth"
        } else {
            "/page"
        };
        let head =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n");
        let start = Instant::now();
        // Blocking I/O off the runtime: the test upstream runs on this runtime.
        let status = tokio::task::spawn_blocking(move || raw_status(addr, head.as_bytes()))
            .await
            .unwrap();
        let took = start.elapsed();
        // No status line (the connection closed) is a clean refusal too, if the server
        // lives on.
        if let Some(line) = &status {
            let code = line.split(' ').nth(1).unwrap_or("");
            assert!(allowed.contains(&code), "{what}: {line}");
        }
        eprintln!("{what}: {status:?} in {took:?}");
        assert!(
            matches!(rewho.child.try_wait(), Ok(None)),
            "{what}: the server died\n{}",
            rewho.log()
        );
        // And it still serves.
        let r = Http::new().get(&rewho.url("/_rewho/auth"), &ALICE).await;
        assert_eq!(r.status, 200, "{what}: after it, {r:?}");
    }
}
