//! Trust at the edges of `rewho serve`, attacked from a client that is not on loopback (issue
//! 19): each test makes its own network namespace ([`NetNs`]) and sends one row's forgery
//! from inside it, straight to rewho listening on the namespace's host side, or through a
//! shipped proxy example. Every test here failed on the code before the fix.
#![cfg(feature = "server")]

mod common;
mod serve_support;

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serve_support::netns::{CurlReply, NetNs};
use serve_support::{
    apache_htpasswd, basic, example, free_port, wait_port, Caddy, Nginx, Rewho, Upstream,
};

const SECRET: &str = "trust-tests-secret-0123456789abcdef";
const BROWSER: &str = "Accept: text/html,application/xhtml+xml,*/*;q=0.8";
const JSON: &str = "Accept: application/json";

/// A who.ini for these tests: the `header` plugin (X-Forwarded-User from trusted front ends,
/// `header_extra` added to its section), auth_tkt binding tickets to the client address,
/// Basic + htpasswd (`alice` / `wonderland`), the redirector for browsers.
struct Ini {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

fn ini(general_extra: &str, header_extra: &str) -> Ini {
    for p in ["auth_tkt", "basicauth", "htpasswd", "redirector", "header"] {
        common::plugin_so(p);
    }
    let dir = tempfile::tempdir().unwrap();
    apache_htpasswd(
        &dir.path().join("passwd"),
        &["-B", "-C", "4"],
        "alice",
        "wonderland",
        true,
    );
    let text = format!(
        "[general]\nrequest_classifier = accept_request_classifier\n\
challenge_decider = default_challenge_decider\n{general_extra}\n\n\
[plugin:sso]\nuse = header\nuser_header = X-Forwarded-User\n{header_extra}\n\n\
[plugin:auth_tkt]\nuse = auth_tkt\nsecret = {SECRET}\ncookie_name = auth_tkt\ninclude_ip = true\n\n\
[plugin:basicauth]\nuse = basicauth\nrealm = trust\n\n\
[plugin:htpasswd]\nuse = htpasswd\nfilename = %(here)s/passwd\n\n\
[plugin:redirector]\nuse = redirector\nlogin_url = /_rewho/login\ncame_from_param = came_from\n\n\
[identifiers]\nplugins =\n    sso\n    auth_tkt\n    basicauth\n\n\
[authenticators]\nplugins =\n    sso\n    auth_tkt\n    htpasswd\n\n\
[challengers]\nplugins =\n    redirector;browser\n    basicauth\n"
    );
    let path = dir.path().join("who.ini");
    std::fs::write(&path, text).unwrap();
    Ini { _dir: dir, path }
}

/// `rewho serve --config INI ARGS…` listening on `listen`.
fn rewho_on(listen: &str, ini: &Ini, args: &[&str]) -> Rewho {
    let mut all = vec!["--config", ini.path.to_str().unwrap()];
    all.extend_from_slice(args);
    Rewho::start_on(listen, &all, None, &[("REWHO_LOG", "info")])
}

/// rewho on the namespace's host side, port chosen by the system.
fn rewho_facing(ns: &NetNs, ini: &Ini, args: &[&str]) -> Rewho {
    rewho_on(&format!("{}:0", ns.host_ip()), ini, args)
}

/// An auth_tkt ticket for `user` bound to `ip`, minted by repoze.who itself.
fn ticket(user: &str, ip: &str) -> String {
    let out = Command::new(common::python("auth_tkt tickets are minted by repoze.who"))
        .args([
            "-c",
            "import sys, repoze.who._auth_tkt as t; print(t.AuthTicket(sys.argv[1], sys.argv[2], sys.argv[3]).cookie_value())",
            SECRET,
            user,
            ip,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "Cookie: auth_tkt=\"{}\"",
        String::from_utf8_lossy(&out.stdout).trim()
    )
}

/// curl arguments: `-H` for each header, then the URL.
fn args<'a>(headers: &[&'a str], url: &'a str) -> Vec<&'a str> {
    let mut a: Vec<&str> = headers.iter().flat_map(|h| ["-H", *h]).collect();
    a.push(url);
    a
}

fn get(ns: &NetNs, url: &str, headers: &[&str]) -> CurlReply {
    ns.curl(&args(headers, url))
}

/// Caddy with the shipped Caddyfile on every address (so the namespace reaches it), in
/// front of `rewho` and `upstream`.
fn caddy(rewho: &Rewho, upstream: &str) -> Caddy {
    Caddy::start(&example("caddy/Caddyfile"), |text, port| {
        text.replace("\n:80 {", &format!("\n:{port} {{"))
            .replace("127.0.0.1:8080", &rewho.addr.to_string())
            .replace("127.0.0.1:3000", upstream)
    })
}

/// The support itself: a namespace client reaches the host side from its own address (a
/// socket opened there, and curl run there), and the namespace is gone after drop.
#[test]
fn a_namespace_client_reaches_the_host_side_from_its_own_address() {
    let ns = NetNs::create("netns-smoke");
    let listener = std::net::TcpListener::bind((ns.host_ip(), 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut s, peer) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).unwrap();
            let body = peer.ip().to_string();
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let mut s = ns.connect(addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.ends_with(&ns.ns_ip().to_string()), "{answer}");
    let r = ns.curl(&[&format!("http://{addr}/")]);
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, ns.ns_ip().to_string().as_str())
    );
    server.join().unwrap();
    let name = ns.name().to_owned();
    drop(ns);
    let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&list.stdout)
            .lines()
            .any(|l| l.split_whitespace().next() == Some(name.as_str())),
        "the namespace is removed on drop"
    );
}

// ---------------------------------------------------------------------------------------------
// Row 1: `X-Real-IP` was believed before `X-Forwarded-For`, and the `header` plugin checked
// that rebuilt address.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row01_x_real_ip_through_caddy_does_not_make_a_client_a_trusted_front_end() {
    let ns = NetNs::create("row01");
    let ini = ini("", "");
    let rewho = rewho_on("127.0.0.1:0", &ini, &[]);
    let upstream = Upstream::start().await;
    let caddy = caddy(&rewho, &upstream.addr.to_string());
    let url = format!("http://{}:{}/private", ns.host_ip(), caddy.port);
    let r = get(
        &ns,
        &url,
        &["X-Forwarded-User: admin", "X-Real-IP: 127.0.0.1", JSON],
    );
    assert_eq!(r.status, 401, "{r:?}");
    assert!(
        upstream
            .seen
            .lock()
            .unwrap()
            .iter()
            .all(|h| h.get("x-remote-user").is_none()),
        "the upstream saw a user"
    );
    // The same through a `Forwarded` header and a forged X-Forwarded-For chain.
    let r = get(
        &ns,
        &url,
        &[
            "X-Forwarded-User: admin",
            "Forwarded: for=127.0.0.1",
            "X-Forwarded-For: 127.0.0.1",
            JSON,
        ],
    );
    assert_eq!(r.status, 401, "{r:?}");
    // Straight to rewho from the namespace, no header is believed at all.
    let direct = rewho_facing(&ns, &ini, &[]);
    let r = get(
        &ns,
        &direct.url("/_rewho/auth"),
        &["X-Forwarded-User: admin", "X-Real-IP: 127.0.0.1", JSON],
    );
    assert_eq!(r.status, 401, "{r:?}");
    assert!(r.header("x-remote-user").is_none());
}

/// The `header` plugin documents that it checks the address the request came from: a front
/// end it trusts that reports some other client in X-Forwarded-For is still that front end.
/// Until plugins see the TCP peer (ABI 1.0's `peer_addr()`), the plugin checks the derived
/// client address instead, which refuses this legitimate set-up.
#[test]
fn row01_header_plugin_checks_the_peer_it_documents() {
    let ns = NetNs::create("row01-peer");
    let ini = ini(
        &format!("trusted_proxies = {}", ns.ns_ip()),
        &format!("trusted_proxies = {}/32", ns.ns_ip()),
    );
    let rewho = rewho_facing(&ns, &ini, &[]);
    let r = get(
        &ns,
        &rewho.url("/_rewho/auth"),
        &[
            "X-Forwarded-User: alice",
            "X-Forwarded-For: 203.0.113.5",
            JSON,
        ],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("x-remote-user"), Some("alice"));
}

// ---------------------------------------------------------------------------------------------
// Row 2: auth_tkt `include_ip` used the same forgeable address.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row02_include_ip_uses_the_derived_client_address() {
    let ns = NetNs::create("row02");
    let ini = ini("", "");
    let rewho = rewho_on("127.0.0.1:0", &ini, &[]);
    let upstream = Upstream::start().await;
    let caddy = caddy(&rewho, &upstream.addr.to_string());
    let url = format!("http://{}:{}/private", ns.host_ip(), caddy.port);
    let stolen = ticket("alice", "10.9.9.9");
    for forged in [
        "X-Real-IP: 10.9.9.9",
        "X-Forwarded-For: 10.9.9.9",
        "Forwarded: for=10.9.9.9",
    ] {
        let r = get(&ns, &url, &[&stolen, forged, JSON]);
        assert_eq!(r.status, 401, "{forged}: {r:?}");
    }
    // A ticket bound to the client's real address works through the proxy: the address
    // auth_tkt checks is the client's, not Caddy's.
    let own = ticket("alice", &ns.ns_ip().to_string());
    let r = get(&ns, &url, &[&own, "X-Real-IP: 10.9.9.9", JSON]);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("x-remote-user: alice"), "{}", r.body);
    // Straight to rewho: the peer is the client.
    let direct = rewho_facing(&ns, &ini, &[]);
    let r = get(
        &ns,
        &direct.url("/_rewho/auth"),
        &[&stolen, "X-Real-IP: 10.9.9.9", JSON],
    );
    assert_eq!(r.status, 401, "{r:?}");
    let r = get(&ns, &direct.url("/_rewho/auth"), &[&own, JSON]);
    assert_eq!(r.status, 200, "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// Row 3: guarded headers were stripped by exact name only.

/// A WSGI application on Python's wsgiref, which turns `X_Remote_User` and `X-Remote-User`
/// alike into `HTTP_X_REMOTE_USER`: it answers with that environ value.
struct Wsgi {
    child: Child,
    port: u16,
}

impl Wsgi {
    fn start() -> Wsgi {
        let port = free_port();
        let app = "import sys\nfrom wsgiref.simple_server import make_server, WSGIRequestHandler\n\
class Quiet(WSGIRequestHandler):\n    def log_message(self, *a): pass\n\
def app(environ, start):\n    start('200 OK', [('Content-Type', 'text/plain')])\n    \
return [('HTTP_X_REMOTE_USER=%s' % environ.get('HTTP_X_REMOTE_USER', '')).encode()]\n\
make_server('127.0.0.1', int(sys.argv[1]), app, handler_class=Quiet).serve_forever()\n";
        let child = Command::new("python3")
            .args(["-c", app, &port.to_string()])
            .stdin(Stdio::null())
            .spawn()
            .expect("start python3");
        assert!(
            wait_port(port, Duration::from_secs(15)),
            "the WSGI app did not start"
        );
        Wsgi { child, port }
    }
}

impl Drop for Wsgi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn row03_underscore_and_case_variants_of_guarded_headers_never_reach_a_wsgi_upstream() {
    let ns = NetNs::create("row03");
    let ini = ini("", "");
    let wsgi = Wsgi::start();
    let upstream = format!("http://127.0.0.1:{}", wsgi.port);
    let rewho = rewho_facing(&ns, &ini, &["--upstream", &upstream]);
    for forged in [
        "X_Remote_User: admin",
        "x_REMOTE-user: admin",
        "X-Remote-User: admin",
    ] {
        let r = get(&ns, &rewho.url("/app"), &[forged, JSON]);
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body, "HTTP_X_REMOTE_USER=", "{forged}");
        let alice = format!("Authorization: {}", basic("alice", "wonderland"));
        let r = get(&ns, &rewho.url("/app"), &[forged, &alice, JSON]);
        assert_eq!(r.body, "HTTP_X_REMOTE_USER=alice", "{forged}");
    }
}

// ---------------------------------------------------------------------------------------------
// Row 4: a client's X-Real-IP, Forwarded, Proxy-Authorization passed the reverse proxy.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row04_the_reverse_proxy_sends_only_the_origin_it_knows() {
    let ns = NetNs::create("row04");
    let ini = ini("", "");
    let upstream = Upstream::start().await;
    let rewho = rewho_facing(&ns, &ini, &["--upstream", &upstream.url()]);
    let alice = format!("Authorization: {}", basic("alice", "wonderland"));
    let r = get(
        &ns,
        &rewho.url("/app"),
        &[
            &alice,
            JSON,
            "X-Real-IP: 127.0.0.1",
            "Forwarded: for=127.0.0.1;host=evil.example",
            "X-Forwarded-For: 127.0.0.1",
            "X_Forwarded_For: 127.0.0.2",
            "X-Forwarded-Host: evil.example",
            "X-Forwarded-Prefix: /admin",
            "X-Original-URL: http://evil.example/admin",
            "Proxy-Authorization: Basic c2VjcmV0OnNlY3JldA==",
        ],
    );
    assert_eq!(r.status, 200, "{r:?}");
    let seen = upstream.seen.lock().unwrap().last().cloned().unwrap();
    let client = ns.ns_ip().to_string();
    let host = format!("{}:{}", ns.host_ip(), rewho.addr.port());
    assert_eq!(seen.get("x-real-ip"), Some(&client), "{seen:?}");
    assert_eq!(seen.get("x-forwarded-for"), Some(&client), "{seen:?}");
    assert_eq!(seen.get("x-forwarded-host"), Some(&host), "{seen:?}");
    assert_eq!(
        seen.get("forwarded"),
        Some(&format!("for={client};proto=http;host=\"{host}\"")),
        "{seen:?}"
    );
    for gone in [
        "proxy-authorization",
        "x_forwarded_for",
        "x-forwarded-prefix",
        "x-original-url",
    ] {
        assert!(
            !seen.contains_key(gone),
            "{gone} reached the upstream: {seen:?}"
        );
    }
    assert_eq!(seen.get("x-remote-user").map(String::as_str), Some("alice"));
}

// ---------------------------------------------------------------------------------------------
// Row 5: plugin edits applied to requests nobody authenticated.

const SESSION_SECRET: &str = "row05-session-secret";
const JWT_SECRET: &str = "row05-jwt-secret";

/// A private redis-server on a free loopback port.
struct Redis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    fn start() -> Redis {
        let server = serve_support::require_program("/usr/bin/redis-server", "redis-server");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new(server)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        assert!(
            wait_port(port, Duration::from_secs(10)),
            "redis-server did not start"
        );
        Redis {
            child,
            port,
            _dir: dir,
        }
    }

    fn set(&self, key: &str, value: &str) {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let cmd = ["SET", key, value];
        let mut out = format!("*{}\r\n", cmd.len());
        for a in cmd {
            out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(out.as_bytes()).unwrap();
        let mut reply = [0u8; 5];
        s.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"+OK\r\n");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python_tool(script: &str, args: &[&str]) -> String {
    let out = Command::new(common::python("session ids and JWTs are made by Python"))
        .arg(common::workspace().join("tests/python").join(script))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row05_session_edits_reach_the_upstream_only_with_an_authenticated_user() {
    common::plugin_so("redis_session");
    common::plugin_so("jwt");
    let ns = NetNs::create("row05");
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("who.ini");
    std::fs::write(
        &path,
        format!(
            "[plugin:session]\nuse = redis_session\nsecret_key = {SESSION_SECRET}\n\
redis_url = redis://127.0.0.1:{}/0\nkey_prefix = sess:\n\n\
[plugin:jwt]\nuse = jwt\nsecret = {JWT_SECRET}\n\n\
[plugin:basicauth]\nuse = basicauth\nrealm = row05\n\n\
[identifiers]\nplugins =\n    session\n    jwt\n\n\
[authenticators]\nplugins = jwt\n\n[challengers]\nplugins = basicauth\n",
            redis.port
        ),
    )
    .unwrap();
    let upstream = Upstream::start().await;
    let rewho = Rewho::start_on(
        &format!("{}:0", ns.host_ip()),
        &[
            "--config",
            path.to_str().unwrap(),
            "--upstream",
            &upstream.url(),
        ],
        None,
        &[],
    );
    let sign = |uuid: &str| {
        python_tool(
            "itsdangerous_oracle.py",
            &["sign", "--secret", SESSION_SECRET, uuid],
        )
    };
    let last_seen = || upstream.seen.lock().unwrap().last().cloned().unwrap();

    // A session planted in Redis with a token that is no valid JWT: nobody authenticates,
    // and the planted Authorization must not reach the upstream.
    let planted = "6f1c2a9e-0000-4000-8000-00000000dead";
    redis.set(&format!("sess:{planted}"), "planted.token.value");
    let cookie = format!("Cookie: session_uuid={}", sign(planted));
    let r = get(&ns, &rewho.url("/api"), &[&cookie, JSON]);
    assert_eq!(r.status, 200, "{r:?}");
    let seen = last_seen();
    assert!(
        !seen.contains_key("authorization"),
        "planted token upstream: {seen:?}"
    );
    assert!(!seen.contains_key("x-remote-user"), "{seen:?}");

    // An API client's own Authorization passes when it has no session, after the edge has
    // seen the plugin set that header.
    let r = get(
        &ns,
        &rewho.url("/api"),
        &["Authorization: Bearer client-own-token", JSON],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        last_seen().get("authorization").map(String::as_str),
        Some("Bearer client-own-token")
    );

    // A real session: its JWT verifies, the user is authenticated, the edit applies.
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let jwt = python_tool(
        "jwt_mint.py",
        &[
            "--secret",
            JWT_SECRET,
            &format!(r#"{{"sub":"alice","exp":{exp}}}"#),
        ],
    );
    let good = "6f1c2a9e-0000-4000-8000-000000000001";
    redis.set(&format!("sess:{good}"), &jwt);
    let cookie = format!("Cookie: session_uuid={}", sign(good));
    let r = get(&ns, &rewho.url("/api"), &[&cookie, JSON]);
    assert_eq!(r.status, 200, "{r:?}");
    let seen = last_seen();
    assert_eq!(
        seen.get("authorization"),
        Some(&format!("Bearer {jwt}")),
        "{seen:?}"
    );
    assert_eq!(seen.get("x-remote-user").map(String::as_str), Some("alice"));
    drop(dir);
}

// ---------------------------------------------------------------------------------------------
// Row 13: `Connection: X-Remote-User` stripped rewho's own identity header.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row13_connection_cannot_strip_the_identity_header() {
    let ns = NetNs::create("row13");
    let ini = ini("", "");
    let upstream = Upstream::start().await;
    let rewho = rewho_facing(&ns, &ini, &["--upstream", &upstream.url()]);
    let alice = format!("Authorization: {}", basic("alice", "wonderland"));
    for connection in [
        "Connection: X-Remote-User",
        "Connection: keep-alive, x_remote_user, Authorization",
    ] {
        let r = get(&ns, &rewho.url("/app"), &[&alice, connection, JSON]);
        assert_eq!(r.status, 200, "{r:?}");
        let seen = upstream.seen.lock().unwrap().last().cloned().unwrap();
        assert_eq!(
            seen.get("x-remote-user").map(String::as_str),
            Some("alice"),
            "{connection}: {seen:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Row 14: redirects built on a client-chosen host.

/// The `Location` of a challenge, which must never name a host the client chose.
fn location(r: &CurlReply) -> String {
    assert!(matches!(r.status, 302 | 401), "{r:?}");
    r.header("location")
        .unwrap_or_else(|| panic!("no Location: {r:?}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row14_redirects_never_use_a_client_chosen_host() {
    let ns = NetNs::create("row14");
    let upstream = Upstream::start().await;
    // Without public_url: relative Locations, from the layer and from forward-auth.
    let plain = ini("", "");
    let rewho = rewho_facing(&ns, &plain, &["--upstream", &upstream.url()]);
    let evil = [
        "Host: evil.example",
        "X-Forwarded-Host: evil.example",
        "X-Original-URL: http://evil.example/x",
        BROWSER,
    ];
    // (The test upstream answers /status/401 with a 401, which the layer challenges.)
    for path in ["/status/401", "/_rewho/auth"] {
        let loc = location(&get(&ns, &rewho.url(path), &evil));
        assert!(loc.starts_with("/_rewho/login?"), "{path}: {loc}");
    }
    // With public_url: absolute on the configured site.
    let public = ini("public_url = https://app.example.org", "");
    let rewho = rewho_facing(&ns, &public, &["--upstream", &upstream.url()]);
    for path in ["/status/401", "/_rewho/auth"] {
        let loc = location(&get(&ns, &rewho.url(path), &evil));
        assert!(
            loc.starts_with("https://app.example.org/_rewho/login?"),
            "{path}: {loc}"
        );
    }
    // Through the shipped nginx example, which clears X-Original-URL and X-Forwarded-Host and
    // makes no absolute redirect of its own.
    let rewho = rewho_on("127.0.0.1:0", &plain, &[]);
    let nginx = Nginx::start_site(&example("nginx/rewho.conf"), |text, port| {
        text.replace("listen 80;", &format!("listen {port};"))
            .replace("127.0.0.1:8080", &rewho.addr.to_string())
            .replace("127.0.0.1:3000", &upstream.addr.to_string())
    });
    let url = format!("http://{}:{}/private", ns.host_ip(), nginx.port);
    let loc = location(&get(&ns, &url, &evil));
    assert!(loc.starts_with("/_rewho/login?came_from="), "{loc}");
    // The target is the one nginx reports, not the client's X-Original-URL; the host inside
    // came_from is the client's own Host, which the login form's came_from check reduces to
    // a path on this site.
    assert!(loc.ends_with("%2Fprivate"), "{loc}");
    assert!(
        !nginx.error_log().contains("[emerg]"),
        "{}",
        nginx.error_log()
    );
}

// ---------------------------------------------------------------------------------------------
// Item 8: the shipped proxy examples scrub every header rewho believes from a client. rewho
// trusts the proxy (loopback) and, as a stand-in for a `header` plugin that checks the proxy
// it is behind, its `header` plugin trusts the client's own address too: so a forged
// X-Forwarded-User is refused only because the example removed it.

/// The forgeries of issue 19 sent through a proxy example at `base` (as the namespace reaches
/// it), with `upstream` behind it.
fn forgeries_through(ns: &NetNs, base: &str, upstream: &Upstream, underscores: bool) {
    let url = |p: &str| format!("{base}{p}");
    let upstream_users = || -> Vec<String> {
        upstream
            .seen
            .lock()
            .unwrap()
            .iter()
            .flat_map(|h| {
                h.iter()
                    .filter(|(n, _)| n.replace('_', "-") == "x-remote-user")
                    .map(|(n, v)| format!("{n}: {v}"))
                    .collect::<Vec<_>>()
            })
            .collect()
    };

    // The `header` plugin's user header, in both spellings.
    let mut forged_user = vec!["X-Forwarded-User: admin", JSON];
    if underscores {
        forged_user.push("X_Forwarded_User: admin");
    }
    let r = get(ns, &url("/private"), &forged_user);
    assert_eq!(r.status, 401, "X-Forwarded-User reached rewho: {r:?}");

    // A ticket bound to another address, with that address in every client-address header.
    let stolen = ticket("alice", "10.9.9.9");
    let r = get(
        ns,
        &url("/private"),
        &[
            &stolen,
            "X-Real-IP: 10.9.9.9",
            "X-Forwarded-For: 10.9.9.9",
            "Forwarded: for=10.9.9.9",
            JSON,
        ],
    );
    assert_eq!(
        r.status, 401,
        "a forged client address reached rewho: {r:?}"
    );
    let own = ticket("alice", &ns.ns_ip().to_string());
    let r = get(ns, &url("/private"), &[&own, "X-Real-IP: 10.9.9.9", JSON]);
    assert_eq!(
        r.status, 200,
        "the client's own address did not reach rewho: {r:?}"
    );

    // Identity headers the application believes, in every spelling.
    let before = upstream.seen.lock().unwrap().len();
    let alice = format!("Authorization: {}", basic("alice", "wonderland"));
    let mut spoof = vec![alice.as_str(), "X-Remote-User: admin", JSON];
    if underscores {
        spoof.push("X_Remote_User: admin");
    }
    let r = get(ns, &url("/private"), &spoof);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(upstream.seen.lock().unwrap().len() > before);
    assert_eq!(
        upstream_users().last().map(String::as_str),
        Some("x-remote-user: alice")
    );
    assert!(
        upstream_users().iter().all(|u| u.ends_with("alice")),
        "a forged user reached the upstream: {:?}",
        upstream_users()
    );

    // Where the browser asked to go, as the proxy reports it, never the client's headers.
    let r = get(
        ns,
        &url("/private"),
        &[
            BROWSER,
            "X-Original-URL: http://evil.example/x",
            "X-Original-URI: /elsewhere",
            "X-Original-Method: POST",
            "X-Forwarded-Host: evil.example",
        ],
    );
    // Relative, or (Traefik, which resolves a relative Location against rewho's address)
    // absolute on the host the client reached the proxy by.
    let loc = location(&r);
    let path = loc.strip_prefix(base).unwrap_or(&loc);
    assert!(
        path.starts_with("/_rewho/login?came_from=") && path.ends_with("%2Fprivate"),
        "{loc}"
    );
    assert!(!loc.contains("evil.example"), "{loc}");
}

/// rewho on loopback behind a proxy example, its `header` plugin trusting the namespace.
fn behind_proxy(ns: &NetNs) -> (Ini, Rewho) {
    let ini = ini(
        "",
        &format!("trusted_proxies = 127.0.0.0/8 {}/32", ns.ns_ip()),
    );
    let rewho = rewho_on("127.0.0.1:0", &ini, &[]);
    (ini, rewho)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_example_scrubs_forgeries_from_outside() {
    let ns = NetNs::create("nginx-forgeries");
    let (_ini, rewho) = behind_proxy(&ns);
    let upstream = Upstream::start().await;
    let nginx = Nginx::start_site(&example("nginx/rewho.conf"), |text, port| {
        text.replace("listen 80;", &format!("listen {port};"))
            .replace("127.0.0.1:8080", &rewho.addr.to_string())
            .replace("127.0.0.1:3000", &upstream.addr.to_string())
    });
    // nginx drops `_` header names itself (underscores_in_headers off).
    forgeries_through(
        &ns,
        &format!("http://{}:{}", ns.host_ip(), nginx.port),
        &upstream,
        true,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_example_scrubs_forgeries_from_outside() {
    let ns = NetNs::create("caddy-forgeries");
    let (_ini, rewho) = behind_proxy(&ns);
    let upstream = Upstream::start().await;
    let caddy = caddy(&rewho, &upstream.addr.to_string());
    forgeries_through(
        &ns,
        &format!("http://{}:{}", ns.host_ip(), caddy.port),
        &upstream,
        true,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traefik_example_scrubs_forgeries_from_outside() {
    let ns = NetNs::create("traefik-forgeries");
    let (_ini, rewho) = behind_proxy(&ns);
    let upstream = Upstream::start().await;
    let traefik = serve_support::Traefik::start(
        &example("traefik/traefik.yml"),
        &example("traefik/rewho.yml"),
        |text, port, dynamic| {
            text.replace("address: \":80\"", &format!("address: \":{port}\""))
                .replace("/etc/traefik/rewho.yml", &dynamic.display().to_string())
                .replace("127.0.0.1:8080", &rewho.addr.to_string())
                .replace("127.0.0.1:3000", &upstream.addr.to_string())
        },
    );
    let base = format!("http://{}:{}", ns.host_ip(), traefik.port);
    // Traefik opens its port before the file provider's routers are in place.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while get(&ns, &format!("{base}/ready"), &[JSON]).status != 401 {
        assert!(
            std::time::Instant::now() < deadline,
            "traefik never routed:\n{}",
            traefik.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    forgeries_through(&ns, &base, &upstream, true);
}
