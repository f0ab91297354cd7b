//! The plugin glue: options, and decisions from SDK requests and identities.

use rewho_plugin_api::state::RequestParts;
use rewho_plugin_api::testing::{view, TestHost};
use rewho_plugin_api::Map;

use super::*;

fn build(options: &[(&str, &str)], dir: &str) -> Result<Rules, PluginError> {
    TestHost::at(0).build::<Rules>(options, dir)
}

fn request<'a>(method: &'a str, host: &'a str, path: &'a str, remote: &'a str) -> Request<'a> {
    view(RequestParts {
        method,
        scheme: "https",
        host,
        path,
        query: "token=never-matched",
        peer_addr: remote,
        client_addr: remote,
        headers: &[],
    })
}

fn identity(user: Value, groups: Option<Value>) -> Identity {
    let mut id = Map::new();
    id.insert(USERID_KEY, user);
    if let Some(g) = groups {
        id.insert(GROUPS_KEY, g);
    }
    id
}

#[test]
fn options_are_checked_and_errors_name_the_rule() {
    let e = build(&[("rules", "/a anyone\n  \n/b admins")], "/").unwrap_err();
    assert_eq!(
        e.0,
        "option `rules`: rule 2 (line 3 of the option): unknown requirement `admins`; did you \
         mean `user:admins` or `group:admins`?"
    );
    assert_eq!(
        build(&[], "/").unwrap_err().0,
        "missing option `rules` (or `rules_file`)"
    );
    assert!(build(&[("rules", "/ anyone"), ("rules_file", "x")], "/")
        .unwrap_err()
        .0
        .contains("not both"));
    assert!(build(&[("rule", "/ anyone")], "/")
        .unwrap_err()
        .0
        .contains("unknown option `rule`"));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let e = build(&[("rules_file", "missing.rules")], d).unwrap_err();
    assert!(e.0.starts_with("option `rules_file`: cannot read "), "{e}");
    std::fs::write(
        dir.path().join("app.rules"),
        "# app\n/a anyone\n/b net:nowhere\n",
    )
    .unwrap();
    let e = build(&[("rules_file", "app.rules")], d).unwrap_err();
    assert_eq!(
        e.0,
        format!(
            "option `rules_file`: {d}/app.rules:3: rule 2: `net:nowhere`: `nowhere` is not an \
             address or CIDR"
        )
    );
    std::fs::write(dir.path().join("app.rules"), "# app\n/a anyone\n").unwrap();
    let p = build(&[("rules_file", "app.rules")], d).unwrap();
    assert_eq!(p.rule_set().rules().len(), 1);
}

#[test]
fn decisions_from_requests_and_identities() {
    let p = build(
        &[(
            "rules",
            "\n/public/** anyone\nPOST /admin/** group:admins\n/admin/** group:admins user:7\n\
             /intra/** net:10.0.0.0/8\n/** authenticated",
        )],
        "/",
    )
    .unwrap();
    let decide = |req: &Request<'_>, id: Option<&Identity>| {
        p.authorize(req, &mut rewho_plugin_api::testing::environ(), id)
            .unwrap()
    };
    let admin = identity("ann".into(), Some(Value::from(vec!["staff", "admins"])));
    let solo = identity("sam".into(), Some(Value::from("admins")));
    let numeric = identity(Value::Int(7), None);
    let odd_groups = identity("odd".into(), Some(Value::Int(3)));
    let cases: Vec<(Request<'_>, Option<&Identity>, Decision)> = vec![
        (request("GET", "h", "/public/x", ""), None, Decision::Allow),
        (
            request("POST", "h:443", "/admin/x", ""),
            Some(&admin),
            Decision::Allow,
        ),
        (
            request("POST", "h", "/admin/x", ""),
            Some(&solo),
            Decision::Allow,
        ),
        (
            request("POST", "h", "/admin/x", ""),
            Some(&numeric),
            Decision::Deny,
        ),
        (
            request("GET", "h", "/admin/x", ""),
            Some(&numeric),
            Decision::Allow,
        ),
        (
            request("GET", "h", "/admin/x", ""),
            Some(&odd_groups),
            Decision::Deny,
        ),
        (request("GET", "h", "/admin/x", ""), None, Decision::Deny),
        (
            request("GET", "h", "/intra", "10.9.8.7"),
            None,
            Decision::Allow,
        ),
        (
            request("GET", "h", "/intra", "[::ffff:10.9.8.7]"),
            None,
            Decision::Allow,
        ),
        (
            request("GET", "h", "/intra", "192.0.2.1"),
            None,
            Decision::Deny,
        ),
        (request("GET", "h", "/intra", ""), None, Decision::Deny),
        (
            request("GET", "h", "/x", ""),
            Some(&odd_groups),
            Decision::Allow,
        ),
        (request("GET", "h", "/x", ""), None, Decision::Deny),
    ];
    for (req, id, want) in &cases {
        let got = decide(req, *id);
        assert_eq!(
            got.decision,
            *want,
            "{} {}: {}",
            req.method(),
            req.path(),
            got.reason
        );
        assert!(!got.reason.contains("never-matched"), "{}", got.reason);
    }
    let a = decide(&request("GET", "h", "/admin", ""), Some(&numeric));
    assert_eq!(
        a.reason,
        "rule 3 `/admin/** group:admins user:7`: `user:7` is met"
    );
    let none = build(&[("rules", "/only anyone")], "/").unwrap();
    let a = none
        .authorize(
            &request("GET", "h", "/other", ""),
            &mut rewho_plugin_api::testing::environ(),
            None,
        )
        .unwrap();
    assert_eq!(
        (a.decision, a.reason.as_str()),
        (Decision::Abstain, "no rule matches")
    );
}
