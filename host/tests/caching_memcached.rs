//! The `memcached` plugin against real memcached servers started by the tests: hits and
//! misses, ttl, key and value items, several servers, the Python plugin's keys, corrupt
//! values, and memcached dying, hanging and coming back in the middle of a run.
//!
//! Needs `cargo build --workspace` (the plugin `.so` files) and memcached installed.

mod caching_support;
mod common;

use std::time::{Duration, Instant};

use caching_support::{
    authenticate, capture_logs, memcached, memcached_get, memcached_items, memcached_set,
    memcached_socket, require_plugins, Setup,
};
use rewho::{OwnedRequest, Value};

const OUTCOME: &str = "rewho.memcached.cached.authenticate";
const MD_OUTCOME: &str = "rewho.memcached.cached.add_metadata";

/// A chain: testkit's header identifier (login/password headers), the cache in front of a
/// counting backend that accepts password `pw` and adds `mail` and `role`.
fn chain(urls: &str, extra: &str) -> String {
    format!(
        r#"
[plugin:id]
use = @TESTKIT@:header_identifier

[plugin:backend]
use = @TESTKIT@:counting
count_file = @DIR@/backend.calls
fail_file = @DIR@/backend.fail
password = pw
adds = mail:someone@example.org role:staff

[plugin:cached]
use = memcached
memcached_urls = {urls}
authenticator_name = backend
secret = test secret
{extra}

[identifiers]
plugins = id
[authenticators]
plugins = cached
"#
    )
}

fn login(user: &str, password: &str) -> OwnedRequest {
    OwnedRequest::get("/")
        .header("X-Test-Login", user)
        .header("X-Test-Password", password)
}

fn setup() {
    require_plugins(&["memcached", "testkit"]);
}

#[test]
fn misses_fill_the_cache_and_hits_skip_the_backend() {
    setup();
    let mc = memcached();
    let s = Setup::new(&chain(&mc.url(), ""));
    let f = s.factory();
    let (id, outcome) = authenticate(&f, &login("alice", "pw"), OUTCOME);
    let id = id.expect("alice authenticated");
    assert_eq!(outcome.as_deref(), Some("miss"));
    assert_eq!(id.userid(), Some(&Value::from("alice")));
    assert_eq!(s.calls("backend.calls"), 1);
    for _ in 0..5 {
        let (id, outcome) = authenticate(&f, &login("alice", "pw"), OUTCOME);
        let id = id.expect("alice authenticated from the cache");
        assert_eq!(outcome.as_deref(), Some("hit"));
        assert_eq!(id.userid(), Some(&Value::from("alice")));
        // Keys the backend added come back from the cache.
        assert_eq!(id.get_str("mail"), Some("someone@example.org"));
        assert_eq!(id.get_str("role"), Some("staff"));
        assert_eq!(id.get_str("authenticator"), Some("cached"));
    }
    assert_eq!(
        s.calls("backend.calls"),
        1,
        "hits must not reach the backend"
    );
    // A wrong password is another key: it reaches the backend, fails, and is not cached.
    for n in 2..=3 {
        let (id, outcome) = authenticate(&f, &login("alice", "wrong"), OUTCOME);
        assert!(id.is_none());
        assert_eq!(outcome.as_deref(), Some("miss"));
        assert_eq!(s.calls("backend.calls"), n);
    }
    // Another user has its own entry.
    let (id, _) = authenticate(&f, &login("bob", "pw"), OUTCOME);
    assert_eq!(id.unwrap().userid(), Some(&Value::from("bob")));
    assert_eq!(s.calls("backend.calls"), 4);
    let (_, outcome) = authenticate(&f, &login("bob", "pw"), OUTCOME);
    assert_eq!(outcome.as_deref(), Some("hit"));
    assert_eq!(s.calls("backend.calls"), 4);
    assert_eq!(memcached_items(&mc), 2);
}

#[test]
fn entries_expire_after_ttl() {
    setup();
    let mc = memcached();
    let s = Setup::new(&chain(&mc.url(), "ttl = 2"));
    let f = s.factory();
    authenticate(&f, &login("alice", "pw"), OUTCOME).0.unwrap();
    let (_, outcome) = authenticate(&f, &login("alice", "pw"), OUTCOME);
    assert_eq!(outcome.as_deref(), Some("hit"));
    assert_eq!(s.calls("backend.calls"), 1);
    // memcached's clock ticks in whole seconds: wait past the ttl with margin.
    std::thread::sleep(Duration::from_millis(3_500));
    let (id, outcome) = authenticate(&f, &login("alice", "pw"), OUTCOME);
    assert!(id.is_some());
    assert_eq!(outcome.as_deref(), Some("miss"));
    assert_eq!(s.calls("backend.calls"), 2);
}

#[test]
fn key_items_and_value_items_decide_what_is_hashed_and_stored() {
    setup();
    let mc = memcached();
    let s = Setup::new(&chain(
        &mc.url(),
        "key_items = login password\nvalue_items = mail",
    ));
    let f = s.factory();
    let first = authenticate(&f, &login("alice", "pw"), OUTCOME).0.unwrap();
    // The miss returns what the backend added.
    assert_eq!(first.get_str("role"), Some("staff"));
    // testkit's identifier adds `found_by`; it is not a key item, so a request through
    // another identifier with the same login and password hits.
    let other = OwnedRequest::get("/")
        .header("X-Test-Login", "alice")
        .header("X-Test-Password", "pw")
        .header("X-Noise", "ignored");
    let (id, outcome) = authenticate(&f, &other, OUTCOME);
    let id = id.unwrap();
    assert_eq!(outcome.as_deref(), Some("hit"));
    assert_eq!(id.get_str("mail"), Some("someone@example.org"));
    assert_eq!(id.get("role"), None, "role is not a value item");
    assert_eq!(s.calls("backend.calls"), 1);

    // A configured key item missing from the identity bypasses the cache entirely.
    let s = Setup::new(&chain(&mc.url(), "key_items = login password otp"));
    let f = s.factory();
    for n in 1..=2 {
        let (id, outcome) = authenticate(&f, &login("carol", "pw"), OUTCOME);
        assert!(id.is_some());
        assert_eq!(outcome.as_deref(), Some("bypass"));
        assert_eq!(s.calls("backend.calls"), n);
    }
}

#[test]
fn default_value_items_are_the_keys_the_backend_added() {
    setup();
    let mc = memcached();
    // Python-compatible keys so the test can read the stored value.
    let s = Setup::new(
        &chain(
            &mc.url(),
            "hash = sha1\nsecret = secret\nkey_items = login password",
        )
        .replace("secret = test secret\n", ""),
    );
    let f = s.factory();
    authenticate(&f, &login("bob", "pw"), OUTCOME).0.unwrap();
    // hmac.new(b"secret", b"authenticate\x00bob\x00pw\x00", hashlib.sha1).hexdigest()
    let stored = memcached_get(&mc, "06a6d9889c53c43b8d358196cc79e05b50a2c7d8")
        .expect("value under the Python plugin's key");
    assert_eq!(
        stored,
        r#"{"repoze.who.userid":"bob","mail":"someone@example.org","role":"staff"}"#
    );
}

#[test]
fn sha1_keys_are_the_python_plugins() {
    setup();
    let mc = memcached();
    // The identity is exactly {"username": "test1"}: every key, sorted, is `username`.
    let s = Setup::new(&format!(
        r#"
[plugin:backend]
use = @TESTKIT@:counting
identity_headers = username:X-User
login_key = username
count_file = @DIR@/backend.calls

[plugin:cached]
use = memcached
memcached_urls = {}
authenticator_name = backend
secret = secret
hash = sha1

[identifiers]
plugins = backend
[authenticators]
plugins = cached
"#,
        mc.url()
    ));
    let f = s.factory();
    let req = OwnedRequest::get("/").header("X-User", "test1");
    let (id, outcome) = authenticate(&f, &req, OUTCOME);
    assert_eq!(id.unwrap().userid(), Some(&Value::from("test1")));
    assert_eq!(outcome.as_deref(), Some("miss"));
    // The known vector of repoze.who.plugins.memcached 0.1.1.
    let stored = memcached_get(&mc, "eeb66e3900069b198be724c93f3c8fa0ac5c6877")
        .expect("value under the Python plugin's key");
    assert_eq!(stored, r#"{"repoze.who.userid":"test1"}"#);
    // A value the Python plugin stored (json.dumps) is a hit for us.
    memcached_set(
        &mc,
        "eeb66e3900069b198be724c93f3c8fa0ac5c6877",
        r#"{"repoze.who.userid": "test1", "mail": "from-python@example.org"}"#,
    );
    let (id, outcome) = authenticate(&f, &req, OUTCOME);
    assert_eq!(outcome.as_deref(), Some("hit"));
    assert_eq!(id.unwrap().get_str("mail"), Some("from-python@example.org"));
    assert_eq!(s.calls("backend.calls"), 1);
}

#[test]
fn corrupt_and_foreign_values_are_misses_that_get_repaired() {
    setup();
    let mc = memcached();
    let s = Setup::new(
        &chain(
            &mc.url(),
            "hash = sha1\nsecret = secret\nkey_items = login password",
        )
        .replace("secret = test secret\n", ""),
    );
    let f = s.factory();
    let key = "06a6d9889c53c43b8d358196cc79e05b50a2c7d8";
    for (n, planted) in [
        "I AM NOT VALID JSON",
        r#"{"some":"other app"}"#,
        r#"{"repoze.who.userid":null}"#,
        r#"["a","list"]"#,
    ]
    .into_iter()
    .enumerate()
    {
        memcached_set(&mc, key, planted);
        let (id, outcome) = authenticate(&f, &login("bob", "pw"), OUTCOME);
        assert_eq!(id.unwrap().userid(), Some(&Value::from("bob")), "{planted}");
        assert_eq!(outcome.as_deref(), Some("miss"), "{planted}");
        assert_eq!(s.calls("backend.calls"), n as u64 + 1);
        let repaired = memcached_get(&mc, key).unwrap();
        assert!(
            repaired.starts_with(r#"{"repoze.who.userid":"bob""#),
            "{repaired}"
        );
    }
    // A corrupt value under a failing login is deleted rather than left behind.
    // hmac.new(b"secret", b"authenticate\x00bob\x00pw-wrong\x00", hashlib.sha1).hexdigest()
    let wrong = "312bea26a874a63f2d50c81599464139bac134a4";
    memcached_set(&mc, wrong, "garbage");
    let (id, outcome) = authenticate(&f, &login("bob", "pw-wrong"), OUTCOME);
    assert!(id.is_none());
    assert_eq!(outcome.as_deref(), Some("miss"));
    assert_eq!(memcached_get(&mc, wrong), None);
}

#[test]
fn failures_are_cached_only_with_negative_ttl() {
    setup();
    let mc = memcached();
    let s = Setup::new(&chain(&mc.url(), "negative_ttl = 30"));
    let f = s.factory();
    let (id, outcome) = authenticate(&f, &login("alice", "bad"), OUTCOME);
    assert!(id.is_none());
    assert_eq!(outcome.as_deref(), Some("miss"));
    let (id, outcome) = authenticate(&f, &login("alice", "bad"), OUTCOME);
    assert!(id.is_none());
    assert_eq!(outcome.as_deref(), Some("negative-hit"));
    assert_eq!(s.calls("backend.calls"), 1);
    // The right password is another key.
    assert!(authenticate(&f, &login("alice", "pw"), OUTCOME).0.is_some());
    assert_eq!(s.calls("backend.calls"), 2);
}

#[test]
fn backend_errors_are_reported_and_never_cached() {
    setup();
    let mc = memcached();
    let s = Setup::new(&chain(&mc.url(), "negative_ttl = 30"));
    let f = s.factory();
    std::fs::write(s.path("backend.fail"), "").unwrap();
    let ((id, _), logs) = capture_logs(|| authenticate(&f, &login("alice", "pw"), OUTCOME));
    assert!(id.is_none());
    assert!(logs.contains("counting backend is failing"), "{logs}");
    std::fs::remove_file(s.path("backend.fail")).unwrap();
    let (id, outcome) = authenticate(&f, &login("alice", "pw"), OUTCOME);
    assert!(id.is_some(), "the error was not cached as a failure");
    assert_eq!(outcome.as_deref(), Some("miss"));
}

#[test]
fn keys_spread_over_several_servers_and_hosts_agree() {
    setup();
    let servers = [memcached(), memcached(), memcached()];
    let urls: Vec<String> = servers.iter().map(|s| s.url()).collect();
    let urls = format!("{} memcache://{}\n    {}", urls[0], urls[1], urls[2]);
    let host_a = Setup::new(&chain(&urls, ""));
    let host_b = Setup::new(&chain(&urls, ""));
    let (fa, fb) = (host_a.factory(), host_b.factory());
    let users: Vec<String> = (0..30).map(|i| format!("user{i}")).collect();
    for u in &users {
        assert!(authenticate(&fa, &login(u, "pw"), OUTCOME).0.is_some());
    }
    assert_eq!(host_a.calls("backend.calls"), 30);
    let per_server: Vec<u64> = servers.iter().map(memcached_items).collect();
    assert_eq!(per_server.iter().sum::<u64>(), 30, "{per_server:?}");
    assert!(per_server.iter().all(|&n| n > 0), "{per_server:?}");
    // A second host with the same servers and secret finds every entry.
    for u in &users {
        let (id, outcome) = authenticate(&fb, &login(u, "pw"), OUTCOME);
        assert_eq!(id.unwrap().userid(), Some(&Value::from(u.as_str())));
        assert_eq!(outcome.as_deref(), Some("hit"), "{u}");
    }
    assert_eq!(host_b.calls("backend.calls"), 0);
}

#[test]
fn unix_socket_servers_work() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("mc.sock");
    let _mc = memcached_socket(&sock);
    let s = Setup::new(&chain(&sock.display().to_string(), ""));
    let f = s.factory();
    authenticate(&f, &login("alice", "pw"), OUTCOME).0.unwrap();
    let (_, outcome) = authenticate(&f, &login("alice", "pw"), OUTCOME);
    assert_eq!(outcome.as_deref(), Some("hit"));
    assert_eq!(s.calls("backend.calls"), 1);
}

#[test]
fn metadata_is_cached_under_its_own_keys() {
    setup();
    let mc = memcached();
    let s = Setup::new(&format!(
        r#"
[plugin:id]
use = @TESTKIT@:header_identifier

[plugin:auth]
use = @TESTKIT@:accept
logins = *

[plugin:ldap_md]
use = @TESTKIT@:counting
count_file = @DIR@/md.calls
adds = mail:m@example.org

[plugin:cached]
use = memcached
memcached_urls = {}
mdprovider_name = ldap_md
metadata_key_items = repoze.who.userid
secret = s

[identifiers]
plugins = id
[authenticators]
plugins = auth
[mdproviders]
plugins = cached
"#,
        mc.url()
    ));
    let f = s.factory();
    for (n, password) in ["a", "b", "c"].into_iter().enumerate() {
        let (id, outcome) = authenticate(&f, &login("alice", password), MD_OUTCOME);
        let id = id.unwrap();
        assert_eq!(id.get_str("mail"), Some("m@example.org"));
        assert_eq!(
            outcome.as_deref(),
            Some(if n == 0 { "miss" } else { "hit" })
        );
    }
    assert_eq!(s.calls("md.calls"), 1);
    authenticate(&f, &login("bob", "x"), MD_OUTCOME).0.unwrap();
    assert_eq!(s.calls("md.calls"), 2);
}

#[test]
fn memcached_killed_and_restarted_mid_run() {
    setup();
    let mut mc = memcached();
    let s = Setup::new(&chain(&mc.url(), "retry_ms = 300\ntimeout_ms = 100"));
    let f = s.factory();
    let bound = Duration::from_millis(300);
    let mut worst = Duration::ZERO;
    let ((), logs) = capture_logs(|| {
        let mut check = |user: &str, password: &str, want: bool| {
            let t = Instant::now();
            let (id, _) = authenticate(&f, &login(user, password), OUTCOME);
            let took = t.elapsed();
            worst = worst.max(took);
            assert!(took < bound, "request took {took:?}");
            assert_eq!(
                id.and_then(|i| i.userid().cloned()),
                want.then(|| Value::from(user)),
                "{user}/{password}"
            );
        };
        for _ in 0..10 {
            check("alice", "pw", true);
            check("alice", "nope", false);
        }
        assert_eq!(
            s.calls("backend.calls"),
            11,
            "1 miss + 10 uncached failures"
        );
        mc.kill();
        for _ in 0..20 {
            check("alice", "pw", true);
            check("alice", "nope", false);
            check("bob", "pw", true);
        }
        // Without the cache every request reached the backend.
        assert_eq!(s.calls("backend.calls"), 11 + 60);
        mc.restart();
        std::thread::sleep(Duration::from_millis(400));
        for _ in 0..20 {
            check("alice", "pw", true);
            check("alice", "nope", false);
        }
        // Back in use: one refill miss for alice, then hits; failures still go through.
        assert_eq!(s.calls("backend.calls"), 71 + 1 + 20);
    });
    let warns = logs.matches("is unavailable").count();
    let backs = logs.matches("is available again").count();
    assert_eq!(warns, 1, "outage logged once:\n{logs}");
    assert_eq!(backs, 1, "recovery logged once:\n{logs}");
    eprintln!("worst request latency across the outage: {worst:?}");
}

#[test]
fn a_hung_memcached_costs_one_timeout_then_is_skipped() {
    setup();
    let mc = memcached();
    let s = Setup::new(&chain(&mc.url(), "timeout_ms = 200\nretry_ms = 60000"));
    let f = s.factory();
    authenticate(&f, &login("alice", "pw"), OUTCOME).0.unwrap();
    mc.signal("STOP");
    let mut times = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let (id, outcome) = authenticate(&f, &login("alice", "pw"), OUTCOME);
        times.push(t.elapsed());
        assert!(id.is_some());
        assert_eq!(outcome.as_deref(), Some("unavailable"));
    }
    mc.signal("CONT");
    // The first request waits out one read timeout; the rest skip the server.
    assert!(times[0] >= Duration::from_millis(150), "{times:?}");
    assert!(times[0] < Duration::from_millis(800), "{times:?}");
    assert!(
        times[1..].iter().all(|t| *t < Duration::from_millis(100)),
        "{times:?}"
    );
    assert_eq!(s.calls("backend.calls"), 21);
}

#[test]
fn bad_configurations_refuse_to_start() {
    setup();
    let mc = memcached();
    let base = chain(&mc.url(), "");
    let no_secret = base.replace("secret = test secret\n", "");
    let e = Setup::new(&no_secret).factory_error();
    assert!(
        e.contains("option `secret`") && e.contains("allow_random_secret"),
        "{e}"
    );
    // The explicit opt-out works, with a warning.
    let s = Setup::new(&no_secret.replace(
        "authenticator_name = backend",
        "authenticator_name = backend\nallow_random_secret = true",
    ));
    let (f, logs) = capture_logs(|| s.factory());
    assert!(logs.contains("random per-process secret"), "{logs}");
    assert!(authenticate(&f, &login("a", "pw"), OUTCOME).0.is_some());

    for (from, to, want) in [
        (
            "authenticator_name = backend",
            "",
            "authenticator_name` and/or `mdprovider_name",
        ),
        (
            "authenticator_name = backend",
            "authenticator_name = nobody",
            "no plugin `nobody`",
        ),
        (
            "authenticator_name = backend",
            "mdprovider_name = id",
            "not a metadata provider",
        ),
        (
            &format!("memcached_urls = {}", mc.url()),
            "memcached_urls = redis://x:1",
            "unsupported scheme",
        ),
        (
            "secret = test secret",
            "secret = s\nkey_items =",
            "option `key_items`",
        ),
        (
            "secret = test secret",
            "secret = s\nttl = 99999999",
            "option `ttl`",
        ),
        (
            "secret = test secret",
            "secret = s\nhash = md5",
            "option `hash`",
        ),
        (
            "secret = test secret",
            "secret = s\nttls = 5",
            "unknown option `ttls`",
        ),
    ] {
        assert!(base.contains(from), "{from}");
        let e = Setup::new(&base.replace(from, to)).factory_error();
        assert!(e.contains(want), "{from} -> {to}: {e}");
    }
    // The secret never appears in errors or logs.
    let (_, logs) = capture_logs(|| Setup::new(&base).factory());
    assert!(!logs.contains("test secret"));
}
