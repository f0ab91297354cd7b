//! Seed 000's deployment end to end: `memcached` (under repoze.who.plugins.memcached's dotted
//! name and options) wrapping the `ldap` authenticator, with `ldap;unused` as the seed writes
//! it, against a real memcached and a real slapd: warm logins never reach the directory;
//! with slapd down, cached users still log in until `ttl`, unknown users and wrong passwords
//! never do, and neither failures nor outages are cached unless `negative_ttl` says so.
//!
//! Needs `cargo build -p rewho-plugin-ldap -p rewho-plugin-memcached -p rewho-plugin-basicauth`,
//! memcached and slapd.

mod caching_support;
mod common;
mod ldap_support;

use std::time::Duration;

use caching_support::{memcached, require_plugins, Server, Setup};
use ldap_support::{Slapd, GROUPS, PEOPLE, SERVICE_DN, SERVICE_PW};
use rewho::{ApiFactory, OwnedRequest, Value};

const OUTCOME: &str = "rewho.memcached.cached_ldap.authenticate";

/// The seed's who.ini, with the addresses of the test servers.
fn seed_ini(s: &Slapd, mc: &Server, extra: &str) -> String {
    format!(
        "[plugin:basic]\nuse = basicauth\n\n\
         [plugin:ldap]\nuse = who_ldap:LDAPAuthenticatorPlugin\nurl = {}\nbase_dn = {PEOPLE}\n\
         returned_id = login\ntimeout = 1\nconnect_timeout = 1\nretry_interval = 0.2\n\n\
         [plugin:cached_ldap]\nuse = repoze.who.plugins.memcached\nmemcached_urls = {}\n\
         authenticator_name = ldap\nmdprovider_name = groups\nsecret = a long shared secret\n\
         ttl = 3\n{extra}\n\n\
         [plugin:groups]\nuse = ldap_groups\nurl = {}\nbase_dn = {GROUPS}\nbind_dn = {SERVICE_DN}\n\
         bind_pass = {SERVICE_PW}\ntimeout = 1\nconnect_timeout = 1\n\n\
         [identifiers]\nplugins = basic\n\
         [authenticators]\nplugins = cached_ldap ldap;unused\n\
         [mdproviders]\nplugins = cached_ldap\n",
        s.url(),
        mc.url(),
        s.url()
    )
}

/// (user id, cache outcome).
fn try_login(f: &ApiFactory, user: &str, pw: &str) -> (Option<String>, Option<String>) {
    let (id, outcome, _) = login_groups(f, user, pw);
    (id, outcome)
}

/// (user id, cache outcome, groups).
fn login_groups(
    f: &ApiFactory,
    user: &str,
    pw: &str,
) -> (Option<String>, Option<String>, Vec<String>) {
    let req = OwnedRequest::get("/").header("Authorization", &common::basic(user, pw));
    req.with_view(|view| {
        let mut api = f.api(view);
        let identity = api.authenticate().cloned();
        let id = identity
            .as_ref()
            .and_then(|i| i.userid().and_then(Value::as_str).map(str::to_owned));
        let groups = identity
            .as_ref()
            .and_then(|i| i.get("groups"))
            .and_then(Value::as_list)
            .unwrap_or_default()
            .iter()
            .filter_map(|g| g.as_str().map(str::to_owned))
            .collect();
        (
            id,
            api.environ().get_str(OUTCOME).map(str::to_owned),
            groups,
        )
    })
}

fn setup() {
    require_plugins(&["ldap", "memcached", "basicauth"]);
}

#[test]
fn warm_logins_skip_the_directory_and_survive_its_outage_until_ttl() {
    setup();
    let mut s = Slapd::start();
    let mc = memcached();
    let f = Setup::new(&seed_ini(&s, &mc, "")).factory();
    let alice = |f: &ApiFactory| try_login(f, "alice", "alice-pw");
    assert_eq!(alice(&f), (Some("alice".into()), Some("miss".into())));
    // Warm: answered from memcached even while slapd is frozen (a directory call would
    // hang for the 1 s timeout and fail).
    s.signal("STOP");
    for _ in 0..5 {
        let started = std::time::Instant::now();
        assert_eq!(
            login_groups(&f, "alice", "alice-pw"),
            (
                Some("alice".into()),
                Some("hit".into()),
                vec!["admins".to_owned(), "staff".to_owned()]
            ),
            "user id and groups from the cache"
        );
        assert!(started.elapsed() < Duration::from_millis(500));
    }
    s.signal("CONT");

    s.kill();
    // Cached user: still in. Wrong password, other users, unknown users: never.
    assert_eq!(alice(&f).0.as_deref(), Some("alice"));
    assert_eq!(try_login(&f, "alice", "wrong").0, None);
    assert_eq!(try_login(&f, "alice", "").0, None);
    assert_eq!(try_login(&f, "bob", "bob pw with spaces").0, None);
    assert_eq!(try_login(&f, "nobody", "alice-pw").0, None);
    // Until ttl (3 s): then the entry is gone and the directory is still down.
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(alice(&f), (None, Some("miss".into())));

    s.restart();
    let end = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let (Some(id), _) = try_login(&f, "bob", "bob pw with spaces") {
            assert_eq!(id, "bob");
            break;
        }
        assert!(
            std::time::Instant::now() < end,
            "bob never got in after the restart"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn failures_are_cached_only_with_negative_ttl_and_outages_never() {
    setup();
    let mut s = Slapd::start();
    let mc = memcached();
    let plain = Setup::new(&seed_ini(&s, &mc, "")).factory();
    for _ in 0..3 {
        assert_eq!(
            try_login(&plain, "alice", "wrong"),
            (None, Some("miss".into())),
            "without negative_ttl every wrong password asks the directory"
        );
    }

    let negative = Setup::new(&seed_ini(&s, &mc, "negative_ttl = 30")).factory();
    assert_eq!(
        try_login(&negative, "bob", "wrong"),
        (None, Some("miss".into()))
    );
    assert_eq!(
        try_login(&negative, "bob", "wrong"),
        (None, Some("negative-hit".into()))
    );
    // The right password is another key: unaffected.
    assert_eq!(
        try_login(&negative, "bob", "bob pw with spaces")
            .0
            .as_deref(),
        Some("bob")
    );

    // An outage is not a wrong password: carol's attempts while slapd is down are not
    // remembered, so she gets in as soon as it is back.
    let carol_base = seed_ini(&s, &mc, "negative_ttl = 30").replace(
        &format!("base_dn = {PEOPLE}"),
        &format!("base_dn = ou=contractors,{PEOPLE}"),
    );
    let f = Setup::new(&carol_base).factory();
    s.kill();
    for _ in 0..3 {
        assert_eq!(
            try_login(&f, "carol", "carol-pw"),
            (None, Some("miss".into()))
        );
    }
    s.restart();
    let end = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (id, outcome) = try_login(&f, "carol", "carol-pw");
        assert_ne!(
            outcome.as_deref(),
            Some("negative-hit"),
            "an outage was cached"
        );
        if id.is_some() {
            break;
        }
        assert!(std::time::Instant::now() < end, "carol never got in");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// docs/LDAP.md's recipe, as written, with only the addresses and file paths pointed at the
/// test servers: logs in, caches, and survives slapd stopping.
#[test]
fn the_documented_recipe_runs() {
    setup();
    let mut s = Slapd::start();
    let mc = memcached();
    let doc = std::fs::read_to_string(common::workspace().join("docs/LDAP.md")).unwrap();
    let recipe = doc
        .split("```ini\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("an ini block in docs/LDAP.md");
    let ldaps = s.ldaps_url();
    let ca = s.ca_file().display().to_string();
    let ini = recipe
        .replace(
            "ldaps://ldap1.example.org ldaps://ldap2.example.org",
            &ldaps,
        )
        .replace("ldaps://ldap1.example.org", &ldaps)
        .replace("/etc/ssl/certs/example-ca.pem", &ca)
        .replace("/etc/rewho/ldap.pass", "%(here)s/ldap.pass")
        .replace("127.0.0.1:11211", &mc.url());
    let setup = Setup::new(&ini);
    std::fs::write(setup.path("ldap.pass"), format!("{SERVICE_PW}\n")).unwrap();
    let f = setup.factory();
    let groups = vec!["admins".to_owned(), "staff".to_owned()];
    let first = login_groups(&f, "alice", "alice-pw");
    assert_eq!(
        (first.0.as_deref(), first.2.clone()),
        (Some("alice"), groups.clone())
    );
    s.kill();
    let warm = login_groups(&f, "alice", "alice-pw");
    assert_eq!((warm.0.as_deref(), warm.2), (Some("alice"), groups));
    assert_eq!(try_login(&f, "alice", "wrong").0, None);
}
