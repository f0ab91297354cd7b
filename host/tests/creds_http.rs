//! The `/_rewho/creds/` endpoint logic ([`rewho::creds_http::handle`]) and the `[creds]`
//! section: fixie-creds' JSON shapes, the admin credential, input checks, and config errors.

use std::path::Path;

use rewho::config::parse_ini;
use rewho::creds_http::{
    admin_token_sha256, handle, CredsHttpConfig, CredsSection, MAX_BODY, PREFIX,
};
use rewho_plugin_creds::store::{CredsStore, StoreOptions};
use serde_json::{json, Value};

const ADMIN: &str = "s3cret-admin-token";

fn enabled(dir: &Path) -> CredsHttpConfig {
    let store = CredsStore::open(dir.join("creds"), StoreOptions::create()).unwrap();
    CredsHttpConfig::new(store, Some(admin_token_sha256(ADMIN)))
}

fn admin() -> Vec<(String, String)> {
    vec![("Authorization".into(), format!("Bearer {ADMIN}"))]
}

/// POSTs `body` to `op` and returns the status and parsed answer.
fn post(
    cfg: &CredsHttpConfig,
    op: &str,
    headers: &[(String, String)],
    body: Value,
) -> (u16, Value) {
    let (status, text) = handle(
        "POST",
        &format!("{PREFIX}{op}"),
        headers,
        body.to_string().as_bytes(),
        cfg,
    );
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}")),
    )
}

fn register(cfg: &CredsHttpConfig, user: &str) -> String {
    let (s, v) = post(
        cfg,
        "register",
        &admin(),
        json!({"user": user, "email": format!("{user}@example.org")}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], json!(true), "{v}");
    v["token"].as_str().unwrap().to_owned()
}

#[test]
fn fixie_creds_shapes_for_every_endpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = enabled(tmp.path());
    let token = register(&cfg, "alice");
    assert_eq!(token.len(), 40);

    let (s, v) = post(
        &cfg,
        "register",
        &admin(),
        json!({"user": "alice", "email": "x@example.org"}),
    );
    assert_eq!(
        (s, v),
        (
            200,
            json!({"token": "<not-a-token>", "status": false, "message": "User 'alice' already registered"})
        )
    );

    let (s, v) = post(
        &cfg,
        "verify",
        &[],
        json!({"user": "alice", "token": token}),
    );
    assert_eq!(
        (s, v),
        (
            200,
            json!({"verified": true, "message": "User verified", "status": true})
        )
    );
    let (s, v) = post(
        &cfg,
        "verify",
        &[],
        json!({"user": "alice", "token": "abcd"}),
    );
    assert_eq!(
        (s, v),
        (
            200,
            json!({"verified": false, "message": "Invalid user or token", "status": true})
        )
    );
    let (s, v) = post(&cfg, "verify", &[], json!({"user": "bob", "token": "abcd"}));
    assert_eq!(
        (s, v),
        (
            200,
            json!({"verified": false, "message": "Invalid user or token", "status": true})
        )
    );

    let (s, v) = post(
        &cfg,
        "reset",
        &admin(),
        json!({"user": "alice", "email": "wrong@example.org"}),
    );
    assert_eq!(
        (s, v),
        (
            200,
            json!({"token": "<not-a-token>", "status": false, "message": "User email does not match registered email address"})
        )
    );
    let (s, v) = post(
        &cfg,
        "reset",
        &admin(),
        json!({"user": "bob", "email": "bob@example.org"}),
    );
    assert_eq!(
        (s, v),
        (
            200,
            json!({"token": "<not-a-token>", "status": false, "message": "User 'bob' not registered"})
        )
    );
    let (s, v) = post(
        &cfg,
        "reset",
        &admin(),
        json!({"user": "alice", "email": "alice@example.org"}),
    );
    assert_eq!(s, 200);
    assert_eq!(v["status"], json!(true));
    let new = v["token"].as_str().unwrap().to_owned();
    assert_ne!(new, token);
    assert_eq!(
        post(
            &cfg,
            "verify",
            &[],
            json!({"user": "alice", "token": token})
        )
        .1["verified"],
        json!(false)
    );

    let (s, v) = post(
        &cfg,
        "deregister",
        &admin(),
        json!({"user": "alice", "token": token}),
    );
    assert_eq!(
        (s, v),
        (
            200,
            json!({"message": "Invalid token for user alice", "status": false})
        )
    );
    let (s, v) = post(
        &cfg,
        "deregister",
        &admin(),
        json!({"user": "alice", "token": new}),
    );
    assert_eq!(
        (s, v),
        (
            200,
            json!({"message": "alice deregistered", "status": true})
        )
    );
    let (s, v) = post(
        &cfg,
        "deregister",
        &admin(),
        json!({"user": "alice", "token": new}),
    );
    assert_eq!(
        (s, v),
        (
            200,
            json!({"message": "User 'alice' not registered", "status": false})
        )
    );

    register(&cfg, "carol");
    let (s, v) = post(&cfg, "remove", &admin(), json!({"user": "carol"}));
    assert_eq!(
        (s, v),
        (200, json!({"message": "carol removed", "status": true}))
    );
    let (s, v) = post(&cfg, "remove", &admin(), json!({"user": "carol"}));
    assert_eq!(
        (s, v),
        (
            200,
            json!({"message": "User 'carol' not registered", "status": false})
        )
    );
}

#[test]
fn mutations_need_the_admin_token() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = enabled(tmp.path());
    let body = json!({"user": "alice", "email": "a@example.org"});
    let wrong = |h: &str| vec![("authorization".to_owned(), h.to_owned())];
    for headers in [
        vec![],
        wrong("Bearer nope"),
        wrong(&format!("Basic {ADMIN}")),
        wrong(&format!("Bearer {ADMIN}x")),
        wrong("Bearer"),
        vec![("X-Admin".to_owned(), ADMIN.to_owned())],
    ] {
        for op in ["register", "reset", "deregister", "remove"] {
            let (s, v) = post(&cfg, op, &headers, body.clone());
            assert_eq!(
                (s, v),
                (
                    401,
                    json!({"status": false, "message": "admin credential required"})
                ),
                "{op} {headers:?}"
            );
        }
    }
    assert!(!tmp.path().join("creds/alice.json").exists());
    // The scheme is case-insensitive; extra blanks are fine.
    let (s, _) = post(
        &cfg,
        "register",
        &wrong(&format!("bearer   {ADMIN} ")),
        body.clone(),
    );
    assert_eq!(s, 200);

    // No admin token configured: mutations are refused outright, verify still works.
    let store = CredsStore::open(tmp.path().join("creds"), StoreOptions::default()).unwrap();
    let open = CredsHttpConfig::new(store, None);
    let (s, v) = post(
        &open,
        "register",
        &admin(),
        json!({"user": "bob", "email": "b"}),
    );
    assert_eq!(s, 403, "{v}");
    let (s, v) = post(
        &open,
        "verify",
        &[],
        json!({"user": "alice", "token": "00"}),
    );
    assert_eq!((s, v["status"].clone()), (200, json!(true)));
}

#[test]
fn bad_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = enabled(tmp.path());
    let raw = |method: &str, path: &str, body: &[u8]| handle(method, path, &admin(), body, &cfg);
    let message = |r: (u16, String)| -> (u16, String) {
        let v: Value = serde_json::from_str(&r.1).unwrap();
        assert_eq!(v["status"], json!(false), "{}", r.1);
        (r.0, v["message"].as_str().unwrap().to_owned())
    };
    let verify = "/_rewho/creds/verify";
    assert_eq!(message(raw("GET", verify, b"")), (405, "use POST".into()));
    assert_eq!(message(raw("POST", "/_rewho/creds/nope", b"{}")).0, 404);
    assert_eq!(message(raw("POST", "/_rewho/creds/", b"{}")).0, 404);
    assert_eq!(message(raw("POST", "/_rewho/auth", b"{}")).0, 404);
    assert_eq!(message(raw("POST", verify, b"not json")).0, 400);
    assert_eq!(
        message(raw("POST", verify, b"[1]")),
        (400, "body must be a JSON object".into())
    );
    let cases = [
        (json!({"user": "alice"}), "missing field `token`"),
        (
            json!({"user": "alice", "token": "00", "x": 1}),
            "unknown field `x`",
        ),
        (
            json!({"user": 1, "token": "00"}),
            "field `user` must be a string",
        ),
        (
            json!({"user": "", "token": "00"}),
            "field `user` must not be empty",
        ),
        (
            json!({"user": "a", "token": "0x12"}),
            "field `token` must be hexadecimal digits",
        ),
        (
            json!({"user": "a", "token": ""}),
            "field `token` must not be empty",
        ),
    ];
    for (body, want) in cases {
        let r = raw("POST", verify, body.to_string().as_bytes());
        assert_eq!(message(r), (400, want.to_owned()), "{body}");
    }
    let r = raw(
        "POST",
        "/_rewho/creds/register",
        br#"{"user": "a", "email": ""}"#,
    );
    assert_eq!(message(r), (400, "field `email` must not be empty".into()));
    // Names that would leave the folder.
    for user in ["../x", "/etc/passwd", "a\\b", "..", "a\u{0}b"] {
        let body = json!({"user": user, "email": "e"}).to_string();
        let (s, m) = message(raw("POST", "/_rewho/creds/register", body.as_bytes()));
        assert_eq!(s, 400, "{user:?}");
        assert!(m.starts_with("invalid user name"), "{m}");
    }
    assert!(!tmp.path().join("x.json").exists());
    // Too large.
    let big = vec![b' '; MAX_BODY + 1];
    assert_eq!(message(raw("POST", verify, &big)).0, 413);
    // A query string is ignored.
    let body = json!({"user": "alice", "token": "00"}).to_string();
    assert_eq!(
        raw("POST", "/_rewho/creds/verify?x=1", body.as_bytes()).0,
        200
    );
}

#[test]
fn a_corrupt_file_is_a_500_without_details() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = enabled(tmp.path());
    let alice = register(&cfg, "alice");
    std::fs::write(tmp.path().join("creds/bob.json"), "{").unwrap();
    let (s, v) = post(&cfg, "verify", &[], json!({"user": "bob", "token": "00"}));
    assert_eq!(s, 500);
    let text = v.to_string();
    assert!(
        !text.contains("bob.json") && !text.contains(tmp.path().to_str().unwrap()),
        "{text}"
    );
    let (s, v) = post(
        &cfg,
        "verify",
        &[],
        json!({"user": "alice", "token": alice}),
    );
    assert_eq!((s, v["verified"].clone()), (200, json!(true)));
}

#[test]
fn disabled_endpoints_answer_404() {
    let cfg = CredsHttpConfig::disabled();
    assert!(!cfg.is_enabled());
    let body = json!({"user": "alice", "token": "00"}).to_string();
    let (s, _) = handle(
        "POST",
        "/_rewho/creds/verify",
        &admin(),
        body.as_bytes(),
        &cfg,
    );
    assert_eq!(s, 404);
}

fn doc(dir: &Path, text: &str) -> rewho::config::IniDocument {
    parse_ini(text, &dir.join("who.ini")).unwrap()
}

#[test]
fn the_creds_section() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    std::fs::create_dir(t.join("creds")).unwrap();
    let hash = "3a9b1fdd1c0c4c3e15ae0c2ae3a0f3b4f1c3c56a8e1b0e4a1e1c6d5c8c2e1f00";

    // No section, or not enabled: disabled.
    assert!(!CredsHttpConfig::from_document(&doc(t, ""))
        .unwrap()
        .is_enabled());
    let off = doc(t, "[creds]\nenabled = false\ncredsdir = nowhere\n");
    assert!(!CredsHttpConfig::from_document(&off).unwrap().is_enabled());

    // Enabled, relative credsdir, admin hash.
    let on = doc(
        t,
        &format!("[creds]\nenabled = yes\ncredsdir = creds\nadmin_token_sha256 = {hash}\n"),
    );
    let cfg = CredsHttpConfig::from_document(&on).unwrap();
    assert!(cfg.is_enabled());
    assert_eq!(cfg.store().unwrap().dir(), t.join("creds"));
    assert!(!format!("{cfg:?}").contains(hash), "{cfg:?}");

    // admin_token_file holds the token itself (trailing newline ignored).
    std::fs::write(t.join("admin"), format!("{ADMIN}\n")).unwrap();
    let on = doc(
        t,
        "[creds]\nenabled = true\ncredsdir = %(here)s/creds\nadmin_token_file = admin\n",
    );
    let cfg = CredsHttpConfig::from_document(&on).unwrap();
    let (s, _) = post(
        &cfg,
        "register",
        &admin(),
        json!({"user": "alice", "email": "a"}),
    );
    assert_eq!(s, 200);

    // The plugin section's folder when [creds] has none.
    let via_plugin = doc(
        t,
        "[plugin:c]\nuse = creds\ncredsdir = creds\nnbytes = 32\n\n[creds]\nenabled = true\n",
    );
    let section = CredsSection::from_document(&via_plugin).unwrap();
    assert_eq!(section.credsdir.as_deref(), Some(t.join("creds").as_path()));
    assert_eq!(section.nbytes, 32);

    let error = |text: &str| {
        CredsHttpConfig::from_document(&doc(t, text))
            .unwrap_err()
            .to_string()
    };
    let e = error("[creds]\nenabled = maybe\n");
    assert!(
        e.ends_with("who.ini:2: [creds] `enabled` must be true or false, not \"maybe\""),
        "{e}"
    );
    let e = error("[creds]\nenabled = true\ncredsdir = creds\nadmin_token = x\n");
    assert!(
        e.contains(":4: [creds] unknown option `admin_token`"),
        "{e}"
    );
    let e = error("[creds]\nenabled = true\ncredsdir = creds\nadmin_token_sha256 = abc\n");
    assert!(
        e.contains(":4: [creds] `admin_token_sha256` must be 64 hex digits"),
        "{e}"
    );
    let e = error(&format!(
        "[creds]\nenabled = true\ncredsdir = creds\nadmin_token_sha256 = {hash}\nadmin_token_file = admin\n"
    ));
    assert!(
        e.contains(":5: [creds] set `admin_token_sha256` or `admin_token_file`, not both"),
        "{e}"
    );
    let e = error("[creds]\nenabled = true\ncredsdir = missing\n");
    assert!(
        e.contains(":3: [creds]") && e.contains("does not exist"),
        "{e}"
    );
    let e = error("[creds]\nenabled = true\ncredsdir = creds\nadmin_token_file = nofile\n");
    assert!(e.contains(":4: [creds]") && e.contains("nofile"), "{e}");
    std::fs::write(t.join("empty"), "\n").unwrap();
    let e = error("[creds]\nenabled = true\ncredsdir = creds\nadmin_token_file = empty\n");
    assert!(e.contains("the admin token file is empty"), "{e}");
    let e = error("[creds]\nenabled = true\ncredsdir = creds\nnbytes = many\n");
    assert!(
        e.contains(":4: [creds] `nbytes` must be a whole number"),
        "{e}"
    );
    let e = error(
        "[plugin:a]\nuse = creds\ncredsdir = one\n[plugin:b]\nuse = creds\ncredsdir = two\n\
         [creds]\nenabled = true\n",
    );
    assert!(
        e.contains(":4: [creds] [plugin:b] uses another credentials folder"),
        "{e}"
    );
}
