//! `redis_session` → `jwt` through every HTTP edge, with a real `redis-server`, the real
//! `rewho` binary, and session ids signed by the real Python itsdangerous:
//!
//! - the tower layer ([`WhoLayer`]) around an axum handler,
//! - `rewho serve`'s forward-auth endpoint (what nginx / Traefik / Caddy copy upstream),
//! - `rewho serve --upstream`, the reverse proxy.
//!
//! In each, a valid session gives the backend `Authorization: Bearer <jwt>` and
//! `X-IST-Session-UUID`, and the handler / proxy sees the jwt plugin's userid; a client's own
//! `X-IST-Session-UUID` never gets through; a tampered cookie is anonymous.
#![cfg(feature = "server")]

mod caching_support;
mod common;
mod serve_support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use caching_support::Server;
use http_body_util::BodyExt;
use rewho::{ApiFactory, MaybeWhoIdentity, WhoLayer};
use serve_support::{Http, Rewho, Upstream};
use tower::ServiceExt;

const UUID: &str = "6f1c2a9e-0000-4000-8000-0000000000e2";
const SESSION_SECRET: &str = "edge-session-secret";
const JWT_SECRET: &str = "edge-jwt-secret";
const SPOOFED_UUID: &str = "00000000-0000-4000-8000-00000000bad0";

fn run_python(script: &str, args: &[&str]) -> String {
    let out = Command::new(common::python(
        "the session ids are signed by the real itsdangerous",
    ))
    .arg(common::workspace().join("tests/python").join(script))
    .args(args)
    .output()
    .expect("run python");
    assert!(
        out.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// One Redis command over RESP; returns the first reply line.
fn redis_cmd(redis: &Server, args: &[&str]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", redis.port())).expect("connect redis");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = format!("*{}\r\n", args.len());
    for a in args {
        out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(out.as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    line.trim_end().to_owned()
}

/// A Redis holding one session whose JWT (HS256, minted by Python) names `alice`, the
/// who.ini for it, and the signed cookie value.
struct Fixture {
    _redis: Server,
    ini: common::WhoIni,
    jwt: String,
    signed: String,
}

fn fixture() -> Fixture {
    common::plugin_so("redis_session");
    common::plugin_so("jwt");
    common::plugin_so("basicauth");
    let redis = caching_support::redis();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let jwt = run_python(
        "jwt_mint.py",
        &[
            "--secret",
            JWT_SECRET,
            "--alg",
            "HS256",
            &format!(
                r#"{{"sub":"alice","email":"alice@example.org","exp":{}}}"#,
                now + 3600
            ),
        ],
    );
    assert_eq!(
        redis_cmd(
            &redis,
            &["SET", &format!("sess:{UUID}"), &jwt, "EX", "86400"]
        ),
        "+OK"
    );
    let signed = run_python(
        "itsdangerous_oracle.py",
        &["sign", "--secret", SESSION_SECRET, "--alg", "sha256", UUID],
    );
    let ini = common::who_ini(&format!(
        "[plugin:session]\nuse = redis_session\nsecret_key = {SESSION_SECRET}\n\
         redis_url = redis://127.0.0.1:{}/0\nkey_prefix = sess:\n\n\
         [plugin:jwt]\nuse = jwt\nsecret = {JWT_SECRET}\n\n\
         [plugin:basicauth]\nuse = basicauth\nrealm = edges\n\n\
         [identifiers]\nplugins =\n    session\n    jwt\n\
         [authenticators]\nplugins = jwt\n\
         [challengers]\nplugins = basicauth\n",
        redis.port()
    ));
    Fixture {
        _redis: redis,
        ini,
        jwt,
        signed,
    }
}

impl Fixture {
    fn cookie(&self) -> String {
        format!("theme=dark; session_uuid={}", self.signed)
    }

    /// The cookie with the signature's last character changed.
    fn tampered_cookie(&self) -> String {
        let mut s = self.signed.clone();
        let last = s.pop().unwrap();
        s.push(if last == 'A' { 'B' } else { 'A' });
        format!("session_uuid={s}")
    }
}

/// An axum handler that shows who it sees and the headers it got.
async fn backend(MaybeWhoIdentity(id): MaybeWhoIdentity, headers: HeaderMap) -> String {
    let user = id
        .as_ref()
        .and_then(|i| i.userid())
        .map(|u| u.to_display_string())
        .unwrap_or_else(|| "anonymous".into());
    let h = |n: &str| {
        headers
            .get_all(n)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        "user={user}\nauthorization={}\nuuid={}\nemail={}\n",
        h("authorization"),
        h("x-ist-session-uuid"),
        id.as_ref().and_then(|i| i.get_str("email")).unwrap_or("-")
    )
}

async fn call(app: &Router, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let mut b = Request::builder().uri("/app");
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    let resp = app
        .clone()
        .oneshot(b.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn tower_layer_gives_the_handler_the_bearer_and_the_jwt_userid() {
    let fx = fixture();
    let factory = ApiFactory::from_config_file(&fx.ini.path).unwrap_or_else(|e| panic!("{e}"));
    let app = Router::new()
        .route("/app", get(backend))
        .layer(WhoLayer::new(factory));

    let cookie = fx.cookie();
    let (status, body) = call(
        &app,
        &[("cookie", &cookie), ("x-ist-session-uuid", SPOOFED_UUID)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("user=alice\n"), "{body}");
    assert!(
        body.contains(&format!("authorization=Bearer {}\n", fx.jwt)),
        "{body}"
    );
    assert!(body.contains(&format!("uuid={UUID}\n")), "{body}");
    assert!(body.contains("email=alice@example.org"), "{body}");
    assert!(!body.contains(SPOOFED_UUID), "{body}");

    // The same session id in the header instead of the cookie.
    let (status, body) = call(&app, &[("x-ist-session", &fx.signed)]).await;
    assert_eq!(status, 200);
    assert!(body.contains("user=alice\n"), "{body}");

    // Tampered: anonymous, no token and no claimed session reach the handler.
    let tampered = fx.tampered_cookie();
    let (status, body) = call(
        &app,
        &[("cookie", &tampered), ("x-ist-session-uuid", SPOOFED_UUID)],
    )
    .await;
    assert_eq!(status, 200, "the handler is optional-auth: {body}");
    assert!(body.contains("user=anonymous\n"), "{body}");
    assert!(body.contains("authorization=\n"), "{body}");
    assert!(body.contains("uuid=\n"), "{body}");
}

#[tokio::test]
async fn forward_auth_answers_the_headers_a_proxy_copies_upstream() {
    let fx = fixture();
    let rewho = Rewho::start(&["--config", fx.ini.path.to_str().unwrap()]);
    let http = Http::new();
    let auth = rewho.url("/_rewho/auth");

    let cookie = fx.cookie();
    let r = http
        .get(
            &auth,
            &[
                ("cookie", &cookie),
                ("x-ist-session-uuid", SPOOFED_UUID),
                ("x-original-uri", "/private"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}\n{}", rewho.log());
    assert_eq!(r.header("x-remote-user"), Some("alice"));
    assert_eq!(
        r.header("authorization").map(str::to_owned),
        Some(format!("Bearer {}", fx.jwt))
    );
    assert_eq!(r.all("x-ist-session-uuid"), [UUID]);

    let tampered = fx.tampered_cookie();
    let r = http
        .get(
            &auth,
            &[("cookie", &tampered), ("x-ist-session-uuid", SPOOFED_UUID)],
        )
        .await;
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"edges\""));
    assert!(r.header("x-remote-user").is_none());
    assert!(r.header("x-ist-session-uuid").is_none());
    assert!(r.header("authorization").is_none());
}

#[tokio::test]
async fn reverse_proxy_sends_the_bearer_upstream_and_strips_spoofed_sessions() {
    let fx = fixture();
    let upstream = Upstream::start().await;
    let rewho = Rewho::start(&[
        "--config",
        fx.ini.path.to_str().unwrap(),
        "--upstream",
        &upstream.url(),
    ]);
    let http = Http::new();

    let cookie = fx.cookie();
    let r = http
        .get(
            &rewho.url("/app"),
            &[
                ("cookie", &cookie),
                ("x-ist-session-uuid", SPOOFED_UUID),
                ("x-remote-user", "admin"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}\n{}", rewho.log());
    assert_eq!(r.header("x-upstream"), Some("yes"));
    let seen = upstream.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        seen.get("authorization").map(String::as_str),
        Some(format!("Bearer {}", fx.jwt).as_str())
    );
    assert_eq!(
        seen.get("x-ist-session-uuid").map(String::as_str),
        Some(UUID)
    );
    assert_eq!(seen.get("x-remote-user").map(String::as_str), Some("alice"));

    // Anonymous with forged headers: the app is reached (it decides), but without them.
    let r = http
        .get(
            &rewho.url("/app"),
            &[
                ("x-ist-session-uuid", SPOOFED_UUID),
                ("x-remote-user", "admin"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let seen = upstream.seen.lock().unwrap().last().cloned().unwrap();
    assert!(!seen.contains_key("x-ist-session-uuid"), "{seen:?}");
    assert!(!seen.contains_key("x-remote-user"), "{seen:?}");
    assert!(!seen.contains_key("authorization"), "{seen:?}");

    // The app's 401 becomes the challenge.
    let tampered = fx.tampered_cookie();
    let r = http
        .get(&rewho.url("/status/401"), &[("cookie", &tampered)])
        .await;
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"edges\""));
}
