//! Scale-out: two `rewho serve` processes on one who.ini, sharing memcached, Redis and the
//! auth_tkt secret, behind one nginx address (an upstream of both, with
//! `proxy_next_upstream`).
//!
//! What users see: one service. A login on one instance is honoured by the other (the
//! auth_tkt cookie carries the state); a Redis session is honoured by both, and a logout on
//! one ends it on both; a credential one instance checked is served from the shared
//! memcached by the other; and when one instance is killed under load, nginx sends the
//! requests to the other and no client sees a failure.
//!
//! Needs `cargo build --workspace`, nginx, memcached, redis-server and the Python venv.
#![cfg(feature = "server")]

mod caching_support;
mod common;
mod load_support;
mod serve_support;

use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use caching_support::{memcached, redis, require_plugins, Server};
use common::{who_ini, WhoIni};
use load_support::{basic, Load};
use serve_support::{form_encode, Http, Nginx, Rewho};

const SESSION_SECRET: &str = "session-secret";
const JWT_SECRET: &str = "jwt-secret";
const UUID: &str = "6f1c2a9e-0000-4000-8000-0000000005ca";

fn ini(mc: &Server, rd: &Server) -> WhoIni {
    who_ini(&format!(
        r#"
[plugin:auth_tkt]
use = auth_tkt
secret = one secret for every instance

[plugin:basicauth]
use = basicauth
realm = scale

[plugin:backend]
use = @TESTKIT@:counting
count_file = %(here)s/backend.calls
password = pw

[plugin:cached]
use = memcached
memcached_urls = {mc}
authenticator_name = backend
secret = one cache secret for every instance

[plugin:session]
use = redis_session
secret_key = {SESSION_SECRET}
redis_url = redis://{rd}/0
key_prefix = sess:
delete_on_logout = true

[plugin:jwt]
use = jwt
secret = {JWT_SECRET}

[identifiers]
plugins = auth_tkt session jwt basicauth
[authenticators]
plugins = auth_tkt cached jwt
[challengers]
plugins = basicauth
"#,
        mc = mc.url(),
        rd = rd.url()
    ))
}

fn python_line(script: &str, args: &[&str]) -> String {
    let python = common::workspace().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `bash tests/python/setup-venv.sh`",
        python.display()
    );
    let out = Command::new(python)
        .arg(common::workspace().join("tests/python").join(script))
        .args(args)
        .output()
        .expect("run python");
    assert!(out.status.success(), "{script}: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned()
}

/// One RESP command to the Redis at `port`; the first reply line.
fn redis_cmd(port: u16, args: &[&str]) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to redis");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut cmd = format!("*{}\r\n", args.len());
    for a in args {
        cmd.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(cmd.as_bytes()).unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

fn calls(ini: &WhoIni) -> u64 {
    std::fs::metadata(ini.dir.path().join("backend.calls")).map_or(0, |m| m.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_is_shared_between_two_instances() {
    require_plugins(&[
        "auth_tkt",
        "basicauth",
        "memcached",
        "redis_session",
        "jwt",
        "testkit",
    ]);
    let (mc, rd) = (memcached(), redis());
    let ini = ini(&mc, &rd);
    let config = ["--config", ini.path.to_str().unwrap()];
    let (a, b) = (Rewho::start(&config), Rewho::start(&config));
    let http = Http::new();

    // A login on A: the auth_tkt cookie it sets is honoured by B.
    let r = http
        .post_form(
            &a.url("/_rewho/login"),
            &[],
            &format!("login=alice&password=pw&came_from={}", form_encode("/")),
        )
        .await;
    assert_eq!(r.status, 302, "{r:?}");
    let cookie = r
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("auth_tkt="))
        .expect("an auth_tkt cookie");
    let r = http
        .get(&b.url("/_rewho/auth"), &[("cookie", &cookie)])
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("x-remote-user"), Some("alice"));

    // A credential checked by A is served from the shared memcached by B: the backend
    // (one call counter for both instances) is not asked again.
    let before = calls(&ini);
    let bob = basic("bob", "pw");
    let r = http
        .get(&a.url("/_rewho/auth"), &[("authorization", &bob)])
        .await;
    assert_eq!(r.header("x-remote-user"), Some("bob"), "{r:?}");
    assert_eq!(calls(&ini), before + 1, "A asked the backend (a miss)");
    for _ in 0..3 {
        let r = http
            .get(&b.url("/_rewho/auth"), &[("authorization", &bob)])
            .await;
        assert_eq!(r.header("x-remote-user"), Some("bob"), "{r:?}");
    }
    assert_eq!(
        calls(&ini),
        before + 1,
        "B was served from the shared cache"
    );
    // A wrong password is not a hit.
    let r = http
        .get(
            &b.url("/_rewho/auth"),
            &[("authorization", &basic("bob", "nope"))],
        )
        .await;
    assert_eq!(r.status, 401, "{r:?}");

    // A Redis session is honoured by both; a logout on A deletes it, and B refuses it.
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let jwt = python_line(
        "jwt_mint.py",
        &[
            "--secret",
            JWT_SECRET,
            &format!(r#"{{"sub":"carol","exp":{exp}}}"#),
        ],
    );
    let signed = python_line(
        "itsdangerous_oracle.py",
        &["sign", "--secret", SESSION_SECRET, "--alg", "sha256", UUID],
    );
    assert_eq!(
        redis_cmd(rd.port(), &["SET", &format!("sess:{UUID}"), &jwt]),
        "+OK"
    );
    let session = format!("session_uuid={signed}");
    for instance in [&a, &b] {
        let r = http
            .get(&instance.url("/_rewho/auth"), &[("cookie", &session)])
            .await;
        assert_eq!(r.header("x-remote-user"), Some("carol"), "{r:?}");
    }
    let r = http
        .post_form(&a.url("/_rewho/logout"), &[("cookie", &session)], "")
        .await;
    assert_eq!(r.status, 302, "{r:?}");
    assert_eq!(
        redis_cmd(rd.port(), &["EXISTS", &format!("sess:{UUID}")]),
        ":0"
    );
    let r = http
        .get(&b.url("/_rewho/auth"), &[("cookie", &session)])
        .await;
    assert_eq!(r.status, 401, "the session ended on B too: {r:?}");
    assert!(r.header("x-remote-user").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_killed_under_load_behind_nginx_no_client_sees_a_failure() {
    require_plugins(&["auth_tkt", "basicauth", "memcached", "redis_session", "jwt"]);
    let (mc, rd) = (memcached(), redis());
    let ini = ini(&mc, &rd);
    let config = ["--config", ini.path.to_str().unwrap()];
    let (a, mut b) = (Rewho::start(&config), Rewho::start(&config));
    let nginx = Nginx::start(
        &format!(
            "upstream rewho {{\n server {} max_fails=1 fail_timeout=30s;\n server {} \
             max_fails=1 fail_timeout=30s;\n}}",
            a.addr, b.addr
        ),
        "location / {\n proxy_pass http://rewho;\n proxy_next_upstream error timeout \
         http_502 http_503;\n proxy_connect_timeout 2s;\n proxy_set_header Host $host;\n}",
    );
    let http = Http::new();
    // A ticket from A's login, used by every client request.
    let r = http
        .post_form(
            &a.url("/_rewho/login"),
            &[],
            "login=alice&password=pw&came_from=/",
        )
        .await;
    let cookie = r
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("auth_tkt="))
        .expect("an auth_tkt cookie");
    let url = nginx.url("/_rewho/auth");
    let load = Load::start(4, move |w, _| {
        let (http, url, cookie) = (http.clone(), url.clone(), cookie.clone());
        async move {
            if w == 3 {
                // A stranger: challenged, wherever the request lands.
                let r = http.get(&url, &[]).await;
                return match (r.status.as_u16(), r.header("www-authenticate")) {
                    (401, Some(_)) => Ok(()),
                    _ => Err(format!("stranger: {r:?}")),
                };
            }
            let r = http.get(&url, &[("cookie", &cookie)]).await;
            match (r.status.as_u16(), r.header("x-remote-user")) {
                (200, Some("alice")) => Ok(()),
                _ => Err(format!("alice: {r:?}")),
            }
        }
    });
    assert!(load.wait_for_more(60, Duration::from_secs(20)).await);
    let served_by_b_before = b.log().matches("authenticated").count();
    b.child.kill().unwrap();
    b.child.wait().unwrap();
    assert!(
        load.wait_for_more(100, Duration::from_secs(30)).await,
        "the surviving instance keeps answering"
    );
    let report = load.stop().await;
    report.assert_clean(160, "one instance killed");
    assert!(
        served_by_b_before > 0,
        "both instances took requests before the kill:\n{}",
        b.log()
    );
    // The survivor answers directly too.
    let r = Http::new()
        .get(
            &a.url("/_rewho/auth"),
            &[("authorization", &basic("bob", "pw"))],
        )
        .await;
    assert_eq!(r.header("x-remote-user"), Some("bob"), "{r:?}");
}

/// SSO attributes (the `header` plugin at login, `metadata_cache` with the Redis backend): a
/// login through the front end on A captures them; a later request to B with only the
/// auth_tkt cookie gets them replayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sso_attributes_captured_on_one_instance_are_replayed_by_the_other() {
    require_plugins(&["auth_tkt", "header", "metadata_cache", "testkit"]);
    let rd = redis();
    let ini = who_ini(&format!(
        r#"
[plugin:sso]
use = header
user_header = X-Forwarded-User
attribute_headers = X-Forwarded-Email:mail
rememberer_name = auth_tkt

[plugin:auth_tkt]
use = auth_tkt
secret = one secret for every instance

[plugin:attrs]
use = metadata_cache
backend = redis
redis_url = redis://{}/0

[plugin:mail]
use = @TESTKIT@:attribute_header
attribute = mail
header = X-Mail

[identifiers]
plugins = sso auth_tkt attrs
[authenticators]
plugins = sso auth_tkt
[mdproviders]
plugins = attrs mail
"#,
        rd.url()
    ));
    let config = ["--config", ini.path.to_str().unwrap()];
    let (a, b) = (Rewho::start(&config), Rewho::start(&config));
    let http = Http::new();
    let r = http
        .get(
            &a.url("/_rewho/auth"),
            &[
                ("x-forwarded-user", "alice"),
                ("x-forwarded-email", "alice@example.org"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("x-mail"), Some("alice@example.org"));
    let cookie = r
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("auth_tkt="))
        .expect("auth_tkt remembers the SSO login");
    let r = http
        .get(&b.url("/_rewho/auth"), &[("cookie", &cookie)])
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("x-remote-user"), Some("alice"));
    assert_eq!(
        r.header("x-mail"),
        Some("alice@example.org"),
        "B replays what A captured: {r:?}"
    );
}
