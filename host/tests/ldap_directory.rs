//! The LDAP plugins (`ldap`, `ldap_search`, `ldap_attributes`, `ldap_groups`) against a real
//! slapd started by each test: binds, searches, attributes, both kinds of groups and
//! memberOf, injection attempts, empty passwords, StartTLS / ldaps with a test CA, ldapi,
//! pooling, the server killed, restarted and hung mid-run, and option errors.
//!
//! Needs `cargo build -p rewho-plugin-ldap -p rewho-plugin-basicauth -p rewho-plugin-auth_tkt`
//! and slapd installed.

mod caching_support;
mod common;
mod ldap_support;

use std::time::{Duration, Instant};

use caching_support::{capture_logs, require_plugins, Setup};
use ldap_support::{Slapd, GROUPS, PEOPLE, PEOPLE_PASSWORDS, SERVICE_DN, SERVICE_PW};
use rewho::{ApiFactory, Identity, OwnedRequest, Value};

const UNAVAILABLE: &str = "rewho.backend_unavailable";

fn setup() {
    require_plugins(&["ldap", "basicauth"]);
}

/// A who.ini: Basic identifier, then `[plugin:auth]` with `auth`'s lines as authenticator and
/// any metadata providers given as extra sections.
fn ini(auth: &str, mdproviders: &[(&str, &str)]) -> String {
    let mut s = format!(
        "[plugin:basic]\nuse = basicauth\n\n[plugin:auth]\n{auth}\n\n\
         [identifiers]\nplugins = basic\n[authenticators]\nplugins = auth\n"
    );
    if !mdproviders.is_empty() {
        let names: Vec<&str> = mdproviders.iter().map(|(n, _)| *n).collect();
        s += &format!("[mdproviders]\nplugins = {}\n", names.join(" "));
        for (name, body) in mdproviders {
            s += &format!("\n[plugin:{name}]\n{body}\n");
        }
    }
    s
}

fn login(user: &str, password: &str) -> OwnedRequest {
    OwnedRequest::get("/").header("Authorization", &common::basic(user, password))
}

/// The identity and whether the directory was marked unavailable.
fn auth(f: &ApiFactory, user: &str, password: &str) -> (Option<Identity>, bool) {
    login(user, password).with_view(|view| {
        let mut api = f.api(view);
        let id = api.authenticate().cloned();
        let down = api.environ().get(UNAVAILABLE).is_some();
        (id, down)
    })
}

fn userid(f: &ApiFactory, user: &str, password: &str) -> Option<String> {
    auth(f, user, password)
        .0
        .and_then(|id| id.userid().and_then(Value::as_str).map(str::to_owned))
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_list)
        .unwrap_or_default()
        .iter()
        .map(|s| s.as_str().expect("string").to_owned())
        .collect()
}

fn bind_plugin(s: &Slapd, extra: &str) -> String {
    format!(
        "use = ldap\nldap_connection = {}\nbase_dn = {PEOPLE}\n{extra}",
        s.url()
    )
}

fn search_plugin(s: &Slapd, extra: &str) -> String {
    format!(
        "use = ldap_search\nurl = {}\nbase_dn = {PEOPLE}\nbind_dn = {SERVICE_DN}\n\
         bind_pass = {SERVICE_PW}\n{extra}",
        s.url()
    )
}

#[test]
fn bind_plugin_binds_as_the_built_dn() {
    setup();
    let s = Slapd::start();
    let f = Setup::new(&ini(&bind_plugin(&s, ""), &[])).factory();
    assert_eq!(
        userid(&f, "alice", "alice-pw").as_deref(),
        Some(format!("uid=alice,{PEOPLE}").as_str())
    );
    assert_eq!(
        userid(&f, "bob", "bob pw with spaces").as_deref(),
        Some(format!("uid=bob,{PEOPLE}").as_str())
    );
    // The comma is escaped into the RDN (RFC 4514), not read as a separator.
    assert_eq!(
        userid(&f, "weird,name", "weird-pw").as_deref(),
        Some(format!("uid=weird\\,name,{PEOPLE}").as_str())
    );
    assert_eq!(userid(&f, "alice", "wrong"), None);
    assert_eq!(userid(&f, "nobody", "alice-pw"), None);
    // carol lives one level down: the bind plugin builds uid=carol,ou=people and fails.
    assert_eq!(userid(&f, "carol", "carol-pw"), None);
    let (_, down) = auth(&f, "alice", "wrong");
    assert!(!down, "a wrong password is not an outage");

    let f = Setup::new(&ini(&bind_plugin(&s, "returned_id = login"), &[])).factory();
    assert_eq!(userid(&f, "alice", "alice-pw").as_deref(), Some("alice"));
    let id = auth(&f, "alice", "alice-pw").0.unwrap();
    let userdata = id.get("userdata").and_then(Value::as_map).unwrap();
    assert_eq!(
        userdata.get_str("dn"),
        Some(format!("uid=alice,{PEOPLE}").as_str())
    );
}

#[test]
fn search_plugin_finds_then_binds() {
    setup();
    let s = Slapd::start();
    let f = Setup::new(&ini(&search_plugin(&s, "returned_id = login"), &[])).factory();
    for (user, pw) in PEOPLE_PASSWORDS {
        assert_eq!(userid(&f, user, pw).as_deref(), Some(*user), "{user}");
        assert_eq!(userid(&f, user, "nope"), None, "{user}");
    }
    // Two entries with uid=dup (one outside ou=people is not found under it; search the
    // suffix to see both): ambiguous logins are refused.
    let f_all = Setup::new(&ini(
        &search_plugin(&s, "returned_id = login").replace(PEOPLE, ldap_support::SUFFIX),
        &[],
    ))
    .factory();
    assert_eq!(userid(&f, "dup", "dup-pw").as_deref(), Some("dup"));
    assert_eq!(userid(&f_all, "dup", "dup-pw"), None);

    let dn = Setup::new(&ini(&search_plugin(&s, ""), &[])).factory();
    assert_eq!(
        userid(&dn, "carol", "carol-pw").as_deref(),
        Some(format!("uid=carol,ou=contractors,{PEOPLE}").as_str())
    );
    let one = Setup::new(&ini(&search_plugin(&s, "search_scope = onelevel"), &[])).factory();
    assert_eq!(userid(&one, "carol", "carol-pw"), None);
    assert!(userid(&one, "alice", "alice-pw").is_some());
    let staff = Setup::new(&ini(
        &search_plugin(&s, "restrict = (employeeType=staff)"),
        &[],
    ))
    .factory();
    assert_eq!(userid(&staff, "carol", "carol-pw"), None);
    assert!(userid(&staff, "bob", "bob pw with spaces").is_some());

    // Without the service account the ACL hides every entry: nobody is found.
    let anon = format!("use = ldap_search\nurl = {}\nbase_dn = {PEOPLE}\n", s.url());
    let anon = Setup::new(&ini(&anon, &[])).factory();
    assert_eq!(userid(&anon, "alice", "alice-pw"), None);

    // The service password from a file.
    let setup = Setup::new(&ini(
        &format!(
            "use = ldap_search\nurl = {}\nbase_dn = {PEOPLE}\nbind_dn = {SERVICE_DN}\n\
             bind_passfile = %(here)s/pass\n",
            s.url()
        ),
        &[],
    ));
    std::fs::write(setup.path("pass"), format!("{SERVICE_PW}\n")).unwrap();
    assert!(userid(&setup.factory(), "alice", "alice-pw").is_some());
}

#[test]
fn injection_attempts_match_nobody() {
    setup();
    let s = Slapd::start();
    let search = Setup::new(&ini(&search_plugin(&s, ""), &[])).factory();
    let bind = Setup::new(&ini(&bind_plugin(&s, ""), &[])).factory();
    let attempts = [
        "*",
        "*)(uid=*",
        "alice)(|(uid=*",
        "al*",
        "*)(|(objectClass=*",
        "alice\\29",
        "alice,ou=people",
        "alice+cn=x",
        "uid=alice,ou=people,dc=example,dc=org",
        "#alice",
    ];
    for login in attempts {
        for pw in ["alice-pw", "x", "*"] {
            assert_eq!(userid(&search, login, pw), None, "search {login:?} {pw:?}");
            assert_eq!(userid(&bind, login, pw), None, "bind {login:?} {pw:?}");
        }
    }
    // And the real user still works on the same plugins.
    assert!(userid(&search, "alice", "alice-pw").is_some());
    assert!(userid(&bind, "alice", "alice-pw").is_some());
}

#[test]
fn empty_password_is_refused_before_any_bind() {
    setup();
    let s = Slapd::start();
    // What the guard prevents: to LDAP, an empty password is an unauthenticated bind, which
    // succeeds for any DN.
    let out = std::process::Command::new("/usr/bin/ldapwhoami")
        .args([
            "-x",
            "-H",
            &s.url(),
            "-D",
            &format!("uid=alice,{PEOPLE}"),
            "-w",
            "",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("anonymous"),
        "this slapd accepts unauthenticated binds (as Active Directory does): {}",
        String::from_utf8_lossy(&out.stderr)
    );

    for plugin in [bind_plugin(&s, ""), search_plugin(&s, "")] {
        let f = Setup::new(&ini(&plugin, &[])).factory();
        let before = s.established_connections();
        assert_eq!(userid(&f, "alice", ""), None);
        assert!(
            s.established_connections() <= before,
            "no connection was opened for an empty password"
        );
        assert!(userid(&f, "alice", "alice-pw").is_some());
    }
}

#[test]
fn attributes_as_list_mapping_flattened_and_nested() {
    setup();
    let s = Slapd::start();
    let svc = format!(
        "url = {}\nbind_dn = {SERVICE_DN}\nbind_pass = {SERVICE_PW}\n",
        s.url()
    );
    let f = Setup::new(&ini(
        &bind_plugin(&s, ""),
        &[(
            "attrs",
            &format!("use = ldap_attributes\n{svc}attributes = cn=fullname,mail=email,sn"),
        )],
    ))
    .factory();
    let id = auth(&f, "alice", "alice-pw").0.unwrap();
    assert_eq!(strings(id.get("fullname")), ["Alice Liddell"]);
    assert_eq!(
        strings(id.get("email")),
        ["alice@example.org", "a.liddell@example.org"]
    );
    assert_eq!(strings(id.get("sn")), ["Liddell"]);
    assert!(id.get("cn").is_none() && id.get("uid").is_none());

    let f = Setup::new(&ini(
        &bind_plugin(&s, ""),
        &[(
            "attrs",
            &format!(
                "use = ldap_attributes\n{svc}attributes = cn, mail\nflatten = true\nname = ldap"
            ),
        )],
    ))
    .factory();
    let id = auth(&f, "bob", "bob pw with spaces").0.unwrap();
    let nested = id
        .get("ldap")
        .and_then(Value::as_map)
        .expect("under `ldap`");
    assert_eq!(nested.get_str("cn"), Some("Bob Builder"));
    assert_eq!(nested.get_str("mail"), Some("bob@example.org"));

    // Every attribute (but never userPassword), found by a filter with the login in it.
    let f = Setup::new(&ini(
        &search_plugin(&s, "returned_id = login"),
        &[(
            "attrs",
            &format!(
                "use = ldap_attributes\n{svc}base_dn = {PEOPLE}\n\
                 filterstr = (&(objectClass=inetOrgPerson)(uid={{identity[repoze.who.userid]}}))"
            ),
        )],
    ))
    .factory();
    let id = auth(&f, "carol", "carol-pw").0.unwrap();
    assert_eq!(strings(id.get("cn")), ["Carol Danvers"]);
    assert_eq!(strings(id.get("employeeType")), ["contractor"]);
    assert!(id.get("userPassword").is_none());
}

#[test]
fn groups_of_unique_names_of_names_and_member_of() {
    setup();
    let s = Slapd::start();
    let svc = format!(
        "url = {}\nbind_dn = {SERVICE_DN}\nbind_pass = {SERVICE_PW}\n",
        s.url()
    );
    let groups = |extra: &str| {
        Setup::new(&ini(
            &search_plugin(&s, ""),
            &[(
                "groups",
                &format!("use = ldap_groups\n{svc}base_dn = {GROUPS}\n{extra}"),
            )],
        ))
        .factory()
    };
    let of = |f: &ApiFactory, user: &str, pw: &str| -> Vec<String> {
        strings(auth(f, user, pw).0.expect("logged in").get("groups"))
    };
    let unique = groups("");
    assert_eq!(of(&unique, "alice", "alice-pw"), ["admins", "staff"]);
    assert_eq!(of(&unique, "bob", "bob pw with spaces"), ["staff"]);
    assert!(of(&unique, "carol", "carol-pw").is_empty());

    let names = groups("filterstr = (&(objectClass=groupOfNames)(member=%%(dn)s))");
    assert_eq!(of(&names, "alice", "alice-pw"), ["developers"]);
    assert_eq!(of(&names, "carol", "carol-pw"), ["developers"]);
    assert_eq!(of(&names, "bob", "bob pw with spaces"), ["ops"]);

    let member_of = groups("memberof_attribute = memberOf");
    assert_eq!(of(&member_of, "alice", "alice-pw"), ["developers"]);
    assert_eq!(of(&member_of, "bob", "bob pw with spaces"), ["ops"]);

    let dns = groups("returned_id = dn\nname = group_dns");
    let id = auth(&dns, "alice", "alice-pw").0.unwrap();
    assert_eq!(
        strings(id.get("group_dns")),
        [format!("cn=admins,{GROUPS}"), format!("cn=staff,{GROUPS}")]
    );
}

#[test]
fn start_tls_ldaps_and_ldapi() {
    setup();
    let s = Slapd::start();
    let ca = s.ca_file();
    let ca = ca.display();
    let starttls = format!("ldap://localhost:{}", s.port);
    let cases = [
        format!("url = {starttls}\nstart_tls = true\ntls_ca_file = {ca}"),
        format!("url = {}\ntls_ca_file = {ca}", s.ldaps_url()),
        // `%` is who.ini's interpolation character: the socket path's `%2F` is written `%%2F`.
        format!("url = {}", s.ldapi_url().replace('%', "%%")),
    ];
    for case in &cases {
        let f = Setup::new(&ini(
            &format!(
                "use = ldap_search\n{case}\nbase_dn = {PEOPLE}\nbind_dn = {SERVICE_DN}\n\
                 bind_pass = {SERVICE_PW}\nreturned_id = login"
            ),
            &[],
        ))
        .factory();
        assert_eq!(
            userid(&f, "alice", "alice-pw").as_deref(),
            Some("alice"),
            "{case}"
        );
        assert_eq!(userid(&f, "alice", "wrong"), None, "{case}");
    }
    // Without the test CA the server's certificate is not trusted: fail closed.
    for case in [
        format!("url = {starttls}\nstart_tls = true"),
        format!("url = {}", s.ldaps_url()),
    ] {
        let f = Setup::new(&ini(
            &format!("use = ldap\n{case}\nbase_dn = {PEOPLE}\nconnect_timeout = 2"),
            &[],
        ))
        .factory();
        let (id, down) = auth(&f, "alice", "alice-pw");
        assert!(id.is_none() && down, "{case}");
    }
}

#[test]
fn connections_are_pooled_and_urls_tried_in_order() {
    setup();
    let s = Slapd::start();
    let dead = format!("ldap://127.0.0.1:{}", {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    });
    let f = Setup::new(&ini(
        &format!(
            "use = ldap_search\nurl = {dead} {}\nbase_dn = {PEOPLE}\nbind_dn = {SERVICE_DN}\n\
             bind_pass = {SERVICE_PW}\npool_size = 2",
            s.url()
        ),
        &[],
    ))
    .factory();
    for _ in 0..30 {
        assert!(userid(&f, "alice", "alice-pw").is_some());
        assert_eq!(userid(&f, "bob", "nope"), None);
    }
    let open = s.established_connections();
    assert!(
        (1..=4).contains(&open),
        "60 logins used {open} connections (one search and one check connection, pooled)"
    );
}

#[test]
fn server_killed_and_restarted_mid_run() {
    setup();
    let mut s = Slapd::start();
    let f = Setup::new(&ini(
        &search_plugin(&s, "returned_id = login\ntimeout = 2\nretry_interval = 0.2"),
        &[],
    ))
    .factory();
    assert_eq!(userid(&f, "alice", "alice-pw").as_deref(), Some("alice"));
    s.kill();
    let ((), logs) = capture_logs(|| {
        for _ in 0..10 {
            let started = Instant::now();
            let (id, down) = auth(&f, "alice", "alice-pw");
            assert!(id.is_none(), "fails closed while the directory is down");
            assert!(down, "marked unavailable, not a wrong password");
            assert!(started.elapsed() < Duration::from_secs(3));
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let errors = logs
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains("unreachable"))
        .count();
    assert_eq!(errors, 1, "the outage is logged once:\n{logs}");
    s.restart();
    let ((), logs) = capture_logs(|| {
        let end = Instant::now() + Duration::from_secs(10);
        while userid(&f, "alice", "alice-pw").is_none() {
            assert!(Instant::now() < end, "never recovered");
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    assert!(logs.contains("reachable again"), "{logs}");
    assert_eq!(userid(&f, "alice", "wrong"), None);
    assert_eq!(
        userid(&f, "bob", "bob pw with spaces").as_deref(),
        Some("bob")
    );
}

#[test]
fn a_hung_server_costs_a_bounded_timeout() {
    setup();
    let s = Slapd::start();
    let f = Setup::new(&ini(
        &bind_plugin(&s, "timeout = 1\nconnect_timeout = 1\nretry_interval = 30"),
        &[],
    ))
    .factory();
    assert!(userid(&f, "alice", "alice-pw").is_some());
    s.signal("STOP");
    let started = Instant::now();
    let (id, down) = auth(&f, "alice", "alice-pw");
    let first = started.elapsed();
    let started = Instant::now();
    let (id2, _) = auth(&f, "alice", "alice-pw");
    let second = started.elapsed();
    s.signal("CONT");
    assert!(id.is_none() && id2.is_none() && down);
    assert!(first < Duration::from_secs(4), "took {first:?}");
    assert!(
        second < Duration::from_millis(200),
        "during the outage requests fail fast (took {second:?})"
    );
}

#[test]
fn option_errors_name_the_section_and_key() {
    setup();
    let cases: [(&str, &str); 7] = [
        ("use = ldap\nbase_dn = dc=x", "ldap_connection"),
        ("use = ldap\nurl = ldap://h\n", "base_dn"),
        (
            "use = ldap\nurl = http://h\nbase_dn = dc=x",
            "ldap_connection",
        ),
        (
            "use = ldap\nurl = ldap://h\nbase_dn = dc=x\nrestrict = (a=b)",
            "restrict",
        ),
        (
            "use = ldap_search\nurl = ldap://h\nbase_dn = dc=x\nrestrict = (a=b",
            "restrict",
        ),
        (
            "use = ldap_search\nurl = ldap://h\nbase_dn = dc=x\nbind_dn = cn=s",
            "bind_pass",
        ),
        (
            "use = ldap\nurl = ldap://h\nbase_dn = dc=x\nreturned_id = cn",
            "returned_id",
        ),
    ];
    for (body, key) in cases {
        let err = Setup::new(&ini(body, &[])).factory_error();
        assert!(
            err.contains("plugin:auth") && err.contains(key),
            "{body:?}: {err}"
        );
    }
}

#[test]
fn dotted_names_of_both_python_projects_resolve() {
    setup();
    let s = Slapd::start();
    for use_ in [
        "who_ldap:LDAPAuthenticatorPlugin",
        "who_ldap.LDAPAuthenticatorPlugin",
        "repoze.who.plugins.ldap:LDAPAuthenticatorPlugin",
        "repoze.who.plugins.ldap.plugins:LDAPAuthenticatorPlugin",
    ] {
        let f = Setup::new(&ini(
            &format!(
                "use = {use_}\nldap_connection = {}\nbase_dn = {PEOPLE}",
                s.url()
            ),
            &[],
        ))
        .factory();
        assert!(userid(&f, "alice", "alice-pw").is_some(), "{use_}");
    }
    let f = Setup::new(&ini(
        &search_plugin(&s, "").replace(
            "use = ldap_search",
            "use = who_ldap:LDAPSearchAuthenticatorPlugin",
        ),
        &[(
            "g",
            &format!(
                "use = who_ldap:LDAPGroupsPlugin\nurl = {}\nbind_dn = {SERVICE_DN}\n\
                 bind_pass = {SERVICE_PW}\nbase_dn = {GROUPS}",
                s.url()
            ),
        )],
    ))
    .factory();
    let id = auth(&f, "alice", "alice-pw").0.unwrap();
    assert_eq!(strings(id.get("groups")), ["admins", "staff"]);
}

/// A login form's flow: `ldap_search` checks the password once, auth_tkt remembers the user
/// (the DN travels in the ticket's user data), and on later cookie-only requests
/// `ldap_groups` still finds the groups from that DN.
#[test]
fn groups_follow_the_dn_through_an_auth_tkt_cookie() {
    setup();
    require_plugins(&["auth_tkt"]);
    let s = Slapd::start();
    let text = format!(
        "[plugin:tkt]\nuse = auth_tkt\nsecret = a test secret\n\n\
         [plugin:auth]\n{}\n\n\
         [plugin:groups]\nuse = ldap_groups\nurl = {}\nbind_dn = {SERVICE_DN}\n\
         bind_pass = {SERVICE_PW}\nbase_dn = {GROUPS}\n\n\
         [identifiers]\nplugins = tkt\n[authenticators]\nplugins = auth tkt\n\
         [mdproviders]\nplugins = groups\n",
        search_plugin(&s, "returned_id = login"),
        s.url()
    );
    let f = Setup::new(&text).factory();
    let mut credentials = Identity::new();
    credentials.insert("login", "alice");
    credentials.insert("password", "alice-pw");
    let (who, headers) = OwnedRequest::get("/login").with_view(|view| {
        let mut api = f.api(view);
        api.login(credentials, Some("tkt"))
    });
    assert_eq!(
        who.and_then(|i| i.userid().and_then(Value::as_str).map(str::to_owned)),
        Some("alice".to_owned())
    );
    let cookie = headers
        .iter()
        .find(|h| h.name.as_str().eq_ignore_ascii_case("set-cookie"))
        .map(|h| h.value.as_str().split(';').next().unwrap().to_owned())
        .expect("auth_tkt set a cookie");
    let id = OwnedRequest::get("/page")
        .header("Cookie", &cookie)
        .with_view(|view| f.api(view).authenticate().cloned())
        .expect("the cookie authenticates");
    assert_eq!(id.userid().and_then(Value::as_str), Some("alice"));
    assert_eq!(strings(id.get("groups")), ["admins", "staff"]);
}
