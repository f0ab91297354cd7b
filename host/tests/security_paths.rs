//! Path traversal in the file-backed plugins: a creds user name such as `../x`, `/`, NUL or
//! an absolute path never reaches a file outside the credentials folder — not through the
//! store, not through `rewho creds`, not through a login. A planted user file one folder up,
//! whose token the attacker knows, must stay unreachable.
#![cfg(feature = "server")]

mod common;

use std::path::Path;
use std::process::Command;

use rewho::{ApiFactory, OwnedRequest};
use rewho_plugin_creds::store::{CredsStore, RegisterOutcome, StoreOptions, VerifyOutcome};

fn register(dir: &Path, user: &str) -> String {
    let store = CredsStore::open(dir, StoreOptions::create()).unwrap();
    match store.register(user, "v@example.org").unwrap() {
        RegisterOutcome::Registered { token, .. } => token.into_string(),
        other => panic!("{other:?}"),
    }
}

/// Every file under `dir`, recursively, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
        }
    }
    out.sort();
    out
}

const EVIL: [&str; 9] = [
    "../outside/victim",
    "..",
    ".",
    "/",
    "/etc/passwd",
    "a/../../outside/victim",
    "..\\outside\\victim",
    "victim\0",
    "",
];

#[test]
fn creds_store_refuses_traversing_user_names_before_touching_the_disk() {
    let root = tempfile::tempdir().unwrap();
    let victim_token = register(&root.path().join("outside"), "victim");
    let creds = root.path().join("creds");
    let store = CredsStore::open(&creds, StoreOptions::create()).unwrap();
    let before = tree(root.path());
    for user in EVIL {
        let err = store.verify(user, &victim_token).unwrap_err();
        assert!(err.is_invalid_user(), "{user:?}: {err}");
        let err = store.register(user, "m@evil.example").unwrap_err();
        assert!(err.is_invalid_user(), "{user:?}: {err}");
        assert!(store
            .deregister(user, &victim_token)
            .unwrap_err()
            .is_invalid_user());
        assert!(store.remove_user(user).unwrap_err().is_invalid_user());
        assert!(store
            .reset(user, "v@example.org")
            .unwrap_err()
            .is_invalid_user());
    }
    assert_eq!(tree(root.path()), before, "nothing was written anywhere");
    // The victim is intact, and only reachable from its own folder.
    let outside = CredsStore::open(root.path().join("outside"), StoreOptions::default()).unwrap();
    assert!(matches!(
        outside.verify("victim", &victim_token).unwrap(),
        VerifyOutcome::Verified { .. }
    ));
}

#[test]
fn rewho_creds_cli_refuses_traversing_user_names() {
    let root = tempfile::tempdir().unwrap();
    let victim_token = register(&root.path().join("outside"), "victim");
    std::fs::create_dir(root.path().join("creds")).unwrap();
    let before = tree(root.path());
    for user in EVIL.iter().filter(|u| !u.contains('\0')) {
        for args in [
            vec!["verify", user, &victim_token],
            vec!["register", user, "m@evil.example"],
            vec!["remove", user],
        ] {
            let out = Command::new(env!("CARGO_BIN_EXE_rewho"))
                .arg("creds")
                .args(&args)
                .env("REWHO_CREDS_DIR", root.path().join("creds"))
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            assert!(!stderr.is_empty(), "{args:?}: says why");
            assert!(!stderr.contains(&victim_token), "{stderr}");
        }
    }
    assert_eq!(tree(root.path()), before);
}

#[test]
fn a_login_as_a_traversing_user_never_reads_outside_the_folder() {
    common::plugin_so("creds");
    common::plugin_so("basicauth");
    let ini = common::who_ini(
        "[plugin:basicauth]\nuse = basicauth\n[plugin:creds]\nuse = creds\n\
         credsdir = %(here)s/creds\n[identifiers]\nplugins = basicauth\n\
         [authenticators]\nplugins = creds\n",
    );
    let here = ini.path.parent().unwrap();
    std::fs::create_dir(here.join("creds")).unwrap();
    let victim_token = register(&here.join("outside"), "victim");
    let own_token = register(&here.join("creds"), "alice");
    let factory = ApiFactory::from_config_file(&ini.path).unwrap();
    let login = |user: &str, token: &str| {
        let mut req = OwnedRequest::get("/");
        let pair = format!("{user}:{token}");
        req.headers.push((
            "Authorization".into(),
            format!("Basic {}", b64(pair.as_bytes())),
        ));
        req.with_view(|view| {
            factory
                .api(view)
                .authenticate()
                .and_then(|i| i.userid().and_then(|u| u.as_str()).map(str::to_owned))
        })
    };
    assert_eq!(login("alice", &own_token).as_deref(), Some("alice"));
    for user in EVIL {
        assert_eq!(login(user, &victim_token), None, "{user:?}");
    }
    assert_eq!(login("../outside/victim", &victim_token), None);
}

fn b64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
