//! Soak: `rewho serve` under steady mixed load on loopback for a bounded time (15 s; set
//! `REWHO_SOAK_SECS` for a longer run by hand), with the cache in memcached and passwords
//! in an htpasswd file.
//!
//! What users see: every request answered as it should be for the whole run (logins,
//! tickets, Basic credentials, wrong passwords, strangers, logouts), and a process whose
//! memory and thread count stay flat: the resident set (`VmRSS` from `/proc/<pid>/status`)
//! at the end is within a tolerance of the one after warm-up.
#![cfg(feature = "server")]

mod caching_support;
mod common;
mod load_support;
mod serve_support;

use std::time::{Duration, Instant};

use caching_support::{memcached, require_plugins};
use common::who_ini;
use load_support::{basic, htpasswd, Load};
use serve_support::{Http, Rewho};

/// `VmRSS` (KiB) and `Threads` of a process.
fn status(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("Threads:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_load_for_a_bounded_time_no_failures_and_flat_memory() {
    require_plugins(&["auth_tkt", "basicauth", "htpasswd", "memcached"]);
    let secs: u64 = std::env::var("REWHO_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let mc = memcached();
    let ini = who_ini(&format!(
        r#"
[plugin:auth_tkt]
use = auth_tkt
secret = soak secret

[plugin:basicauth]
use = basicauth
realm = soak

[plugin:htpasswd]
use = htpasswd
filename = %(here)s/passwd

[plugin:cached]
use = memcached
memcached_urls = {}
authenticator_name = htpasswd
secret = soak cache secret

[identifiers]
plugins = auth_tkt basicauth
[authenticators]
plugins = auth_tkt cached
[challengers]
plugins = basicauth
"#,
        mc.url()
    ));
    let passwd = ini.dir.path().join("passwd");
    htpasswd(&passwd, "alice", "alice-pw", true);
    for u in ["bob", "carol", "dave"] {
        htpasswd(&passwd, u, &format!("{u}-pw"), false);
    }
    let rewho = Rewho::start(&["--config", ini.path.to_str().unwrap()]);
    let pid = rewho.child.id();
    let http = Http::new();
    let base = rewho.url("");

    let load = Load::start(4, move |w, i| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let user = ["alice", "bob", "carol", "dave"][w];
            let auth = format!("{base}/_rewho/auth");
            match i % 6 {
                // Basic, right password: let in.
                0 | 1 => {
                    let r = http
                        .get(
                            &auth,
                            &[("authorization", &basic(user, &format!("{user}-pw")))],
                        )
                        .await;
                    (r.status == 200 && r.header("x-remote-user") == Some(user))
                        .then_some(())
                        .ok_or(format!("basic {user}: {r:?}"))
                }
                // Wrong password, or nothing at all: challenged.
                2 | 3 => {
                    let h = basic(user, "wrong");
                    let headers: &[(&str, &str)] = if i % 6 == 2 {
                        &[("authorization", &h)]
                    } else {
                        &[]
                    };
                    let r = http.get(&auth, headers).await;
                    (r.status == 401 && r.header("x-remote-user").is_none())
                        .then_some(())
                        .ok_or(format!("refused {user}: {r:?}"))
                }
                // Log in through the form, use the ticket, log out.
                _ => {
                    let r = http
                        .post_form(
                            &format!("{base}/_rewho/login"),
                            &[],
                            &format!("login={user}&password={user}-pw&came_from=/"),
                        )
                        .await;
                    let Some(ticket) = r.cookies().into_iter().find(|c| c.starts_with("auth_tkt="))
                    else {
                        return Err(format!("login {user}: {r:?}"));
                    };
                    let r = http.get(&auth, &[("cookie", &ticket)]).await;
                    if r.status != 200 || r.header("x-remote-user") != Some(user) {
                        return Err(format!("ticket {user}: {r:?}"));
                    }
                    let r = http
                        .post_form(&format!("{base}/_rewho/logout"), &[("cookie", &ticket)], "")
                        .await;
                    (r.status == 302)
                        .then_some(())
                        .ok_or(format!("logout {user}: {r:?}"))
                }
            }
        }
    });

    let start = Instant::now();
    let warm_up = Duration::from_secs(secs.min(15) / 5).max(Duration::from_secs(2));
    tokio::time::sleep(warm_up).await;
    let (warm_rss, warm_threads) = status(pid);
    let mut samples = vec![warm_rss];
    while start.elapsed() < Duration::from_secs(secs) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        samples.push(status(pid).0);
    }
    let (last_rss, last_threads) = status(pid);
    let report = load.stop().await;
    let rate = report.ok as f64 / start.elapsed().as_secs_f64();
    eprintln!(
        "soak: {} requests in {:.1} s ({rate:.0}/s), {} failed; VmRSS KiB after warm-up \
         {warm_rss}, last {last_rss}, samples {samples:?}; threads {warm_threads} -> {last_threads}",
        report.ok,
        start.elapsed().as_secs_f64(),
        report.failed
    );
    report.assert_clean(200, "soak");
    // Flat: the last sample within 25 % (and at least 8 MiB of slack for allocator
    // caches) of the one after warm-up.
    let tolerance = (warm_rss / 4).max(8 * 1024);
    assert!(
        last_rss <= warm_rss + tolerance,
        "VmRSS grew from {warm_rss} KiB to {last_rss} KiB (tolerance {tolerance} KiB): {samples:?}"
    );
    assert!(
        last_threads <= warm_threads + 8,
        "threads grew from {warm_threads} to {last_threads}"
    );
}
