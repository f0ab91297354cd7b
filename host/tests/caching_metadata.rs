//! `metadata_cache` (memory, memcached and Redis backends) and the `header` identifier:
//! capture and replay, unknown users, ttl and eviction, sharing between hosts, logout,
//! outages, and the "web server authentication" use case end to end.
//!
//! Needs `cargo build --workspace` (the plugin `.so` files), memcached and redis-server.

mod caching_support;
mod common;

use std::time::Duration;

use caching_support::{authenticate, capture_logs, memcached, redis, require_plugins, Setup};
use common::TestClock;
use rewho::{Map, OwnedRequest, Value};

fn setup() {
    require_plugins(&["metadata_cache", "header", "testkit"]);
}

/// The front end's login request: the user and attributes in headers, from loopback.
fn sso(user: &str, mail: &str, groups: &str) -> OwnedRequest {
    OwnedRequest::get("/login")
        .header("X-Forwarded-User", user)
        .header("X-Forwarded-Email", mail)
        .header("X-Forwarded-Groups", groups)
}

/// A later request that carries only the session (testkit's identifier stands in for a
/// cookie).
fn session(user: &str) -> OwnedRequest {
    OwnedRequest::get("/app").header("X-Test-Login", user)
}

/// header (trusted SSO headers) + a session identifier, and the metadata cache.
fn chain(cache_options: &str) -> String {
    format!(
        r#"
[plugin:sso]
use = header
attribute_headers =
    X-Forwarded-Email:mail
    X-Forwarded-Groups:groups
list_attributes = groups
rememberer_name = session

[plugin:session]
use = @TESTKIT@:header_identifier

[plugin:accept]
use = @TESTKIT@:accept
logins = *

[plugin:attrs]
use = metadata_cache
{cache_options}

[identifiers]
plugins = sso session attrs
[authenticators]
plugins = sso accept
[mdproviders]
plugins = attrs
"#
    )
}

fn attributes(id: &rewho::Identity) -> Map {
    id.get("attributes")
        .and_then(Value::as_map)
        .cloned()
        .expect("attributes map")
}

fn mail(id: &rewho::Identity) -> Option<String> {
    attributes(id).get_str("mail").map(str::to_owned)
}

fn who(f: &rewho::ApiFactory, req: &OwnedRequest) -> rewho::Identity {
    authenticate(f, req, "-").0.expect("authenticated")
}

/// Logs the user of `req` out the way an application does: authenticate, then logout.
fn logout(f: &rewho::ApiFactory, req: &OwnedRequest) {
    req.with_view(|view| {
        let mut api = f.api(view);
        api.authenticate().expect("authenticated");
        api.logout(None);
    });
}

#[test]
fn web_server_authentication_end_to_end() {
    setup();
    let s = Setup::new(&chain(""));
    let f = s.factory();
    // Login through the front end: user and attributes from headers.
    let login = sso("alice", "alice@example.org", "staff, admins");
    let remembered = login.with_view(|view| {
        let mut api = f.api(view);
        let id = api.authenticate().cloned().expect("alice");
        assert_eq!(id.userid(), Some(&Value::from("alice")));
        assert_eq!(id.get_str("authenticator"), Some("sso"));
        assert_eq!(id.get_str("identifier"), Some("sso"));
        let attrs = attributes(&id);
        assert_eq!(attrs.get_str("mail"), Some("alice@example.org"));
        assert_eq!(
            attrs.get("groups"),
            Some(&Value::from(vec!["staff", "admins"]))
        );
        // The rememberer issues the session.
        api.remember(None)
    });
    assert!(
        remembered
            .iter()
            .any(|h| h.name.as_str() == "X-Remember" && h.value.as_str() == "session=alice"),
        "{remembered:?}"
    );
    // Later requests carry only the session: the attributes are replayed.
    let id = who(&f, &session("alice"));
    assert_eq!(id.get_str("identifier"), Some("session"));
    assert_eq!(mail(&id).as_deref(), Some("alice@example.org"));
    // A user who never came through the front end has an empty map.
    let id = who(&f, &session("bob"));
    assert!(attributes(&id).is_empty());
    // A new login replaces the attributes.
    who(&f, &sso("alice", "new@example.org", "staff"));
    assert_eq!(
        mail(&who(&f, &session("alice"))).as_deref(),
        Some("new@example.org")
    );
    // Logout drops the entry.
    logout(&f, &session("alice"));
    assert!(attributes(&who(&f, &session("alice"))).is_empty());
}

#[test]
fn headers_from_untrusted_addresses_are_ignored_and_stripped() {
    setup();
    let s = Setup::new(&chain(""));
    let f = s.factory();
    let mut spoof = sso("mallory", "m@evil.example", "admins");
    spoof = spoof.from_addr("203.0.113.9");
    spoof.with_view(|view| {
        let mut api = f.api(view);
        assert!(
            api.authenticate().is_none(),
            "untrusted headers identified a user"
        );
        let removed: Vec<String> = api
            .environ()
            .downstream_edits()
            .iter()
            .filter(|e| e.value.is_none())
            .map(|e| e.name.to_string())
            .collect();
        for h in [
            "X-Forwarded-User",
            "X-Forwarded-Email",
            "X-Forwarded-Groups",
        ] {
            assert!(
                removed.iter().any(|r| r == h),
                "{h} not stripped: {removed:?}"
            );
        }
    });
    // Nothing was captured for mallory.
    let id = who(&f, &session("mallory"));
    assert!(attributes(&id).is_empty());
    // IPv6 loopback is trusted by default; other CIDRs only when listed.
    let mut v6 = sso("carol", "c@example.org", "x");
    v6 = v6.from_addr("::1");
    assert_eq!(who(&f, &v6).userid(), Some(&Value::from("carol")));
    let s = Setup::new(&chain("").replace(
        "rememberer_name = session",
        "rememberer_name = session\ntrusted_proxies = 10.0.0.0/8",
    ));
    let f = s.factory();
    let mut from_proxy = sso("dave", "d@example.org", "x");
    from_proxy = from_proxy.from_addr("10.1.2.3");
    assert_eq!(who(&f, &from_proxy).userid(), Some(&Value::from("dave")));
    assert!(authenticate(&f, &sso("dave", "d@example.org", "x"), "-")
        .0
        .is_none());
}

#[test]
fn header_identities_are_only_accepted_by_their_own_plugin() {
    setup();
    let s = Setup::new(&chain("").replace("plugins = sso accept", "plugins = accept"));
    let f = s.factory();
    // Without `sso` in [authenticators] nobody accepts its identity (accept wants `login`).
    assert!(authenticate(&f, &sso("alice", "a@x", "g"), "-").0.is_none());
}

#[test]
fn memory_backend_expires_by_the_host_clock_and_evicts() {
    setup();
    let s = Setup::new(&chain("ttl = 100\nmax_entries = 2"));
    let clock = TestClock::at(1_000_000);
    let f = s.factory_with_clock(clock.clock());
    who(&f, &sso("alice", "a@example.org", "g"));
    clock.advance(99);
    assert_eq!(
        mail(&who(&f, &session("alice"))).as_deref(),
        Some("a@example.org")
    );
    clock.advance(1);
    assert!(
        attributes(&who(&f, &session("alice"))).is_empty(),
        "expired"
    );
    // Capacity two: the least recently used entry goes.
    who(&f, &sso("a", "a@x", "g"));
    who(&f, &sso("b", "b@x", "g"));
    who(&f, &session("a"));
    who(&f, &sso("c", "c@x", "g"));
    assert_eq!(mail(&who(&f, &session("a"))).as_deref(), Some("a@x"));
    assert!(attributes(&who(&f, &session("b"))).is_empty(), "b evicted");
    assert_eq!(mail(&who(&f, &session("c"))).as_deref(), Some("c@x"));
}

#[test]
fn memcached_backend_is_shared_between_hosts() {
    setup();
    let mc = memcached();
    let options = format!("backend = memcached\nmemcached_urls = {}", mc.url());
    let (a, b) = (Setup::new(&chain(&options)), Setup::new(&chain(&options)));
    let (fa, fb) = (a.factory(), b.factory());
    who(&fa, &sso("alice", "a@example.org", "g"));
    assert_eq!(
        mail(&who(&fb, &session("alice"))).as_deref(),
        Some("a@example.org")
    );
    logout(&fb, &session("alice"));
    assert!(attributes(&who(&fa, &session("alice"))).is_empty());
}

#[test]
fn redis_backend_is_shared_expires_and_survives_an_outage() {
    setup();
    let mut rd = redis();
    let options = format!(
        "backend = redis\nredis_url = redis://127.0.0.1:{}/0\nttl = 2\nretry_ms = 200",
        rd.port()
    );
    let (a, b) = (Setup::new(&chain(&options)), Setup::new(&chain(&options)));
    let (fa, fb) = (a.factory(), b.factory());
    who(&fa, &sso("alice", "a@example.org", "g"));
    assert_eq!(
        mail(&who(&fb, &session("alice"))).as_deref(),
        Some("a@example.org")
    );
    // Redis expires the entry (EX).
    std::thread::sleep(Duration::from_millis(2_500));
    assert!(
        attributes(&who(&fb, &session("alice"))).is_empty(),
        "expired"
    );
    // Logout from one host drops it for all.
    who(&fa, &sso("bob", "b@example.org", "g"));
    logout(&fb, &session("bob"));
    assert!(attributes(&who(&fa, &session("bob"))).is_empty());
    // Outage: requests still authenticate (with an empty map), logged once; then recovery.
    let ((), logs) = capture_logs(|| {
        rd.kill();
        for _ in 0..20 {
            let id = who(&fa, &sso("carol", "c@example.org", "g"));
            assert_eq!(id.userid(), Some(&Value::from("carol")));
            assert!(attributes(&who(&fa, &session("carol"))).is_empty());
        }
        rd.restart();
        std::thread::sleep(Duration::from_millis(300));
        who(&fa, &sso("carol", "c@example.org", "g"));
        who(&fa, &sso("carol", "c@example.org", "g"));
        assert_eq!(
            mail(&who(&fa, &session("carol"))).as_deref(),
            Some("c@example.org")
        );
    });
    assert_eq!(logs.matches("is unavailable").count(), 1, "{logs}");
    assert_eq!(logs.matches("is available again").count(), 1, "{logs}");
}

#[test]
fn bad_configurations_refuse_to_start() {
    setup();
    for (options, want) in [
        ("backend = redis", "option `redis_url`: required"),
        ("backend = memcached", "option `memcached_urls`: required"),
        (
            "redis_url = redis://127.0.0.1:1/",
            "only used with `backend = redis`",
        ),
        (
            "backend = redis\nredis_url = redis://127.0.0.1:1/\nmax_entries = 5",
            "option `max_entries`",
        ),
        ("backend = disk", "option `backend`"),
        ("max_entries = 0", "option `max_entries`"),
        (
            "backend = memcached\nmemcached_urls = 127.0.0.1:1\nname = my attrs",
            "option `name`",
        ),
        (
            "backend = redis\nredis_url = nonsense://:hunter2@x/",
            "option `redis_url`",
        ),
    ] {
        let e = Setup::new(&chain(options)).factory_error();
        assert!(e.contains(want), "{options}: {e}");
        assert!(!e.contains("hunter2"), "password leaked: {e}");
    }
    let bad_header = chain("").replace(
        "list_attributes = groups",
        "list_attributes = groups\ntrusted_proxies = 10.0.0.0/40",
    );
    let e = Setup::new(&bad_header).factory_error();
    assert!(e.contains("option `trusted_proxies`"), "{e}");
    let e = Setup::new(&chain("").replace("list_attributes = groups", "list_attributes = group"))
        .factory_error();
    assert!(e.contains("`group` is not an attribute"), "{e}");
    let e = Setup::new(&chain("").replace("rememberer_name = session", "rememberer_name = accept"))
        .factory_error();
    assert!(e.contains("not an identifier"), "{e}");
}
