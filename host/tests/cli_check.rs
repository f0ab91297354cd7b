//! `rewho check`: prints the chains for a good config (exit 0), every error for a bad one
//! (exit 2).

mod common;

use std::process::Command;

use common::who_ini;

fn rewho_check(path: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rewho"))
        .arg("check")
        .arg("--config")
        .arg(path)
        .env("REWHO_LOG", "error")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_lists_chains_plugins_libraries_and_classifiers() {
    let ini = who_ini(
        "[plugin:id]\nuse = testkit:header_identifier\n\n[plugin:acc]\nuse = testkit:accept\nlogins = a\n\n[plugin:unused]\nuse = testkit:accept\nlogins = b\n\n[identifiers]\nplugins = id;browser\n[authenticators]\nplugins = acc\n",
    );
    let (code, out, err) = rewho_check(&ini.path);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("who.ini: OK"), "{out}");
    assert!(out.contains("[identifiers]\n  1. id;browser  ("), "{out}");
    assert!(out.contains("librewho_plugin_testkit.so"), "{out}");
    assert!(out.contains("[authenticators]\n  1. acc  ("), "{out}");
    assert!(
        out.contains("request_classifier: default_request_classifier  (<builtin>)"),
        "{out}"
    );
    assert!(out.contains("[challengers]\n  (none)"), "{out}");
    // Sections no chain lists are still built, and listed.
    assert!(out.contains("unused: accept from"), "{out}");
}

#[test]
fn check_reports_every_error_and_exits_2() {
    let ini = who_ini(
        "[plugin:a]\nuse = testkit:nope\n\n[plugin:b]\nuse = testkit:accept\n\n[identifiers]\nplugins = a;x;y\n",
    );
    let (code, out, err) = rewho_check(&ini.path);
    assert_eq!(code, 2, "stdout:\n{out}\nstderr:\n{err}");
    // The config error (line 8: two `;`) is reported on its own, with file and line.
    assert!(err.contains("who.ini:8"), "{err}");

    let ini = who_ini("[plugin:a]\nuse = testkit:nope\n\n[plugin:b]\nuse = testkit:accept\n");
    let (code, _out, err) = rewho_check(&ini.path);
    assert_eq!(code, 2);
    assert!(
        err.contains("who.ini:1: [plugin:a]") && err.contains("no factory `nope`"),
        "{err}"
    );
    assert!(
        err.contains("who.ini:4: [plugin:b]") && err.contains("missing option `logins`"),
        "{err}"
    );
}

#[test]
fn check_on_a_missing_file_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _out, err) = rewho_check(&dir.path().join("nope.ini"));
    assert_eq!(code, 2);
    assert!(err.contains("nope.ini"), "{err}");
}
