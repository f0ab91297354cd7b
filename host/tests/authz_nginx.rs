//! Authorization end to end: real nginx (`auth_request`, the shipped example) in front of a
//! test upstream, `rewho serve` with three users in an Apache `htpasswd -B` file, their
//! groups in an htgroup file, and a `rules` authorizer. Forward-auth must answer 200,
//! 401 + challenge or 403 exactly as the rules say, and the upstream must never see a
//! request the rules refused.
//!
//! Ignored until the `Authorizer` role is wired into the host (plugin-api 1.0, the
//! `[authorizers]` chain, `Api::authorize()`); run it with
//! `cargo test -p rewho --test authz_nginx -- --ignored` once it is.
#![cfg(feature = "server")]

mod common;
mod serve_support;

use serve_support::{apache_htpasswd, basic, example, Http, Nginx, Rewho, Upstream};

/// The rules under test: public, admins only, staff only, any login.
const RULES: &str = "    /public/**            anyone
    /admin/**             group:admins
    GET,HEAD /staff/**    group:staff
    /staff/**             deny
    /**                   authenticated";

/// Users (login, password, groups in the htgroup file).
const USERS: [(&str, &str, &str); 3] = [
    ("alice", "wonderland", "admins staff"),
    ("bob", "builder", "staff"),
    ("carol", "singer", ""),
];

fn who_ini(dir: &std::path::Path) -> std::path::PathBuf {
    for p in ["basicauth", "htpasswd", "htgroup", "rules"] {
        common::plugin_so(p);
    }
    let passwd = dir.join("passwd");
    for (i, (user, password, _)) in USERS.iter().enumerate() {
        apache_htpasswd(&passwd, &["-B", "-C", "4"], user, password, i == 0);
    }
    std::fs::write(
        dir.join("groups"),
        "# made for authz_nginx\nadmins: alice\nstaff: alice bob\n",
    )
    .unwrap();
    let ini = format!(
        "[general]\nrequest_classifier = accept_request_classifier\n\
challenge_decider = default_challenge_decider\n\n\
[plugin:basicauth]\nuse = basicauth\nrealm = authz tests\n\n\
[plugin:htpasswd]\nuse = htpasswd\nfilename = %(here)s/passwd\n\n\
[plugin:groups]\nuse = htgroup\nfilename = %(here)s/groups\n\n\
[plugin:rules]\nuse = rules\nrules =\n{RULES}\n\n\
[identifiers]\nplugins = basicauth\n\n\
[authenticators]\nplugins = htpasswd\n\n\
[challengers]\nplugins = basicauth\n\n\
[mdproviders]\nplugins = groups\n\n\
[authorizers]\nplugins = rules\n"
    );
    let path = dir.join("who.ini");
    std::fs::write(&path, ini).unwrap();
    path
}

/// (Authorization header or anonymous, method, path, status; the upstream's `X-Remote-User`
/// when it passes).
type Case<'a> = (Option<&'a str>, &'a str, &'a str, u16, Option<&'a str>);

fn subst(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "the example no longer contains {from:?}"
    );
    text.replace(from, to)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_forward_auth_answers_as_the_rules_say() {
    let dir = tempfile::tempdir().unwrap();
    let ini = who_ini(dir.path());
    let rewho = Rewho::start(&["--config", ini.to_str().unwrap()]);
    let upstream = Upstream::start().await;
    let nginx = Nginx::start_site(&example("nginx/rewho.conf"), |text, port| {
        let t = subst(text, "listen 80;", &format!("listen 127.0.0.1:{port};"));
        let t = subst(&t, "127.0.0.1:8080", &rewho.addr.to_string());
        subst(&t, "127.0.0.1:3000", &upstream.addr.to_string())
    });
    let http = Http::new();
    let seen = || upstream.seen.lock().unwrap().len();
    let auth: Vec<String> = USERS.iter().map(|(u, p, _)| basic(u, p)).collect();
    let (alice, bob, carol) = (auth[0].as_str(), auth[1].as_str(), auth[2].as_str());

    // (who, method, path, status; the upstream's X-Remote-User when it passes)
    let cases: &[Case] = &[
        // Anyone: passes without a user.
        (None, "GET", "/public/page", 200, None),
        (Some(carol), "GET", "/public/page", 200, Some("carol")),
        // Admins only: the anonymous are challenged, others refused, admins pass.
        (None, "GET", "/admin/users", 401, None),
        (Some(bob), "GET", "/admin/users", 403, None),
        (Some(carol), "GET", "/admin", 403, None),
        (Some(alice), "GET", "/admin/users", 200, Some("alice")),
        // Staff may read, nobody may write.
        (Some(bob), "GET", "/staff/wiki", 200, Some("bob")),
        (Some(carol), "GET", "/staff/wiki", 403, None),
        (Some(alice), "POST", "/staff/wiki", 403, None),
        // Any login.
        (Some(carol), "GET", "/home", 200, Some("carol")),
        (None, "GET", "/home", 401, None),
        // A wrong password is no login.
        (Some("Basic Ym9iOndyb25n"), "GET", "/home", 401, None),
        // nginx hands rewho the raw URI; the rules see through the tricks.
        (Some(bob), "GET", "/public/../admin/users", 403, None),
        (Some(bob), "GET", "/%61dmin/users", 403, None),
        (Some(bob), "GET", "/public/..;/admin/users", 403, None),
        (None, "GET", "/public/..%2Fadmin", 401, None),
    ];
    for (who, method, path, status, user) in cases {
        let before = seen();
        let mut headers = vec![("accept", "application/json")];
        if let Some(a) = who {
            headers.push(("authorization", a));
        }
        let r = http.send(method, &nginx.url(path), &headers, "").await;
        let case = format!("{method} {path} as {who:?}");
        assert_eq!(r.status.as_u16(), *status, "{case}: {r:?}\n{}", rewho.log());
        match status {
            200 => {
                assert_eq!(seen(), before + 1, "{case}: the upstream got it");
                let last = upstream.seen.lock().unwrap().last().cloned().unwrap();
                assert_eq!(
                    last.get("x-remote-user").map(String::as_str),
                    *user,
                    "{case}: {last:?}"
                );
            }
            _ => {
                assert_eq!(
                    seen(),
                    before,
                    "{case}: a refused request reached the upstream"
                );
                assert!(r.header("x-remote-user").is_none(), "{case}");
            }
        }
        if *status == 401 {
            assert!(
                r.header("www-authenticate")
                    .is_some_and(|c| c.starts_with("Basic")),
                "{case}: a challenge, {r:?}"
            );
        }
        if *status == 403 {
            assert!(
                r.header("www-authenticate").is_none(),
                "{case}: no login loop"
            );
        }
    }
    // A client cannot claim a user to get past the rules.
    let before = seen();
    let r = http
        .get(
            &nginx.url("/admin/users"),
            &[("accept", "application/json"), ("x-remote-user", "alice")],
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(seen(), before);
    assert!(
        !nginx.error_log().contains("[emerg]"),
        "{}",
        nginx.error_log()
    );
}
