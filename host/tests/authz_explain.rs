//! `rewho check --explain` on the real binary, and audit lines: the `[authorizers]` decision
//! for one request and user, with the authorizer and rule that decided (exit 0 allow, 1 deny,
//! 2 error), and one JSON line per decision in `[general] audit_log` with no secret in it.

mod common;

use std::process::Command;

use common::plugin_so;
use rewho::{ApiFactory, Ingress, OwnedRequest};

const RULES: &str = "    /public/**            anyone
    /admin/**             group:admins
    GET,HEAD /staff/**    group:staff
    /staff/**             deny";

fn who_ini(dir: &std::path::Path, extra_general: &str) -> std::path::PathBuf {
    for p in ["basicauth", "htpasswd", "rules"] {
        plugin_so(p);
    }
    // alice:wonderland ({SHA}), as Apache's `htpasswd -s` writes it.
    std::fs::write(
        dir.join("passwd"),
        "alice:{SHA}tiY7sUhYKUwI5L3866kDY+ENcrQ=\n",
    )
    .unwrap();
    let ini = format!(
        "[general]\n{extra_general}\n\
[plugin:basicauth]\nuse = basicauth\nrealm = explain\n\n\
[plugin:htpasswd]\nuse = htpasswd\nfilename = %(here)s/passwd\n\n\
[plugin:rules]\nuse = rules\nrules =\n{RULES}\n\n\
[identifiers]\nplugins = basicauth\n[authenticators]\nplugins = htpasswd\n\
[challengers]\nplugins = basicauth\n[authorizers]\nplugins = rules\n"
    );
    let path = dir.join("who.ini");
    std::fs::write(&path, ini).unwrap();
    path
}

fn explain(ini: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rewho"))
        .args(["check", "--config", ini.to_str().unwrap(), "--explain"])
        .args(args)
        .env("REWHO_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn explain_prints_the_decision_and_the_rule_with_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let ini = who_ini(dir.path(), "");
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["GET https://app.example.com/public/x"],
            0,
            "allow by rules",
        ),
        (
            &["GET https://app.example.com/admin/users"],
            1,
            "deny by rules",
        ),
        (
            &[
                "GET https://app.example.com/admin/users",
                "--user",
                "bob",
                "--group",
                "staff",
            ],
            1,
            "deny by rules",
        ),
        (
            &[
                "GET https://app.example.com/admin/users",
                "--user",
                "alice",
                "--group",
                "admins",
            ],
            0,
            "allow by rules",
        ),
        (
            &[
                "HEAD https://app.example.com/staff/wiki",
                "--user",
                "bob",
                "--group",
                "staff",
            ],
            0,
            "allow by rules",
        ),
        (
            &[
                "POST https://app.example.com/staff/wiki",
                "--user",
                "bob",
                "--group",
                "staff",
            ],
            1,
            "deny by rules",
        ),
        // No rule matches: every authorizer abstains, and the chain fails closed.
        (
            &["GET https://app.example.com/elsewhere", "--user", "bob"],
            1,
            "no authorizer decided",
        ),
    ];
    for (args, code, needle) in cases {
        let (got, out) = explain(&ini, args);
        assert_eq!(got, *code, "{args:?}: {out}");
        assert!(out.contains(needle), "{args:?}: {out}");
    }
    // Which rule decided is named.
    let (_, out) = explain(
        &ini,
        &[
            "GET https://app.example.com/admin/x",
            "--user",
            "alice",
            "--group",
            "admins",
        ],
    );
    assert!(out.contains("/admin/**"), "the rule is shown: {out}");
    // A malformed request is an error (2), not a decision.
    let (got, out) = explain(&ini, &["nonsense"]);
    assert_eq!(got, 2, "{out}");
}

#[test]
fn every_decision_writes_one_json_audit_line_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let ini = who_ini(dir.path(), &format!("audit_log = {}", log.display()));
    let factory = ApiFactory::from_config_file(&ini).unwrap();
    let secret_basic = "Basic YWxpY2U6d29uZGVybGFuZA=="; // alice:wonderland
    let requests = [
        OwnedRequest::get("/admin/x?token=s3cr3t-token").header("Authorization", secret_basic),
        OwnedRequest::get("/public/page?password=hunter2"),
        OwnedRequest::get("/admin/x"),
    ];
    for req in &requests {
        req.with_view(|view| {
            let mut api = factory.api(view);
            let _ = matches!(api.ingress(), Ingress::Continue);
        });
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    // alice is no admin here (no groups source): an authenticated deny.
    assert_eq!(lines[0]["decision"], "deny", "{text}");
    assert_eq!(lines[0]["user"], "alice", "{text}");
    assert_eq!(lines[0]["authorizer"], "rules", "{text}");
    assert_eq!(lines[1]["decision"], "allow", "{text}");
    assert_eq!(lines[2]["decision"], "challenge", "{text}");
    for secret in [
        "s3cr3t-token",
        "hunter2",
        "wonderland",
        "YWxpY2U6d29uZGVybGFuZA",
    ] {
        assert!(
            !text.contains(secret),
            "a secret reached the audit log: {text}"
        );
    }
}
