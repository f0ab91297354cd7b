//! The `memcached` plugin in front of a deliberately slow backend (bcrypt cost 10, as an
//! htpasswd file of bcrypt hashes costs): calls that reach the backend and latency per
//! request, without the cache, with it, and with memcached down.
//!
//! Run `cargo build --release --workspace && cargo bench -p rewho --bench memcached_cache`
//! (memcached must be installed; the bench starts its own on a free loopback port).
//!
//! It first prints a workload table (requests spread over 20 users; the testkit `counting`
//! backend with bcrypt cost 10, then the real `htpasswd` plugin on a `htpasswd -B -C 10` file
//! when both are available), then criterion's figures for single requests.

#[path = "../tests/caching_support/mod.rs"]
mod caching_support;
#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use caching_support::{authenticate, memcached, require_plugins, Setup};
use criterion::{criterion_group, criterion_main, Criterion};
use rewho::{ApiFactory, OwnedRequest};

const USERS: usize = 20;
const REQUESTS: usize = 200;

fn chain(urls: &str, cached: bool) -> String {
    format!(
        r#"
[plugin:id]
use = @TESTKIT@:header_identifier

[plugin:backend]
use = @TESTKIT@:counting
count_file = @DIR@/backend.calls
password = pw
bcrypt_cost = 10

[plugin:cached]
use = memcached
memcached_urls = {urls}
authenticator_name = backend
secret = bench secret
key_items = login password

[identifiers]
plugins = id
[authenticators]
plugins = {}
"#,
        if cached { "cached" } else { "backend" }
    )
}

fn login(i: usize) -> OwnedRequest {
    OwnedRequest::get("/")
        .header("X-Test-Login", &format!("user{}", i % USERS))
        .header("X-Test-Password", "pw")
}

fn workload(name: &str, s: &Setup, f: &ApiFactory) {
    let before = s.calls("backend.calls");
    let mut times = Vec::with_capacity(REQUESTS);
    for i in 0..REQUESTS {
        let req = login(i);
        let t = Instant::now();
        let (id, _) = authenticate(f, &req, "-");
        times.push(t.elapsed());
        assert!(id.is_some(), "request {i} was not authenticated");
    }
    report(name, s.calls("backend.calls") - before, times);
}

/// The same workload through the real `htpasswd` plugin with a bcrypt cost 10 file made by
/// Apache's `htpasswd -B -C 10`; backend calls are the cache's misses.
fn htpasswd_workload() {
    let so = common::plugin_dir().join("librewho_plugin_htpasswd.so");
    let tool = std::path::Path::new("/usr/bin/htpasswd");
    if !so.is_file() || !tool.is_file() {
        println!("(htpasswd plugin or apache2-utils missing: skipping the htpasswd workload)");
        return;
    }
    let mc = memcached();
    let template = chain(&mc.url(), true).replace(
        "use = @TESTKIT@:counting\ncount_file = @DIR@/backend.calls\npassword = pw\nbcrypt_cost = 10",
        "use = htpasswd\nfilename = @DIR@/passwd",
    );
    let cached = Setup::new(&template);
    let plain = Setup::new(&template.replace("plugins = cached", "plugins = backend"));
    for s in [&cached, &plain] {
        let mut file = String::new();
        for u in 0..USERS {
            let out = std::process::Command::new(tool)
                .args(["-nbB", "-C", "10", &format!("user{u}"), "pw"])
                .output()
                .expect("run htpasswd");
            file.push_str(String::from_utf8_lossy(&out.stdout).trim());
            file.push('\n');
        }
        std::fs::write(s.path("passwd"), file).unwrap();
    }
    let (fc, fp) = (cached.factory(), plain.factory());
    for (name, f, cached) in [
        ("htpasswd, no cache", &fp, false),
        ("htpasswd + memcached (cold)", &fc, true),
        ("htpasswd + memcached (warm)", &fc, true),
    ] {
        let mut times = Vec::with_capacity(REQUESTS);
        let mut calls = 0;
        for i in 0..REQUESTS {
            let t = Instant::now();
            let (id, outcome) = authenticate(f, &login(i), "rewho.memcached.cached.authenticate");
            times.push(t.elapsed());
            assert!(id.is_some(), "request {i} was not authenticated");
            if !cached || outcome.as_deref() != Some("hit") {
                calls += 1;
            }
        }
        report(name, calls, times);
    }
}

fn report(name: &str, calls: u64, mut times: Vec<Duration>) {
    times.sort();
    let n = times.len();
    let mean = times.iter().sum::<Duration>() / n as u32;
    println!(
        "{name:<28} {n:>5} requests  backend calls {calls:>4} ({:.2}/request)  \
         mean {mean:>10.3?}  p50 {:>10.3?}  p99 {:>10.3?}",
        calls as f64 / n as f64,
        times[n / 2],
        times[n * 99 / 100],
    );
}

fn bench(c: &mut Criterion) {
    require_plugins(&["memcached", "testkit"]);
    let mut mc = memcached();
    let plain = Setup::new(&chain(&mc.url(), false));
    let cached = Setup::new(&chain(&mc.url(), true));
    let (fp, fc) = (plain.factory(), cached.factory());

    println!("\nworkload: {REQUESTS} requests round-robin over {USERS} users, bcrypt cost 10");
    workload("no cache", &plain, &fp);
    workload("memcached (cold start)", &cached, &fc);
    workload("memcached (warm)", &cached, &fc);
    htpasswd_workload();

    let mut group = c.benchmark_group("authenticate");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    let req = login(0);
    group.bench_function("no_cache_bcrypt10", |b| {
        b.iter(|| authenticate(&fp, &req, "-").0.expect("authenticated"))
    });
    group.bench_function("memcached_hit", |b| {
        b.iter(|| authenticate(&fc, &req, "-").0.expect("authenticated"))
    });
    mc.kill();
    workload("memcached down", &cached, &fc);
    group.bench_function("memcached_down_bcrypt10", |b| {
        b.iter(|| authenticate(&fc, &req, "-").0.expect("authenticated"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
