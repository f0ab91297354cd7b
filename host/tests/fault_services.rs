//! Faults of the services plugins depend on, under load on the real `rewho serve`: memcached
//! (the `memcached` cache wrapping `htpasswd`) and Redis (`redis_session` + `jwt`) killed and
//! started again while clients keep sending requests.
//!
//! Needs `cargo build --workspace`, memcached, redis-server, apache2-utils and the Python
//! venv (itsdangerous signs the session cookie), all installed by `.ci/install`.
#![cfg(feature = "server")]

mod caching_support;
mod common;
mod load_support;
mod serve_support;

use std::io::{Read, Write};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use caching_support::{memcached, memcached_items, redis, require_plugins};
use common::who_ini;
use load_support::{basic, htpasswd, Load};
use serve_support::{Http, Rewho};

/// memcached down, then back (empty): what users see is nothing. While it is down the cache
/// is skipped and every request goes to htpasswd, so every right password is still let in and
/// every wrong one still refused; after it is back the cache fills again. Checks every
/// answer of the load (none lost, none wrong) and that the cache is used again. The same
/// when memcached hangs (SIGSTOP) instead of dying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memcached_stopped_and_restarted_under_load_every_request_answered_correctly() {
    require_plugins(&["memcached", "htpasswd", "basicauth"]);
    let mut mc = memcached();
    let ini = who_ini(&format!(
        r#"
[plugin:basicauth]
use = basicauth
realm = test

[plugin:htpasswd]
use = htpasswd
filename = %(here)s/passwd

[plugin:cached]
use = memcached
memcached_urls = {}
authenticator_name = htpasswd
secret = a shared cache secret
timeout_ms = 100
retry_ms = 200

[identifiers]
plugins = basicauth
[authenticators]
plugins = cached
[challengers]
plugins = basicauth
"#,
        mc.url()
    ));
    let passwd = ini.dir.path().join("passwd");
    htpasswd(&passwd, "alice", "alice-pw", true);
    htpasswd(&passwd, "bob", "bob-pw", false);
    let rewho = Rewho::start(&["--config", ini.path.to_str().unwrap()]);
    let http = Http::new();
    let url = rewho.url("/_rewho/auth");

    let load = Load::start(4, move |w, i| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let (user, good) = (["alice", "bob"][w % 2], i % 4 != 3);
            let password = if good {
                format!("{user}-pw")
            } else {
                "wrong".to_owned()
            };
            let r = http
                .get(&url, &[("authorization", &basic(user, &password))])
                .await;
            match (good, r.status.as_u16(), r.header("x-remote-user")) {
                (true, 200, Some(u)) if u == user => Ok(()),
                (false, 401, None) if r.header("www-authenticate").is_some() => Ok(()),
                _ => Err(format!("{user} good={good}: {r:?}")),
            }
        }
    });
    assert!(load.wait_for_more(40, Duration::from_secs(20)).await);
    assert!(memcached_items(&mc) > 0, "the cache is in use");
    mc.kill();
    assert!(
        load.wait_for_more(40, Duration::from_secs(20)).await,
        "requests are answered while memcached is down"
    );
    mc.restart();
    assert!(load.wait_for_more(40, Duration::from_secs(20)).await);
    // Hung rather than dead (SIGSTOP): calls time out after `timeout_ms`, then skip it.
    mc.signal("STOP");
    assert!(
        load.wait_for_more(40, Duration::from_secs(30)).await,
        "requests are answered while memcached hangs"
    );
    mc.signal("CONT");
    assert!(load.wait_for_more(40, Duration::from_secs(20)).await);
    let report = load.stop().await;
    report.assert_clean(200, "memcached outage");
    // Refilled after the restart (the retry interval has passed).
    let http = Http::new();
    for _ in 0..50 {
        let r = http
            .get(
                &rewho.url("/_rewho/auth"),
                &[("authorization", &basic("alice", "alice-pw"))],
            )
            .await;
        assert_eq!(r.status, 200);
        if memcached_items(&mc) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(memcached_items(&mc) > 0, "the cache is used again");
    let log = rewho.log();
    assert!(
        log.contains("is unavailable") && log.contains("requests go without the cache"),
        "the outage was seen and logged: {log}"
    );
}

const SESSION_SECRET: &str = "session-secret";
const JWT_SECRET: &str = "jwt-secret";
const UUID: &str = "6f1c2a9e-0000-4000-8000-00000000fa17";

fn python_line(script: &str, args: &[&str]) -> String {
    let python = common::workspace().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `bash tests/python/setup-venv.sh`",
        python.display()
    );
    let out = Command::new(python)
        .arg(common::workspace().join("tests/python").join(script))
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned()
}

/// `SET key value` on a Redis at `port`, by hand (RESP).
fn redis_set(port: u16, key: &str, value: &str) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to redis");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let cmd = format!(
        "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n",
        key.len(),
        value.len()
    );
    s.write_all(cmd.as_bytes()).unwrap();
    let mut reply = [0u8; 5];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"+OK\r\n");
}

/// Redis down, then back: while it is down, session holders are refused (fail-closed: 401,
/// never a 2xx and never someone else's user), and nobody gets an error page or a dropped
/// connection; once it is back (with the session stored again) they are let in again. The
/// same when Redis hangs (SIGSTOP) instead of dying.
/// Checks every answer of the load and that both phases were seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_and_restarted_under_load_fails_closed_then_recovers() {
    require_plugins(&["redis_session", "jwt"]);
    let mut rd = redis();
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let jwt = python_line(
        "jwt_mint.py",
        &[
            "--secret",
            JWT_SECRET,
            &format!(r#"{{"sub":"alice","exp":{exp}}}"#),
        ],
    );
    let signed = python_line(
        "itsdangerous_oracle.py",
        &["sign", "--secret", SESSION_SECRET, "--alg", "sha256", UUID],
    );
    let key = format!("sess:{UUID}");
    redis_set(rd.port(), &key, &jwt);
    let ini = who_ini(&format!(
        r#"
[plugin:session]
use = redis_session
secret_key = {SESSION_SECRET}
redis_url = redis://{}/0
key_prefix = sess:
redis_timeout = 0.5
redis_retry_interval = 0.2

[plugin:jwt]
use = jwt
secret = {JWT_SECRET}

[plugin:marker]
use = @TESTKIT@:marker_challenger

[identifiers]
plugins = session jwt
[authenticators]
plugins = jwt
[challengers]
plugins = marker
"#,
        rd.url()
    ));
    let rewho = Rewho::start(&["--config", ini.path.to_str().unwrap()]);
    let http = Http::new();
    let url = rewho.url("/_rewho/auth");
    let cookie = format!("session_uuid={signed}");
    let (allowed, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (a, d) = (allowed.clone(), refused.clone());
    let load = Load::start(4, move |_, _| {
        let (http, url, cookie, a, d) = (
            http.clone(),
            url.clone(),
            cookie.clone(),
            a.clone(),
            d.clone(),
        );
        async move {
            let r = http.get(&url, &[("cookie", &cookie)]).await;
            match (r.status.as_u16(), r.header("x-remote-user")) {
                (200, Some("alice")) => {
                    a.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
                (401, None) => {
                    d.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
                _ => Err(format!("{r:?}")),
            }
        }
    });
    let wait_until = |counter: Arc<AtomicU64>, more: u64| async move {
        let target = counter.load(Ordering::Relaxed) + more;
        for _ in 0..1000 {
            if counter.load(Ordering::Relaxed) >= target {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    };
    assert!(
        wait_until(allowed.clone(), 30).await,
        "session holders are let in while Redis is up"
    );
    rd.kill();
    assert!(
        wait_until(refused.clone(), 30).await,
        "while Redis is down requests are refused (fail-closed), not failed"
    );
    rd.restart();
    redis_set(rd.port(), &key, &jwt);
    assert!(
        wait_until(allowed.clone(), 30).await,
        "once Redis is back session holders are let in again"
    );
    // Hung rather than dead (SIGSTOP): lookups time out after `redis_timeout`, fail closed.
    rd.signal("STOP");
    assert!(
        wait_until(refused.clone(), 10).await,
        "while Redis hangs requests are refused, not failed"
    );
    rd.signal("CONT");
    assert!(
        wait_until(allowed.clone(), 30).await,
        "once Redis answers again session holders are let in again"
    );
    let report = load.stop().await;
    report.assert_clean(90, "redis outage");
    let log = rewho.log();
    assert!(
        log.contains("is unreachable") && log.contains("failing closed"),
        "{log}"
    );
}
