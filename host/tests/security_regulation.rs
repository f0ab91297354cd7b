//! The `regulation` plugin in `rewho serve`, attacked from a client that is not on loopback
//! (issue 19, row 7): a password-guessing client is banned after `max_retries`, the right
//! password is refused while the ban lasts, the ban lifts after `ban_time`, a banned attempt
//! answers exactly like a wrong password, and two rewho instances share bans through a real
//! Redis and a real memcached. Before the plugin, every guess was answered at full speed.
#![cfg(feature = "server")]

mod caching_support;
mod common;
mod listen_support;
mod serve_support;

use std::time::{Duration, Instant};

use listen_support::{exchange, Listening};
use serve_support::netns::NetNs;
use serve_support::{apache_htpasswd, basic};

/// A who.ini: Basic auth checked by htpasswd (`alice` / `wonderland`) through `regulation`
/// with `regulation_extra` added to its section.
fn ini(dir: &std::path::Path, regulation_extra: &str) -> std::path::PathBuf {
    for p in ["basicauth", "htpasswd", "regulation"] {
        common::plugin_so(p);
    }
    let passwd = dir.join("passwd");
    if !passwd.exists() {
        apache_htpasswd(&passwd, &["-B", "-C", "4"], "alice", "wonderland", true);
        apache_htpasswd(&passwd, &["-B", "-C", "4"], "bob", "builder", false);
    }
    let text = format!(
        "[general]\nrequest_classifier = accept_request_classifier\n\
challenge_decider = default_challenge_decider\n\n\
[plugin:basicauth]\nuse = basicauth\nrealm = regulation\n\n\
[plugin:htpasswd]\nuse = htpasswd\nfilename = %(here)s/passwd\n\n\
[plugin:throttled]\nuse = regulation\nauthenticator_name = htpasswd\n{regulation_extra}\n\n\
[identifiers]\nplugins = basicauth\n\n\
[authenticators]\nplugins = throttled\n\n\
[challengers]\nplugins = basicauth\n"
    );
    let path = dir.join(format!("who-{}.ini", text.len()));
    std::fs::write(&path, text).unwrap();
    path
}

/// A forward-auth request with Basic credentials from inside the namespace: (status line,
/// whole answer without the per-request id and date).
fn login(ns: &NetNs, server: &Listening, user: &str, password: &str) -> (String, String) {
    let stream = ns.connect(server.addr).unwrap();
    let answer = exchange(
        stream,
        &format!(
            "GET /_rewho/auth HTTP/1.1\r\nHost: app.test\r\nAuthorization: {}\r\n\
             Connection: close\r\n\r\n",
            basic(user, password)
        ),
        Duration::from_secs(30),
    );
    let status = answer.lines().next().unwrap_or("").to_owned();
    let stable: Vec<&str> = answer
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            !l.starts_with("date:") && !l.starts_with("x-request-id:")
        })
        .collect();
    (status, stable.join("\n"))
}

fn ok(ns: &NetNs, server: &Listening, user: &str, password: &str) -> bool {
    let (status, _) = login(ns, server, user, password);
    assert!(
        status.starts_with("HTTP/1.1 200") || status.starts_with("HTTP/1.1 401"),
        "{status}"
    );
    status.starts_with("HTTP/1.1 200")
}

#[test]
fn a_guesser_is_banned_after_max_retries_even_with_the_right_password_until_ban_time_passes() {
    let ns = NetNs::create("regulation-ban");
    let dir = tempfile::tempdir().unwrap();
    let config = ini(dir.path(), "max_retries = 3\nfind_time = 60\nban_time = 3");
    let server = Listening::start(ns.host_ip(), &config, 1024, &[]);

    assert!(ok(&ns, &server, "alice", "wonderland"), "works before");
    let (_, wrong) = login(&ns, &server, "alice", "guess-1");
    assert!(!ok(&ns, &server, "alice", "guess-2"));
    assert!(!ok(&ns, &server, "alice", "guess-3"));
    let banned_at = Instant::now();
    // Banned: the right password is refused, answering exactly as a wrong one did.
    let (_, right_while_banned) = login(&ns, &server, "alice", "wonderland");
    assert_eq!(
        right_while_banned, wrong,
        "a ban looks like a wrong password"
    );
    // The address is banned too: another user's right password from it is refused.
    assert!(!ok(&ns, &server, "bob", "builder"));
    assert!(server.wait_for_log("banned for 3 s", Duration::from_secs(5)));
    let log = server.log();
    assert_eq!(
        log.matches("regulation: login \"alice\" banned").count(),
        1,
        "the ban is logged once:\n{log}"
    );
    assert!(!log.contains("wonderland"), "no password in the log");

    // The ban lifts after ban_time.
    std::thread::sleep(
        Duration::from_secs(3).saturating_sub(banned_at.elapsed()) + Duration::from_millis(300),
    );
    assert!(
        ok(&ns, &server, "alice", "wonderland"),
        "lifted after ban_time"
    );
}

#[test]
fn an_unknown_login_is_banned_like_a_known_one_so_bans_reveal_no_accounts() {
    let ns = NetNs::create("regulation-enum");
    let dir = tempfile::tempdir().unwrap();
    // The address is banned along the way too; every answer must still be the same.
    let config = ini(dir.path(), "max_retries = 2\nban_time = 60");
    let server = Listening::start(ns.host_ip(), &config, 1024, &[]);
    for user in ["alice", "nobody-here"] {
        let (_, first) = login(&ns, &server, user, "x");
        let (_, second) = login(&ns, &server, user, "y");
        let (_, banned) = login(&ns, &server, user, "z");
        assert_eq!(first, second);
        assert_eq!(first, banned, "{user}: banned looks like failed");
    }
}

/// Two instances on one shared backend: failures on the first ban on the second.
fn shared_ban(ns: &NetNs, extra: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = ini(
        dir.path(),
        &format!("max_retries = 3\nfind_time = 60\nban_time = 60\n{extra}"),
    );
    let one = Listening::start(ns.host_ip(), &config, 1024, &[]);
    let two = Listening::start(ns.host_ip(), &config, 1024, &[]);
    assert!(ok(ns, &two, "alice", "wonderland"));
    assert!(!ok(ns, &one, "alice", "a"));
    assert!(!ok(ns, &two, "alice", "b"), "counted together");
    assert!(!ok(ns, &one, "alice", "c"));
    assert!(
        !ok(ns, &two, "alice", "wonderland"),
        "banned on the other instance too"
    );
    assert!(!ok(ns, &one, "alice", "wonderland"));
    assert!(
        one.wait_for_log("banned for 60 s", Duration::from_secs(5)),
        "{}",
        one.log()
    );
    assert!(
        !two.log().contains("banned for"),
        "logged once, by the instance that banned"
    );
}

#[test]
fn two_instances_share_bans_through_redis() {
    let ns = NetNs::create("regulation-redis");
    let redis = caching_support::redis();
    shared_ban(
        &ns,
        &format!(
            "backend = redis\nredis_url = redis://127.0.0.1:{}/0",
            redis.port()
        ),
    );
}

#[test]
fn two_instances_share_bans_through_memcached() {
    let ns = NetNs::create("regulation-memcached");
    let memcached = caching_support::memcached();
    shared_ban(
        &ns,
        &format!("backend = memcached\nmemcached_urls = {}", memcached.url()),
    );
}

#[test]
fn a_backend_outage_fails_open_for_bans_but_still_checks_passwords() {
    let ns = NetNs::create("regulation-outage");
    let mut redis = caching_support::redis();
    let dir = tempfile::tempdir().unwrap();
    let config = ini(
        dir.path(),
        &format!(
            "max_retries = 2\nban_time = 60\nretry_ms = 100\nbackend = redis\n\
             redis_url = redis://127.0.0.1:{}/0",
            redis.port()
        ),
    );
    let server = Listening::start(ns.host_ip(), &config, 1024, &[]);
    assert!(ok(&ns, &server, "alice", "wonderland"));
    redis.kill();
    assert!(
        !ok(&ns, &server, "alice", "wrong"),
        "the password is still checked"
    );
    assert!(!ok(&ns, &server, "alice", "wrong"));
    assert!(!ok(&ns, &server, "alice", "wrong"));
    assert!(
        ok(&ns, &server, "alice", "wonderland"),
        "no ban without the backend"
    );
    let log = server.log();
    assert_eq!(
        log.matches("failing open").count(),
        1,
        "logged once:\n{log}"
    );
}

#[test]
fn bad_options_stop_start_up_naming_the_option() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, needle) in [
        ("max_retries = 0", "max_retries"),
        ("ban_time = 0", "ban_time"),
        ("backend = redis", "redis_url"),
        ("backend = memcached", "memcached_urls"),
        ("backend = disk", "backend"),
        ("redis_url = redis://127.0.0.1/", "redis_url"),
    ] {
        let config = ini(dir.path(), extra);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rewho"))
            .args(["check", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra}: accepted");
        assert!(
            err.contains(needle) && err.contains("throttled"),
            "{extra}: {err}"
        );
    }
}

/// The median time of `n` forward-auth logins.
fn median_login(ns: &NetNs, server: &Listening, user: &str, password: &str, n: usize) -> Duration {
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            assert!(!ok(ns, server, user, password));
            t.elapsed()
        })
        .collect();
    times.sort();
    times[n / 2]
}

/// Row 8: in a mixed `{SHA}`/bcrypt file, an unknown user used to be checked against the
/// commonest kind (`{SHA}`: microseconds), so a fast answer meant "no such user".
#[test]
fn unknown_users_cost_the_slowest_hash_in_a_mixed_file() {
    let ns = NetNs::create("htpasswd-timing");
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    for (i, user) in ["s1", "s2", "s3", "s4", "s5"].iter().enumerate() {
        apache_htpasswd(&passwd, &["-s"], user, "sha-password", i == 0);
    }
    apache_htpasswd(
        &passwd,
        &["-B", "-C", "9"],
        "admin",
        "bcrypt-password",
        false,
    );
    // No throttling here: a high budget keeps every attempt reaching htpasswd.
    let config = ini(dir.path(), "max_retries = 1000");
    let server = Listening::start(ns.host_ip(), &config, 1024, &[]);
    let sha = median_login(&ns, &server, "s1", "wrong", 7);
    let bcrypt = median_login(&ns, &server, "admin", "wrong", 7);
    let unknown = median_login(&ns, &server, "no-such-user", "wrong", 7);
    assert!(
        bcrypt > sha * 5,
        "bcrypt must be measurably slower here: {bcrypt:?} vs {sha:?}"
    );
    assert!(
        unknown * 2 > bcrypt,
        "an unknown user answers as slowly as the bcrypt user: {unknown:?} vs {bcrypt:?} ({{SHA}}: {sha:?})"
    );
}
