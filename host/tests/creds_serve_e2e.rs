//! End to end: a user registered with `rewho creds` logs in with HTTP Basic (user name +
//! token) through `rewho serve`, as forward-auth and through the reverse proxy; a reset
//! with `rewho creds` takes effect on the running server at once.
#![cfg(feature = "server")]

mod common;
mod serve_support;

use std::path::Path;
use std::process::Command;

use serve_support::{Http, Rewho, Upstream};

const INI: &str = r#"
[plugin:basicauth]
use = basicauth
realm = tokens

[plugin:creds]
use = creds
credsdir = %(here)s/creds

[identifiers]
plugins = basicauth

[authenticators]
plugins = creds

[challengers]
plugins = basicauth
"#;

/// `rewho creds ARGS --config who.ini` (the folder comes from the plugin section); stdout.
fn creds(ini: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rewho"))
        .arg("creds")
        .args(args)
        .arg("--config")
        .arg(ini)
        .env_remove("REWHO_CREDS_DIR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A who.ini with an (empty) credentials folder beside it.
fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    common::plugin_so("creds");
    common::plugin_so("basicauth");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("creds")).unwrap();
    let ini = dir.path().join("who.ini");
    std::fs::write(&ini, INI).unwrap();
    (dir, ini)
}

#[tokio::test]
async fn forward_auth_with_basic_and_a_registered_token() {
    let (_dir, ini) = setup();
    let token = creds(&ini, &["register", "alice", "alice@example.org"]);
    let rewho = Rewho::start(&["--config", ini.to_str().unwrap()]);
    let http = Http::new();
    let auth = |user: &str, token: &str| common::basic(user, token);
    let url = rewho.url("/_rewho/auth");

    let r = http
        .get(&url, &[("authorization", &auth("alice", &token))])
        .await;
    assert_eq!(r.status, 200, "{r:?}\n{}", rewho.log());
    assert_eq!(r.header("x-remote-user"), Some("alice"));

    for wrong in [
        auth("alice", &"0".repeat(40)),
        auth("alice", "not-hex"),
        auth("bob", &token),
        auth("../creds/alice", &token),
    ] {
        let r = http.get(&url, &[("authorization", &wrong)]).await;
        assert_eq!(r.status, 401, "{r:?}");
        assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"tokens\""));
        assert_eq!(r.header("x-remote-user"), None);
    }
    let r = http.get(&url, &[]).await;
    assert_eq!(r.status, 401);

    // A reset on the command line: the running server sees it on the next request.
    let new = creds(&ini, &["reset", "alice", "alice@example.org"]);
    let r = http
        .get(&url, &[("authorization", &auth("alice", &token))])
        .await;
    assert_eq!(r.status, 401, "the old token must stop working");
    let r = http
        .get(&url, &[("authorization", &auth("alice", &new))])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-remote-user"), Some("alice"));

    // Deregistered: gone.
    creds(&ini, &["deregister", "alice", &new]);
    let r = http
        .get(&url, &[("authorization", &auth("alice", &new))])
        .await;
    assert_eq!(r.status, 401);
    // Tokens never reach the log.
    let log = rewho.log();
    assert!(!log.contains(&token) && !log.contains(&new), "{log}");
}

#[tokio::test]
async fn the_reverse_proxy_passes_the_user_and_challenges_without_a_token() {
    let (_dir, ini) = setup();
    let token = creds(&ini, &["register", "alice", "alice@example.org"]);
    let upstream = Upstream::start().await;
    let up = format!("http://{}", upstream.addr);
    let rewho = Rewho::start(&["--config", ini.to_str().unwrap(), "--upstream", &up]);
    let http = Http::new();

    let r = http
        .get(
            &rewho.url("/page"),
            &[("authorization", &common::basic("alice", &token))],
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}\n{}", rewho.log());
    let seen = upstream.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(seen.get("x-remote-user").map(String::as_str), Some("alice"));

    // The application asks for a login: the basicauth challenge, whatever the client sent.
    let r = http
        .get(
            &rewho.url("/status/401"),
            &[("authorization", &common::basic("alice", "00"))],
        )
        .await;
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"tokens\""));
    // And a client cannot pose as a user.
    let r = http
        .get(&rewho.url("/page"), &[("x-remote-user", "alice")])
        .await;
    assert_eq!(r.status, 200);
    let seen = upstream.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(seen.get("x-remote-user"), None, "{seen:?}");
}

/// The `/_rewho/creds/` endpoints through `rewho serve`: register over HTTP with the admin
/// token, then log in with the new token.
#[tokio::test]
async fn creds_endpoints_through_serve() {
    let (dir, ini) = setup();
    let admin = "admin-token-for-tests";
    let hash: String = rewho::creds_http::admin_token_sha256(admin)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let text = format!("{INI}\n[creds]\nenabled = true\nadmin_token_sha256 = {hash}\n");
    std::fs::write(&ini, text).unwrap();
    let rewho = Rewho::start(&["--config", ini.to_str().unwrap()]);
    let http = Http::new();
    let json = [("content-type", "application/json")];
    let bearer = format!("Bearer {admin}");
    let with_admin = [json[0], ("authorization", bearer.as_str())];

    let body = r#"{"user": "alice", "email": "alice@example.org"}"#;
    let r = http
        .send("POST", &rewho.url("/_rewho/creds/register"), &json, body)
        .await;
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&r.body).ok(),
        Some(serde_json::json!({"message": "admin credential required", "status": false}))
    );
    let r = http
        .send(
            "POST",
            &rewho.url("/_rewho/creds/register"),
            &with_admin,
            body,
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let token = v["token"].as_str().unwrap().to_owned();
    assert!(dir.path().join("creds/alice.json").is_file());

    let verify = format!(r#"{{"user": "alice", "token": "{token}"}}"#);
    let r = http
        .send("POST", &rewho.url("/_rewho/creds/verify"), &json, &verify)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"verified": true, "message": "User verified", "status": true})
    );

    let r = http
        .get(
            &rewho.url("/_rewho/auth"),
            &[("authorization", &common::basic("alice", &token))],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-remote-user"), Some("alice"));
    assert!(!rewho.log().contains(&token));
}
