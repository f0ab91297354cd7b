//! Table-driven tests of the rule grammar, matching and every compile error message.

use rewho_plugin_rules::engine::{Effect, RuleSet, Subject, Target};

/// Who asks in a table row.
#[derive(Clone, Copy)]
enum Who {
    Anon,
    User(&'static str, &'static [&'static str]),
}

fn run(
    set: &RuleSet,
    who: Who,
    method: &str,
    host: &str,
    path: &str,
    client: Option<&str>,
) -> String {
    let (user, groups): (Option<&str>, &[&str]) = match who {
        Who::Anon => (None, &[]),
        Who::User(u, g) => (Some(u), g),
    };
    let subject = Subject {
        user,
        groups: &groups,
    };
    let target = Target {
        method,
        host,
        path,
        client: client.map(|c| c.parse().unwrap()),
    };
    let v = set.evaluate(&subject, &target);
    assert_eq!(
        v.reason(),
        v.to_string(),
        "the fast reason reads as Display does"
    );
    match (v.effect, v.rule) {
        (e, Some(r)) => format!("{e} {}", r.number()),
        (e, None) => e.to_string(),
    }
}

const ALICE: Who = Who::User("alice", &["admins", "staff"]);
const BOB: Who = Who::User("bob", &["staff"]);
const CAROL: Who = Who::User("carol", &[]);
const ANON: Who = Who::Anon;

/// (rules, who, method, host, path, client, expected "effect [rule]")
type Row = (
    &'static str,
    Who,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
);

fn check(rows: &[Row]) {
    let mut failures = Vec::new();
    for (i, (rules, who, method, host, path, client, want)) in rows.iter().enumerate() {
        let set = RuleSet::compile(rules).unwrap_or_else(|e| panic!("row {i}: {rules:?}: {e}"));
        let got = run(&set, *who, method, host, path, *client);
        if got != *want {
            failures.push(format!(
                "row {i}: {rules:?} {method} {host}{path}: want {want}, got {got}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn methods() {
    check(&[
        (
            "GET /a/** anyone",
            ANON,
            "GET",
            "h",
            "/a/x",
            None,
            "allow 1",
        ),
        (
            "GET /a/** anyone",
            ANON,
            "POST",
            "h",
            "/a/x",
            None,
            "abstain",
        ),
        (
            "GET,HEAD /a/** anyone",
            ANON,
            "HEAD",
            "h",
            "/a",
            None,
            "allow 1",
        ),
        // Methods are case-sensitive, as HTTP says; GET does not imply HEAD.
        ("GET /a/** anyone", ANON, "get", "h", "/a", None, "abstain"),
        ("GET /a/** anyone", ANON, "HEAD", "h", "/a", None, "abstain"),
        (
            "POST,PUT,DELETE /api/** group:admins\n/api/** authenticated",
            BOB,
            "DELETE",
            "h",
            "/api/x",
            None,
            "deny 1",
        ),
        (
            "POST,PUT,DELETE /api/** group:admins\n/api/** authenticated",
            BOB,
            "GET",
            "h",
            "/api/x",
            None,
            "allow 2",
        ),
        (
            "M-SEARCH /** anyone",
            ANON,
            "M-SEARCH",
            "h",
            "/",
            None,
            "allow 1",
        ),
    ]);
}

#[test]
fn hosts() {
    let r = "app.example.com/admin/** group:admins\n*.example.com/** authenticated\n/** anyone";
    check(&[
        (r, BOB, "GET", "app.example.com", "/admin/x", None, "deny 1"),
        (
            r,
            ALICE,
            "GET",
            "app.example.com",
            "/admin/x",
            None,
            "allow 1",
        ),
        // Case, port and a trailing dot do not matter.
        (
            r,
            BOB,
            "GET",
            "APP.Example.COM:8443",
            "/admin",
            None,
            "deny 1",
        ),
        (r, BOB, "GET", "app.example.com.", "/admin", None, "deny 1"),
        // Another host skips rule 1; the wildcard takes one label or more, not the bare domain.
        (
            r,
            ANON,
            "GET",
            "other.example.com",
            "/admin",
            None,
            "deny 2",
        ),
        (r, ANON, "GET", "a.b.example.com", "/x", None, "deny 2"),
        (r, ANON, "GET", "example.com", "/admin", None, "allow 3"),
        (r, ANON, "GET", "evilexample.com", "/admin", None, "allow 3"),
        (
            r,
            ANON,
            "GET",
            "app.example.com.evil.org",
            "/admin",
            None,
            "allow 3",
        ),
        (r, ANON, "GET", "", "/admin", None, "allow 3"),
        (
            "[::1]/** deny\n/** anyone",
            ANON,
            "GET",
            "[::1]:8080",
            "/",
            None,
            "deny 1",
        ),
        (
            "127.0.0.1/** deny\n/** anyone",
            ANON,
            "GET",
            "127.0.0.1:80",
            "/",
            None,
            "deny 1",
        ),
    ]);
}

#[test]
fn stars_and_double_stars() {
    check(&[
        // `/admin/**` matches `/admin`, `/admin/` and everything below, nothing beside.
        ("/admin/** deny", ANON, "GET", "h", "/admin", None, "deny 1"),
        (
            "/admin/** deny",
            ANON,
            "GET",
            "h",
            "/admin/",
            None,
            "deny 1",
        ),
        (
            "/admin/** deny",
            ANON,
            "GET",
            "h",
            "/admin/a/b/c",
            None,
            "deny 1",
        ),
        (
            "/admin/** deny",
            ANON,
            "GET",
            "h",
            "/administrator",
            None,
            "abstain",
        ),
        ("/admin/** deny", ANON, "GET", "h", "/", None, "abstain"),
        // `*` is one segment exactly.
        ("/u/* deny", ANON, "GET", "h", "/u/alice", None, "deny 1"),
        ("/u/* deny", ANON, "GET", "h", "/u/alice/x", None, "abstain"),
        ("/u/* deny", ANON, "GET", "h", "/u", None, "abstain"),
        (
            "/u/*/edit deny",
            ANON,
            "GET",
            "h",
            "/u/alice/edit",
            None,
            "deny 1",
        ),
        ("/* deny", ANON, "GET", "h", "/x", None, "deny 1"),
        ("/* deny", ANON, "GET", "h", "/", None, "abstain"),
        ("/ deny", ANON, "GET", "h", "/", None, "deny 1"),
        ("/ deny", ANON, "GET", "h", "/x", None, "abstain"),
        // `*` inside a segment.
        (
            "/static/*.css anyone",
            ANON,
            "GET",
            "h",
            "/static/site.css",
            None,
            "allow 1",
        ),
        (
            "/static/*.css anyone",
            ANON,
            "GET",
            "h",
            "/static/.css",
            None,
            "allow 1",
        ),
        (
            "/static/*.css anyone",
            ANON,
            "GET",
            "h",
            "/static/site.js",
            None,
            "abstain",
        ),
        (
            "/static/*.css anyone",
            ANON,
            "GET",
            "h",
            "/static/a/b.css",
            None,
            "abstain",
        ),
        (
            "/v*-beta*/x anyone",
            ANON,
            "GET",
            "h",
            "/v2-beta3/x",
            None,
            "allow 1",
        ),
        (
            "/v*-beta*/x anyone",
            ANON,
            "GET",
            "h",
            "/v2-gamma/x",
            None,
            "abstain",
        ),
        ("/a*a anyone", ANON, "GET", "h", "/a", None, "abstain"),
        ("/a*a anyone", ANON, "GET", "h", "/aa", None, "allow 1"),
        // `**` in the middle, and several.
        (
            "/api/**/items anyone",
            ANON,
            "GET",
            "h",
            "/api/items",
            None,
            "allow 1",
        ),
        (
            "/api/**/items anyone",
            ANON,
            "GET",
            "h",
            "/api/v1/x/items",
            None,
            "allow 1",
        ),
        (
            "/api/**/items anyone",
            ANON,
            "GET",
            "h",
            "/api/v1/items/3",
            None,
            "abstain",
        ),
        (
            "/**/a/**/b anyone",
            ANON,
            "GET",
            "h",
            "/x/a/y/a/z/b",
            None,
            "allow 1",
        ),
        (
            "/**/a/**/b anyone",
            ANON,
            "GET",
            "h",
            "/x/a/y/b/c",
            None,
            "abstain",
        ),
        ("/** anyone", ANON, "GET", "h", "/", None, "allow 1"),
        ("/**/** anyone", ANON, "GET", "h", "/x", None, "allow 1"),
        // Percent-escapes in patterns mean what they mean in paths.
        (
            "/caf%C3%A9/** deny",
            ANON,
            "GET",
            "h",
            "/café/x",
            None,
            "deny 1",
        ),
        (
            "/café/** deny",
            ANON,
            "GET",
            "h",
            "/caf%c3%a9",
            None,
            "deny 1",
        ),
    ]);
}

#[test]
fn first_match_requirements_and_abstain() {
    let r = "/admin/** group:admins user:carol\n/public/** anyone\n/api/** group:staff&net:10.0.0.0/8\n/private/** authenticated\n/closed/** deny";
    check(&[
        // First match decides, even when a later rule would allow.
        (
            "/a/** deny\n/a/** anyone",
            ANON,
            "GET",
            "h",
            "/a",
            None,
            "deny 1",
        ),
        (
            "/a/** anyone\n/a/** deny",
            ANON,
            "GET",
            "h",
            "/a",
            None,
            "allow 1",
        ),
        // Several requirements: any one suffices.
        (r, ALICE, "GET", "h", "/admin/x", None, "allow 1"),
        (r, CAROL, "GET", "h", "/admin/x", None, "allow 1"),
        (r, BOB, "GET", "h", "/admin/x", None, "deny 1"),
        // A matching line whose requirements fail denies, also for the anonymous.
        (r, ANON, "GET", "h", "/admin/x", None, "deny 1"),
        (r, ANON, "GET", "h", "/public/x", None, "allow 2"),
        // `&`: every condition; `net:` needs a known client address inside the network.
        (r, BOB, "GET", "h", "/api/x", Some("10.1.2.3"), "allow 3"),
        (
            r,
            BOB,
            "GET",
            "h",
            "/api/x",
            Some("::ffff:10.1.2.3"),
            "allow 3",
        ),
        (r, BOB, "GET", "h", "/api/x", Some("192.0.2.1"), "deny 3"),
        (r, BOB, "GET", "h", "/api/x", None, "deny 3"),
        (r, CAROL, "GET", "h", "/api/x", Some("10.1.2.3"), "deny 3"),
        (r, ANON, "GET", "h", "/private", None, "deny 4"),
        (r, CAROL, "GET", "h", "/private", None, "allow 4"),
        (r, ALICE, "GET", "h", "/closed/x", None, "deny 5"),
        // No rule matches: abstain (the chain, not this plugin, fails closed).
        (r, ALICE, "GET", "h", "/elsewhere", None, "abstain"),
        (r, ANON, "GET", "h", "/", None, "abstain"),
        // `net:` alone admits the anonymous from that network.
        (
            "/intra/** net:192.168.0.0/16 net:fd00::/8",
            ANON,
            "GET",
            "h",
            "/intra",
            Some("192.168.9.9"),
            "allow 1",
        ),
        (
            "/intra/** net:192.168.0.0/16 net:fd00::/8",
            ANON,
            "GET",
            "h",
            "/intra",
            Some("fd12::1"),
            "allow 1",
        ),
        (
            "/intra/** net:192.168.0.0/16 net:fd00::/8",
            ANON,
            "GET",
            "h",
            "/intra",
            Some("fe80::1"),
            "deny 1",
        ),
        // Escapes in names; the empty user id is a user.
        (
            "/** user:a%20b",
            Who::User("a b", &[]),
            "GET",
            "h",
            "/",
            None,
            "allow 1",
        ),
        (
            "/** user:0",
            Who::User("0", &[]),
            "GET",
            "h",
            "/",
            None,
            "allow 1",
        ),
        (
            "/** authenticated",
            Who::User("", &[]),
            "GET",
            "h",
            "/",
            None,
            "allow 1",
        ),
        // Group names are exact.
        ("/** group:Admins", ALICE, "GET", "h", "/", None, "deny 1"),
        // Comments and blank lines do not count as rules.
        (
            "# top\n\n/a/** deny # trailing\n/** anyone",
            ANON,
            "GET",
            "h",
            "/b",
            None,
            "allow 2",
        ),
    ]);
}

#[test]
fn paths_are_normalised_before_matching() {
    let r = "/admin/** group:admins\n/public/** anyone\n/** authenticated";
    check(&[
        // Dot segments, doubled slashes and escapes cannot get around `/admin/**`.
        (r, ANON, "GET", "h", "/admin/../admin", None, "deny 1"),
        (
            r,
            ANON,
            "GET",
            "h",
            "/public/../admin/users",
            None,
            "deny 1",
        ),
        (r, ANON, "GET", "h", "//admin", None, "deny 1"),
        (r, ANON, "GET", "h", "/./admin/", None, "deny 1"),
        (r, ANON, "GET", "h", "/%61dmin", None, "deny 1"),
        (r, ANON, "GET", "h", "/public/%2e%2e/admin", None, "deny 1"),
        (
            r,
            ANON,
            "GET",
            "h",
            "/public/%2E%2E/%2E/admin",
            None,
            "deny 1",
        ),
        (r, ANON, "GET", "h", "/public/x/..", None, "allow 2"),
        (
            r,
            ANON,
            "GET",
            "h",
            "/public/page;jsessionid=abc",
            None,
            "allow 2",
        ),
        (r, ANON, "GET", "h", "/public/a%20b", None, "allow 2"),
        (r, ANON, "GET", "h", "/public/100%25", None, "allow 2"),
        // Paths that cannot be read safely are denied, whatever the rules say.
        (r, ALICE, "GET", "h", "/../admin", None, "deny"),
        (r, ALICE, "GET", "h", "/public/../../x", None, "deny"),
        (r, ALICE, "GET", "h", "/public/%zz", None, "deny"),
        (r, ALICE, "GET", "h", "/public/%4", None, "deny"),
        (r, ALICE, "GET", "h", "/public/%00", None, "deny"),
        (r, ALICE, "GET", "h", "/public/%0a", None, "deny"),
        (
            r,
            ALICE,
            "GET",
            "h",
            "/public/%c0%ae%c0%ae/admin",
            None,
            "deny",
        ),
        // Double-encoded: a back end that decodes twice would see `..`.
        (
            r,
            ALICE,
            "GET",
            "h",
            "/public/%252e%252e/admin",
            None,
            "deny",
        ),
        (r, ALICE, "GET", "h", "/public/%25%32e", None, "deny"),
        (r, ALICE, "GET", "h", "/public/100%25", None, "allow 2"),
        (r, ALICE, "GET", "h", "/public/100%25off", None, "allow 2"),
        // Encoded slashes, backslashes and `;`: every reading must pick the same rule.
        (r, ANON, "GET", "h", "/public/..;/admin", None, "deny"),
        (r, ANON, "GET", "h", "/public/..%2Fadmin", None, "deny"),
        (r, ANON, "GET", "h", "/public\\..\\admin", None, "deny"),
        (r, ANON, "GET", "h", "/public%5c..%5cadmin", None, "deny"),
        (r, ANON, "GET", "h", "/admin;x/y", None, "deny"),
        (r, ALICE, "GET", "h", "/admin/a%2Fb", None, "allow 1"),
        (r, ANON, "GET", "h", "/public/a%2Fb", None, "allow 2"),
        // An encoded slash is not a way out of a protected folder either.
        (
            r,
            ANON,
            "GET",
            "h",
            "/admin/x%2F..%2F..%2Fpublic",
            None,
            "deny",
        ),
        (
            "/files/* anyone\n/** deny",
            ANON,
            "GET",
            "h",
            "/files/a%2Fb",
            None,
            "deny",
        ),
    ]);
}

#[test]
fn many_segments_spill_without_changing_results() {
    let set = RuleSet::compile("/a/**/z anyone\n/a/** deny").unwrap();
    let deep = format!("/a{}/z", "/s".repeat(60));
    assert_eq!(run(&set, ANON, "GET", "h", &deep, None), "allow 1");
    let back = format!("/a{}{}/z", "/s".repeat(60), "/..".repeat(59));
    assert_eq!(run(&set, ANON, "GET", "h", &back, None), "allow 1");
    let out = format!("/a{}{}/z", "/s".repeat(30), "/..".repeat(32));
    assert_eq!(run(&set, ANON, "GET", "h", &out, None), "deny");
}

#[test]
fn verdicts_explain_themselves() {
    let set = RuleSet::compile(
        "/admin/**   group:admins  user:carol\n/closed/** deny\n/public/** anyone\n/** group:staff&net:10.0.0.0/8",
    )
    .unwrap();
    let text = |who, path: &str, client: Option<&str>| {
        let (user, groups): (Option<&str>, &[&str]) = match who {
            Who::Anon => (None, &[]),
            Who::User(u, g) => (Some(u), g),
        };
        let t = Target {
            method: "GET",
            host: "h",
            path,
            client: client.map(|c| c.parse().unwrap()),
        };
        set.evaluate(
            &Subject {
                user,
                groups: &groups,
            },
            &t,
        )
        .to_string()
    };
    assert_eq!(
        text(ALICE, "/admin/x", None),
        "rule 1 `/admin/** group:admins user:carol`: `group:admins` is met"
    );
    assert_eq!(
        text(BOB, "/admin", None),
        "rule 1 `/admin/** group:admins user:carol`: no requirement is met"
    );
    assert_eq!(
        text(ALICE, "/closed", None),
        "rule 2 `/closed/** deny`: denies"
    );
    assert_eq!(
        text(BOB, "/x", Some("10.0.0.1")),
        "rule 4 `/** group:staff&net:10.0.0.0/8`: `group:staff&net:10.0.0.0/8` is met"
    );
    assert_eq!(
        text(ALICE, "/x/%00", None),
        "unsafe path: it holds a control character"
    );
    assert_eq!(
        text(ANON, "/public/..;/admin", None),
        "ambiguous path: read literally it matches rule 3, read as some servers do (encoded or \
         back slashes as separators, `;params` dropped) rule 1"
    );
    let none = RuleSet::compile("/a anyone").unwrap();
    let v = none.evaluate(&Subject::ANONYMOUS, &Target::new("GET", "h", "/b"));
    assert_eq!(
        (v.effect, v.to_string().as_str()),
        (Effect::Abstain, "no rule matches")
    );
    assert_eq!(set.rules()[0].text(), "/admin/** group:admins user:carol");
    assert_eq!((set.rules()[3].number(), set.rules()[3].line()), (4, 4));
}

/// Every compile error, with its exact message.
#[test]
fn error_messages() {
    let cases: &[(&str, &str)] = &[
        ("", "no rules: every request would abstain; write at least one rule"),
        ("# only a comment\n\n", "no rules: every request would abstain; write at least one rule"),
        ("GET", "rule 1 (line 1 of the option): no target after the methods: write a path such as `/admin/**` or `HOST/PATH`"),
        ("/a anyone\n\n/admin/**", "rule 2 (line 3 of the option): `/admin/**` has no requirement: add anyone, authenticated, deny, user:ID, group:NAME or net:CIDR"),
        ("get /a anyone", "rule 1 (line 1 of the option): `get` is not a method list (upper-case methods separated by commas, e.g. `GET,HEAD`); methods are case-sensitive and written in upper case"),
        ("GET,,HEAD /a anyone", "rule 1 (line 1 of the option): `GET,,HEAD` is not a method list (upper-case methods separated by commas, e.g. `GET,HEAD`)"),
        ("app.example.com anyone", "rule 1 (line 1 of the option): `app.example.com` is not a method list (upper-case methods separated by commas, e.g. `GET,HEAD`); if it is a host, add a path: `HOST/**`"),
        ("user:alice /a", "rule 1 (line 1 of the option): `user:alice` is not a method list (upper-case methods separated by commas, e.g. `GET,HEAD`); requirements come after the target"),
        ("GET admin anyone", "rule 1 (line 1 of the option): path `admin`: the path must start with `/`"),
        ("app.example.com:8443/a anyone", "rule 1 (line 1 of the option): host `app.example.com:8443`: ports are not matched; remove the port"),
        ("a.*.example.com/a anyone", "rule 1 (line 1 of the option): host `a.*.example.com`: `*` is allowed only as the first label (`*.example.com`)"),
        ("ex ample.com/a anyone", "rule 1 (line 1 of the option): `ex` is not a method list (upper-case methods separated by commas, e.g. `GET,HEAD`); methods are case-sensitive and written in upper case"),
        ("a..b/x anyone", "rule 1 (line 1 of the option): host `a..b`: not a host name (letters, digits, `-` and dots)"),
        ("[::1/x anyone", "rule 1 (line 1 of the option): host `[::1`: not an IPv6 address in brackets"),
        ("/a** anyone", "rule 1 (line 1 of the option): path `/a**`: `**` must be a whole path segment (`/a/**`, not `/a**`)"),
        ("/a//b anyone", "rule 1 (line 1 of the option): path `/a//b`: empty path segment (`//`)"),
        ("/a/../b anyone", "rule 1 (line 1 of the option): path `/a/../b`: `.` and `..` segments never match: request paths are normalised first"),
        ("/a?x=1 anyone", "rule 1 (line 1 of the option): path `/a?x=1`: `?` and `#` cannot be matched: rules see the path only"),
        ("/a\\b anyone", "rule 1 (line 1 of the option): path `/a\\b`: `\\` is ambiguous (some servers read it as `/`)"),
        ("/a%zz anyone", "rule 1 (line 1 of the option): path `/a%zz`: the path holds a `%` not followed by two hex digits"),
        ("/a%00 anyone", "rule 1 (line 1 of the option): path `/a%00`: the path holds a control character"),
        ("/a%2541 anyone", "rule 1 (line 1 of the option): path `/a%2541`: the path holds a double-encoded escape (`%25` and two hex digits)"),
        ("/a admins", "rule 1 (line 1 of the option): unknown requirement `admins`; did you mean `user:admins` or `group:admins`?"),
        ("/a Authenticated", "rule 1 (line 1 of the option): unknown requirement `Authenticated`; did you mean `authenticated`?"),
        ("/a groups:x", "rule 1 (line 1 of the option): unknown requirement `groups:x`; did you mean `group:`?"),
        ("/a ip:10.0.0.1", "rule 1 (line 1 of the option): unknown requirement `ip:10.0.0.1`; did you mean `net:`?"),
        ("/a role:x", "rule 1 (line 1 of the option): unknown requirement `role:x`; did you mean `group:`?"),
        ("/a users:x", "rule 1 (line 1 of the option): unknown requirement `users:x`; did you mean `user:`?"),
        ("/a claim:x", "rule 1 (line 1 of the option): unknown requirement `claim:x`; requirements are anyone, authenticated, deny, user:ID, group:NAME, net:CIDR"),
        ("/a group:x&", "rule 1 (line 1 of the option): unknown requirement `` (an empty condition: `&` needs something on both sides)"),
        ("/a user:", "rule 1 (line 1 of the option): `user:` needs a value after the colon"),
        ("/a group:", "rule 1 (line 1 of the option): `group:` needs a value after the colon"),
        ("/a net:", "rule 1 (line 1 of the option): `net:` needs a value after the colon"),
        ("/a user:100%", "rule 1 (line 1 of the option): `user:100%`: a `%` must be followed by two hex digits (`%25` for `%` itself)"),
        ("/a group:%zz", "rule 1 (line 1 of the option): `group:%zz`: a `%` must be followed by two hex digits (`%25` for `%` itself)"),
        ("/a net:10.0.0.0/33", "rule 1 (line 1 of the option): `net:10.0.0.0/33`: `10.0.0.0/33`: the prefix length must be 0..=32"),
        ("/a net:10.0.0.1/8", "rule 1 (line 1 of the option): `net:10.0.0.1/8`: `10.0.0.1/8` has host bits set; did you mean `10.0.0.0/8`?"),
        ("/a net:intranet", "rule 1 (line 1 of the option): `net:intranet`: `intranet` is not an address or CIDR"),
        ("/a deny user:x", "rule 1 (line 1 of the option): `deny` must stand alone: a line that denies cannot also grant"),
        ("/a deny&net:10.0.0.0/8", "rule 1 (line 1 of the option): `deny` must stand alone: a line that denies cannot also grant"),
        ("/a anyone group:x", "rule 1 (line 1 of the option): `anyone` admits every request, so `group:x` beside it has no effect; remove one"),
        ("/a anyone&net:10.0.0.0/8", "rule 1 (line 1 of the option): `anyone` admits every request, so `anyone&net:10.0.0.0/8` beside it has no effect; remove one"),
    ];
    let mut failures = Vec::new();
    for (text, want) in cases {
        match RuleSet::compile(text) {
            Ok(_) => failures.push(format!("{text:?} compiled")),
            Err(e) if e.to_string() != *want => {
                failures.push(format!("{text:?}\n  want {want}\n  got  {e}"))
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn file_errors_name_file_and_line() {
    let e = RuleSet::compile("# header\n/a anyone\n/b nobody\n").unwrap_err();
    assert_eq!(e.line(), Some(3));
    assert_eq!(
        e.in_file("/etc/rewho/rules.txt"),
        "/etc/rewho/rules.txt:3: rule 2: unknown requirement `nobody`; did you mean `user:nobody` or `group:nobody`?"
    );
}
