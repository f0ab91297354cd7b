//! Files written by Apache's own `htpasswd` (apache2-utils), in every format it supports,
//! checked with the plugin's verification functions and through the plugin itself.
//!
//! These tests FAIL (they do not skip) when `htpasswd` is missing: install apache2-utils.

use std::path::Path;
use std::process::Command;

use rewho_plugin_api::testing::{environ, headers, request, TestHost};
use rewho_plugin_api::{Authenticator, LogLevel, Map, Value};
use rewho_plugin_htpasswd::db::Db;
use rewho_plugin_htpasswd::verify::{verify, CheckMode, Scheme};
use rewho_plugin_htpasswd::HtPasswd;

/// Each `htpasswd` format: flags, the scheme it must produce, and whether it keeps only eight
/// characters (DES).
const FORMATS: &[(&[&str], Scheme)] = &[
    (&["-B"], Scheme::Bcrypt),
    (&["-B", "-C", "4"], Scheme::Bcrypt),
    (&["-m"], Scheme::Apr1),
    (&["-s"], Scheme::Sha1),
    (&["-d"], Scheme::Des),
    (&["-2"], Scheme::Sha256Crypt),
    (&["-2", "-r", "12000"], Scheme::Sha256Crypt),
    (&["-5"], Scheme::Sha512Crypt),
    (&["-5", "-r", "1000"], Scheme::Sha512Crypt),
    (&["-p"], Scheme::Plain),
];

const PASSWORDS: &[&str] = &[
    "secret",
    "",
    "pässwörd ünïcode",
    "with:colon and space",
    "Tr0ub4dor&3!$*",
    "exactly8",
];

fn htpasswd() -> &'static str {
    let ok = Command::new("htpasswd")
        .arg("-nbm")
        .arg("probe")
        .arg("probe")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "Apache's `htpasswd` is required for these tests: apt-get install -y apache2-utils"
    );
    "htpasswd"
}

/// Adds `user` with `password` to `file` (creating it first) using `htpasswd -b <flags>`.
fn add(file: &Path, flags: &[&str], user: &str, password: &str) {
    let mut cmd = Command::new(htpasswd());
    cmd.arg("-b");
    if !file.exists() {
        cmd.arg("-c");
    }
    let out = cmd
        .args(flags)
        .arg(file)
        .arg(user)
        .arg(password)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "htpasswd {flags:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mode_for(scheme: Scheme) -> CheckMode {
    if scheme == Scheme::Plain {
        CheckMode::Plain
    } else {
        CheckMode::Auto
    }
}

#[test]
fn every_htpasswd_format_verifies_right_and_refuses_wrong_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for (i, (flags, scheme)) in FORMATS.iter().enumerate() {
        let file = dir.path().join(format!("format{i}.htpasswd"));
        for (j, password) in PASSWORDS.iter().enumerate() {
            add(&file, flags, &format!("user{j}"), password);
        }
        let content = std::fs::read(&file).unwrap();
        let mode = mode_for(*scheme);
        let (db, warnings) = Db::parse(&content, mode);
        assert!(warnings.is_empty(), "{flags:?}: {warnings:?}");
        assert_eq!(db.len(), PASSWORDS.len());
        for (j, password) in PASSWORDS.iter().enumerate() {
            let (hash, known) = db.lookup(&format!("user{j}"));
            let hash = hash.unwrap();
            assert!(known);
            assert_eq!(Scheme::of(hash, mode), *scheme, "{flags:?} wrote {hash}");
            assert!(verify(password, hash, mode), "{flags:?} {password:?}");
            checked += 1;
            let wrong = format!("{password}x");
            let expect_wrong_ok = *scheme == Scheme::Des && password.len() >= 8;
            assert_eq!(
                verify(&wrong, hash, mode),
                expect_wrong_ok,
                "{flags:?} accepted a wrong password for {password:?}"
            );
            assert!(!verify("WRONG", hash, mode), "{flags:?}");
            if *scheme != Scheme::Plain {
                assert!(
                    !verify(password, hash, CheckMode::Plain),
                    "{flags:?}: plain mode"
                );
            } else if !password.is_empty() {
                assert!(
                    !verify(password, hash, CheckMode::Auto),
                    "plain text in auto mode"
                );
            }
        }
    }
    assert_eq!(checked, FORMATS.len() * PASSWORDS.len());
}

#[test]
fn des_and_bcrypt_length_limits_follow_apache() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("limits");
    let long = "L".repeat(80);
    add(&file, &["-d"], "des", "abcdefghXYZ");
    add(&file, &["-B", "-C", "4"], "bcrypt", &long);
    let (db, _) = Db::parse(&std::fs::read(&file).unwrap(), CheckMode::Auto);
    let des = db.lookup("des").0.unwrap();
    assert!(
        verify("abcdefgh", des, CheckMode::Auto),
        "DES keeps 8 characters"
    );
    assert!(!verify("abcdefg", des, CheckMode::Auto));
    let bc = db.lookup("bcrypt").0.unwrap();
    assert!(verify(&long, bc, CheckMode::Auto));
    assert!(
        verify(&"L".repeat(72), bc, CheckMode::Auto),
        "bcrypt keeps 72 bytes"
    );
    assert!(!verify(&"L".repeat(71), bc, CheckMode::Auto));
}

fn authenticate(p: &HtPasswd, login: &str, password: &str) -> Option<Value> {
    let h = headers(&[]);
    let req = request("example.com", "127.0.0.1", &h);
    let mut id = Map::new();
    id.insert("login", login);
    id.insert("password", password);
    p.authenticate(&req, &mut environ(), &mut id).unwrap()
}

#[test]
fn the_plugin_reads_a_mixed_apache_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users");
    let auto_formats: Vec<_> = FORMATS
        .iter()
        .filter(|(_, s)| *s != Scheme::Plain)
        .collect();
    for (i, (flags, _)) in auto_formats.iter().enumerate() {
        add(&file, flags, &format!("u{i}"), &format!("pw-{i} ü"));
    }
    let host = TestHost::at(0);
    for check_fn in [
        "repoze.who.plugins.htpasswd:crypt_check",
        "repoze.who.plugins.htpasswd:sha1_check",
        "bcrypt:checkpw",
        "auto",
    ] {
        let p = host
            .build::<HtPasswd>(
                &[("filename", "users"), ("check_fn", check_fn)],
                dir.path().to_str().unwrap(),
            )
            .unwrap();
        for (i, (flags, _)) in auto_formats.iter().enumerate() {
            let user = format!("u{i}");
            assert_eq!(
                authenticate(&p, &user, &format!("pw-{i} ü")),
                Some(Value::from(user.as_str())),
                "{check_fn} {flags:?}"
            );
            assert_eq!(authenticate(&p, &user, "nope"), None);
        }
        assert_eq!(authenticate(&p, "nobody", "pw-0 ü"), None);
    }
    assert!(
        host.logs(LogLevel::Warn).is_empty(),
        "{:?}",
        host.logs(LogLevel::Warn)
    );

    // Plain text only with plain_check.
    let plain = dir.path().join("plain");
    add(&plain, &["-p"], "carol", "plain:text pw");
    let p = host
        .build::<HtPasswd>(
            &[
                ("filename", plain.to_str().unwrap()),
                ("check_fn", "repoze.who.plugins.htpasswd:plain_check"),
            ],
            "/",
        )
        .unwrap();
    assert_eq!(
        authenticate(&p, "carol", "plain:text pw"),
        Some(Value::from("carol"))
    );
    assert_eq!(authenticate(&p, "carol", "plain"), None);
    let p = host
        .build::<HtPasswd>(&[("filename", plain.to_str().unwrap())], "/")
        .unwrap();
    assert_eq!(authenticate(&p, "carol", "plain:text pw"), None);
    let warnings = host.logs(LogLevel::Warn);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("line 1") && w.contains("check_fn = plain")),
        "{warnings:?}"
    );
}

#[test]
fn unknown_users_cost_what_wrong_passwords_cost() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bcrypt");
    for i in 0..3 {
        add(&file, &["-B", "-C", "8"], &format!("u{i}"), "pw");
    }
    let host = TestHost::at(0);
    let p = host
        .build::<HtPasswd>(&[("filename", file.to_str().unwrap())], "/")
        .unwrap();
    let time = |login: &str| {
        let start = std::time::Instant::now();
        for _ in 0..3 {
            assert_eq!(authenticate(&p, login, "wrong"), None);
        }
        start.elapsed()
    };
    time("u0"); // warm up
    let known = time("u1");
    let unknown = time("nobody");
    // A bcrypt check at cost 8 takes milliseconds; a missing check would take microseconds.
    assert!(
        unknown * 3 > known,
        "unknown user took {unknown:?}, known user with a wrong password {known:?}"
    );
}
