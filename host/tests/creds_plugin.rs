//! The `creds` authenticator loaded from its shared library, through the Api: Basic auth
//! with a registered token, configurable identity keys, the cache seeing resets from other
//! processes, a corrupt user file, and start-up errors.

mod common;

use std::path::Path;

use rewho::{ApiFactory, OwnedRequest, Value};
use rewho_plugin_creds::store::{CredsStore, StoreOptions};

/// A who.ini in a temp folder with a `creds/` folder beside it.
struct Setup {
    dir: tempfile::TempDir,
    ini: std::path::PathBuf,
}

impl Setup {
    fn new(ini_text: &str) -> Setup {
        // The plugins must be built (`cargo build --workspace`).
        common::plugin_so("creds");
        common::plugin_so("basicauth");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("creds")).unwrap();
        let ini = dir.path().join("who.ini");
        let text = ini_text.replace("@TESTKIT@", common::plugin_so("testkit").to_str().unwrap());
        std::fs::write(&ini, text).unwrap();
        Setup { dir, ini }
    }

    fn creds(&self) -> std::path::PathBuf {
        self.dir.path().join("creds")
    }

    fn store(&self) -> CredsStore {
        CredsStore::open(self.creds(), StoreOptions::default()).unwrap()
    }

    fn register(&self, user: &str) -> String {
        let o = self
            .store()
            .register(user, &format!("{user}@example.org"))
            .unwrap();
        o.token().expect("registered").as_str().to_owned()
    }

    fn factory(&self) -> ApiFactory {
        ApiFactory::from_config_file(&self.ini).unwrap_or_else(|e| panic!("{e}"))
    }
}

const BASIC_INI: &str = r#"
[plugin:basicauth]
use = basicauth
realm = tokens

[plugin:creds]
use = creds
credsdir = creds

[identifiers]
plugins = basicauth

[authenticators]
plugins = creds

[challengers]
plugins = basicauth
"#;

/// The user id the factory authenticates for a request with these headers.
fn userid(f: &ApiFactory, headers: &[(&str, &str)]) -> Option<Value> {
    let mut req = OwnedRequest::get("/");
    for (n, v) in headers {
        req = req.header(n, v);
    }
    req.with_view(|view| {
        let mut api = f.api(view);
        api.authenticate().and_then(|id| id.userid().cloned())
    })
}

#[test]
fn basic_auth_with_a_registered_token() {
    let s = Setup::new(BASIC_INI);
    let alice = s.register("alice");
    let bob = s.register("bob");
    let f = s.factory();
    let auth = |u: &str, t: &str| userid(&f, &[("Authorization", &common::basic(u, t))]);
    assert_eq!(auth("alice", &alice), Some(Value::from("alice")));
    assert_eq!(auth("bob", &bob), Some(Value::from("bob")));
    assert_eq!(
        auth("alice", &alice.to_uppercase()),
        Some(Value::from("alice"))
    );
    assert_eq!(auth("alice", &bob), None);
    assert_eq!(auth("carol", &alice), None);
    assert_eq!(auth("alice", "not-a-token"), None);
    assert_eq!(auth("alice", ""), None);
    assert_eq!(auth("../creds/alice", &alice), None);
    assert_eq!(auth("", &alice), None);
    assert_eq!(userid(&f, &[]), None);
}

#[test]
fn resets_by_another_process_take_effect_on_the_next_request() {
    let s = Setup::new(BASIC_INI);
    let old = s.register("alice");
    let f = s.factory();
    let auth = |t: &str| userid(&f, &[("Authorization", &common::basic("alice", t))]);
    assert_eq!(auth(&old), Some(Value::from("alice")));
    // `rewho creds reset` in another process.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rewho"))
        .args(["creds", "reset", "alice", "alice@example.org", "--credsdir"])
        .arg(s.creds())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let new = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(auth(&old), None);
    assert_eq!(auth(&new), Some(Value::from("alice")));
    // And a removal.
    assert!(s.store().remove_user("alice").unwrap().status());
    assert_eq!(auth(&new), None);
}

#[test]
fn a_corrupt_user_file_fails_only_that_user() {
    let s = Setup::new(BASIC_INI);
    let alice = s.register("alice");
    let bob = s.register("bob");
    let f = s.factory();
    std::fs::write(s.creds().join("bob.json"), b"{\"user\": \"bob\", \"email").unwrap();
    assert_eq!(
        userid(&f, &[("Authorization", &common::basic("bob", &bob))]),
        None
    );
    assert_eq!(
        userid(&f, &[("Authorization", &common::basic("alice", &alice))]),
        Some(Value::from("alice"))
    );
}

#[test]
fn identity_keys_are_configurable() {
    // The token in X-Test-Login ("login") and the user in X-Test-Password ("password").
    let s = Setup::new(
        r#"
[plugin:hdr]
use = @TESTKIT@:header_identifier

[plugin:creds]
use = creds
credsdir = %(here)s/creds
login_key = password
token_key = login

[identifiers]
plugins = hdr

[authenticators]
plugins = creds
"#,
    );
    let alice = s.register("alice");
    let f = s.factory();
    assert_eq!(
        userid(
            &f,
            &[("X-Test-Login", &alice), ("X-Test-Password", "alice")]
        ),
        Some(Value::from("alice"))
    );
    assert_eq!(
        userid(
            &f,
            &[("X-Test-Login", "alice"), ("X-Test-Password", &alice)]
        ),
        None
    );
}

fn setup_error(ini_text: &str) -> String {
    let s = Setup::new(ini_text);
    match ApiFactory::from_config_file(&s.ini) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_options_stop_start_up() {
    let e = setup_error("[plugin:creds]\nuse = creds\ncredsdir = creds\ntoken_keys = x\n");
    assert!(e.contains("unknown option `token_keys`"), "{e}");
    let e = setup_error("[plugin:creds]\nuse = creds\ncredsdir = nowhere\n");
    assert!(e.contains("nowhere") && e.contains("does not exist"), "{e}");
    let e = setup_error("[plugin:creds]\nuse = creds\ncredsdir = creds\nnbytes = 0\n");
    assert!(e.contains("nbytes"), "{e}");
}

/// The environment fallback, and `rewho check` reporting the plugin as doing I/O (run as a
/// process: changing this process's environment would race other tests).
#[test]
fn the_folder_may_come_from_the_environment() {
    let s = Setup::new("[plugin:creds]\nuse = creds\n\n[authenticators]\nplugins = creds\n");
    let check = |env: Option<&Path>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rewho"));
        cmd.args(["check", "--config"]).arg(&s.ini);
        cmd.env_remove("REWHO_CREDS_DIR");
        if let Some(d) = env {
            cmd.env("REWHO_CREDS_DIR", d);
        }
        cmd.output().unwrap()
    };
    let out = check(Some(&s.creds()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        stdout.contains("roles: authenticator; does I/O"),
        "{stdout}"
    );
    let out = check(None);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("REWHO_CREDS_DIR"), "{stderr}");
}
