//! Secrets stay secret: the auth_tkt secret, redis_session `secret_key`, jwt secret, memcached
//! secret, passwords and tokens never appear in the host's logs (at `trace`), in `rewho
//! check` output, in `Debug` output of configs, factories and identities, or in config error
//! messages — while the same runs show that the secrets were in use.
#![cfg(feature = "server")]

mod common;
mod serve_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use rewho::{ApiFactory, Config, OwnedRequest};
use serve_support::{form_encode, Http, Rewho};
use sha2::{Digest, Sha256};

const TKT_SECRET: &str = "tkt-Secret-8c1f0e";
const SESSION_SECRET: &str = "sess-Secret-41d7aa";
const JWT_SECRET: &str = "jwt-Secret-9b03c2";
const MC_SECRET: &str = "mc-Secret-77e0d4";
const BOB_PASSWORD: &str = "bob-Pass-5e2b19";
const WRONG_PASSWORD: &str = "wrong-Pass-0a6f3c";
const REDIS_PASSWORD: &str = "redis-Pass-3d9e61";

/// Every plugin that holds a secret, with outages (no memcached, no Redis on the ports named)
/// so the error paths are logged too.
fn ini_text(dead_port: u16) -> String {
    format!(
        r#"
[plugin:auth_tkt]
use = auth_tkt
secret = {TKT_SECRET}

[plugin:basicauth]
use = basicauth
realm = secrets

[plugin:htpasswd]
use = htpasswd
filename = %(here)s/passwd
check_fn = plain

[plugin:mc]
use = memcached
memcached_urls = 127.0.0.1:{dead_port}
authenticator_name = htpasswd
secret = {MC_SECRET}
timeout_ms = 200

[plugin:jwt]
use = jwt
secret = {JWT_SECRET}

[plugin:session]
use = redis_session
secret_key = {SESSION_SECRET}
redis_url = redis://:{REDIS_PASSWORD}@127.0.0.1:{dead_port}/0
redis_timeout = 0.2

[plugin:creds]
use = creds
credsdir = %(here)s/creds

[identifiers]
plugins = auth_tkt basicauth jwt session

[authenticators]
plugins = auth_tkt jwt creds mc

[challengers]
plugins = basicauth
"#
    )
}

fn setup() -> (tempfile::TempDir, PathBuf) {
    for p in [
        "auth_tkt",
        "basicauth",
        "htpasswd",
        "memcached",
        "jwt",
        "redis_session",
        "creds",
    ] {
        common::plugin_so(p);
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("creds")).unwrap();
    std::fs::write(dir.path().join("passwd"), format!("bob:{BOB_PASSWORD}\n")).unwrap();
    let ini = dir.path().join("who.ini");
    std::fs::write(&ini, ini_text(serve_support::free_port())).unwrap();
    (dir, ini)
}

/// URL-safe base64 without padding, as JWTs are encoded.
fn b64url(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |x: u8| k.iter().map(|b| b ^ x).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// An HS256 JWT for `sub`, signed with `key`.
fn jwt(sub: &str, key: &str) -> String {
    let head = b64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = b64url(format!(r#"{{"sub":"{sub}"}}"#).as_bytes());
    let signing_input = format!("{head}.{body}");
    let sig = b64url(&hmac_sha256(key.as_bytes(), signing_input.as_bytes()));
    format!("{signing_input}.{sig}")
}

fn creds_register(ini: &Path, user: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rewho"))
        .args(["creds", "register", user, "someone@example.org", "--config"])
        .arg(ini)
        .env_remove("REWHO_CREDS_DIR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Asserts that none of `secrets` occurs in `text` (naming the one that does, not printing
/// the whole text's secret twice).
fn assert_absent(what: &str, text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(
            !text.contains(s),
            "{what} contains the secret {s:?}:\n{text}"
        );
    }
}

#[tokio::test]
async fn serve_logs_at_trace_never_show_secrets_passwords_or_tokens() {
    let (_dir, ini) = setup();
    let alice_token = creds_register(&ini, "alice");
    let good_jwt = jwt("carol", JWT_SECRET);
    let forged_jwt = jwt("mallory", "not-the-secret");
    let rewho = Rewho::start_with_env(
        &["--config", ini.to_str().unwrap()],
        None,
        &[("REWHO_LOG", "trace")],
    );
    let http = Http::new();
    let auth = rewho.url("/_rewho/auth");
    // Right credentials of each kind are accepted: the secrets are really in use.
    let r = http
        .get(
            &auth,
            &[("authorization", &common::basic("bob", BOB_PASSWORD))],
        )
        .await;
    assert_eq!(
        r.header("x-remote-user"),
        Some("bob"),
        "{r:?}\n{}",
        rewho.log()
    );
    let r = http
        .get(
            &auth,
            &[("authorization", &common::basic("alice", &alice_token))],
        )
        .await;
    assert_eq!(r.header("x-remote-user"), Some("alice"), "{r:?}");
    let r = http
        .get(&auth, &[("authorization", &format!("Bearer {good_jwt}"))])
        .await;
    assert_eq!(r.header("x-remote-user"), Some("carol"), "{r:?}");
    // A login mints an auth_tkt cookie.
    let r = http
        .post_form(
            &rewho.url("/_rewho/login"),
            &[],
            &format!(
                "login=bob&password={}&came_from=/",
                form_encode(BOB_PASSWORD)
            ),
        )
        .await;
    let cookie = r
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("auth_tkt="))
        .unwrap_or_else(|| panic!("no auth_tkt cookie: {r:?}\n{}", rewho.log()));
    let r = http.get(&auth, &[("cookie", &cookie)]).await;
    assert_eq!(r.header("x-remote-user"), Some("bob"), "{r:?}");
    let ticket = cookie
        .split_once('=')
        .unwrap()
        .1
        .trim_matches('"')
        .to_owned();

    // Wrong ones of each kind are refused.
    for bad in [
        common::basic("bob", WRONG_PASSWORD),
        common::basic("alice", &format!("{alice_token}x")),
        format!("Bearer {forged_jwt}"),
    ] {
        let r = http.get(&auth, &[("authorization", &bad)]).await;
        assert_eq!(r.status, 401, "{bad}: {r:?}");
    }
    let forged_ticket = format!("{}{}", "0".repeat(32), &ticket[32..]);
    let r = http
        .get(
            &auth,
            &[("cookie", &format!("auth_tkt=\"{forged_ticket}\""))],
        )
        .await;
    assert_eq!(r.status, 401);
    let signed_session = "6f1c2a9e-0000-4000-8000-000000000001.c2lnbmF0dXJlLW5vdC12YWxpZA";
    let r = http
        .get(
            &auth,
            &[("cookie", &format!("session_uuid={signed_session}"))],
        )
        .await;
    assert_eq!(r.status, 401);

    let log = rewho.log();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "trace logging is on:\n{log}"
    );
    let jwt_sig = good_jwt.rsplit('.').next().unwrap();
    assert_absent(
        "the trace log",
        &log,
        &[
            TKT_SECRET,
            SESSION_SECRET,
            JWT_SECRET,
            MC_SECRET,
            REDIS_PASSWORD,
            BOB_PASSWORD,
            WRONG_PASSWORD,
            &alice_token,
            jwt_sig,
            &ticket[..32],
            "c2lnbmF0dXJlLW5vdC12YWxpZA",
        ],
    );
}

#[test]
fn rewho_check_output_shows_no_secret() {
    let (_dir, ini) = setup();
    let out = Command::new(env!("CARGO_BIN_EXE_rewho"))
        .args(["check", "--config"])
        .arg(&ini)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("auth_tkt") && text.contains("session"),
        "{text}"
    );
    assert_absent(
        "rewho check",
        &text,
        &[
            TKT_SECRET,
            SESSION_SECRET,
            JWT_SECRET,
            MC_SECRET,
            REDIS_PASSWORD,
        ],
    );
}

#[test]
fn debug_of_config_document_factory_and_identity_hides_secrets() {
    let (_dir, ini) = setup();
    let text = std::fs::read_to_string(&ini).unwrap();
    let doc = rewho::config::parse_ini(&text, &ini).unwrap();
    let config = Config::parse(&text, &ini).unwrap();
    let factory = ApiFactory::from_config_file(&ini).unwrap();
    let secrets = [
        TKT_SECRET,
        SESSION_SECRET,
        JWT_SECRET,
        MC_SECRET,
        REDIS_PASSWORD,
    ];
    for (what, dbg) in [
        ("IniDocument", format!("{doc:?}")),
        ("Config", format!("{config:?}")),
        ("Config (pretty)", format!("{config:#?}")),
        ("ApiFactory", format!("{factory:?}")),
    ] {
        assert_absent(what, &dbg, &secrets);
    }
    // The rest is still shown: Debug stays useful.
    let dbg = format!("{config:?}");
    assert!(
        dbg.contains("memcached_urls") && dbg.contains("<hidden, 17 bytes>"),
        "{dbg}"
    );

    // An identity holding a password (basicauth's) does not show it either.
    let mut req = OwnedRequest::get("/");
    req.headers
        .push(("Authorization".into(), common::basic("bob", BOB_PASSWORD)));
    req.with_view(|view| {
        let mut api = factory.api(view);
        let identity = api.authenticate().expect("bob authenticates");
        assert_absent(
            "Identity",
            &format!("{identity:?} {identity:#?}"),
            &[BOB_PASSWORD],
        );
        assert_absent("Api", &format!("{api:?}"), &[BOB_PASSWORD]);
    });
}

#[test]
fn config_errors_do_not_quote_secrets() {
    // A secret with a stray '%' is a ConfigParser interpolation error; Python's message
    // quotes the rest of the value. Ours names the option and line only.
    let text = "[plugin:auth_tkt]\nuse = auth_tkt\nsecret = Kx7%fQ9zW-tail\n";
    let err = Config::parse(text, Path::new("/tmp/who.ini")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(":3:") && msg.contains("'secret'"), "{msg}");
    assert!(msg.contains("%%"), "says how to fix it: {msg}");
    assert_absent("the error", &format!("{msg} {err:?}"), &["fQ9zW", "Kx7"]);
    // Other options keep Python's detail.
    let text = "[plugin:auth_tkt]\nuse = auth_tkt\ncookie_name = a%zb\n";
    let msg = Config::parse(text, Path::new("/tmp/who.ini"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("%zb"), "{msg}");
}

#[test]
fn plugin_errors_about_secret_files_name_the_file_not_its_content() {
    let dir = tempfile::tempdir().unwrap();
    // Not a secret file at all: a file whose content must never be echoed.
    let private = dir.path().join("private.txt");
    std::fs::write(&private, "PRIVATE-CONTENT-13579\n").unwrap();
    for (plugin, extra) in [
        ("auth_tkt", "secretfile = %(here)s/missing.secret"),
        ("auth_tkt", "secretfile = %(here)s\nsecret = also"),
        ("jwt", "public_key_file = %(here)s/private.txt"),
        ("jwt", "jwks_file = %(here)s/private.txt"),
    ] {
        common::plugin_so(plugin);
        let ini = dir.path().join("who.ini");
        std::fs::write(
            &ini,
            format!("[plugin:p]\nuse = {plugin}\n{extra}\n[authenticators]\nplugins = p\n"),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_rewho"))
            .args(["check", "--config"])
            .arg(&ini)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(2), "{plugin} {extra}: {text}");
        assert!(
            text.contains("[plugin:p]") || text.contains("plugin:p"),
            "{text}"
        );
        assert_absent("the error", &text, &["PRIVATE-CONTENT-13579", "also"]);
    }
}
