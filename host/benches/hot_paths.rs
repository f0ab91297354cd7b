//! The hot paths of an authentication host, each through plugins loaded from their `.so`
//! files ("dynamic") and through the same plugin code linked into this binary ("static"):
//! config load, `authenticate()` with a valid auth_tkt cookie, with Basic + htpasswd ({SHA}
//! and bcrypt), anonymous, the challenge path, and `remember`.
//!
//! Run `cargo build --release --workspace && cargo bench -p rewho --bench hot_paths`.
//! Needs Apache's `htpasswd` (`.ci/install`) to write the password files.

use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rewho::{ApiFactory, ApiFactoryBuilder, Config, HeaderField, OwnedRequest};

#[path = "support/static_plugins.rs"]
mod static_plugins;

/// The allocator the `rewho` binary uses, so the figures match what it serves.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: rewho::alloc::Allocator = rewho::alloc::Allocator;

fn who_ini(dir: &Path, passwd: &Path) -> PathBuf {
    let path = dir.join(format!(
        "who-{}.ini",
        passwd.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(
        &path,
        format!(
            "[plugin:auth_tkt]\nuse = repoze.who.plugins.auth_tkt:make_plugin\nsecret = bench-secret-0123456789\n\n\
             [plugin:basicauth]\nuse = repoze.who.plugins.basicauth:make_plugin\nrealm = bench\n\n\
             [plugin:htpasswd]\nuse = repoze.who.plugins.htpasswd:make_plugin\nfilename = {}\ncheck_fn = repoze.who.plugins.htpasswd:crypt_check\n\n\
             [general]\nrequest_classifier = repoze.who.classifiers:default_request_classifier\nchallenge_decider = repoze.who.classifiers:default_challenge_decider\n\n\
             [identifiers]\nplugins = auth_tkt basicauth\n[authenticators]\nplugins = auth_tkt htpasswd\n[challengers]\nplugins = basicauth\n",
            passwd.display()
        ),
    )
    .unwrap();
    path
}

fn htpasswd(dir: &Path, name: &str, flag: &str) -> PathBuf {
    let path = dir.join(name);
    let status = Command::new("htpasswd")
        .args(["-bc", flag])
        .arg(&path)
        .args(["alice", "secret"])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("Apache's htpasswd is needed: run bash .ci/install");
    assert!(status.success());
    path
}

fn dynamic(path: &Path) -> ApiFactory {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    assert!(
        profile_dir.join("librewho_plugin_auth_tkt.so").is_file(),
        "plugins missing in {}: run `cargo build --release --workspace` first",
        profile_dir.display()
    );
    ApiFactory::from_config_file(path).unwrap()
}

fn statically(path: &Path) -> ApiFactory {
    let config = Config::from_file(path).unwrap();
    static_plugins::with_static_plugins(ApiFactoryBuilder::from_config(&config))
        .build()
        .unwrap()
}

/// A valid auth_tkt cookie value minted by the plugin itself.
fn cookie(factory: &ApiFactory) -> String {
    let mut identity = rewho::Identity::new();
    identity.insert("repoze.who.userid", "alice");
    identity.insert("identifier", "auth_tkt");
    let headers: Vec<HeaderField> = OwnedRequest::get("/").with_view(|view| {
        let mut api = factory.api(view.clone());
        api.remember(Some(&identity))
    });
    let set_cookie = headers[0].value.as_str();
    let value = set_cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("auth_tkt=");
    value.to_owned()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let sha = who_ini(dir.path(), &htpasswd(dir.path(), "passwd.sha", "-s"));
    let bcrypt = who_ini(dir.path(), &htpasswd(dir.path(), "passwd.bcrypt", "-B"));
    let factories = [
        ("dynamic", dynamic(&sha), dynamic(&bcrypt)),
        ("static", statically(&sha), statically(&bcrypt)),
    ];
    let cookie = cookie(&factories[0].1);
    let basic = "Basic YWxpY2U6c2VjcmV0"; // alice:secret

    c.bench_function("config_load/who.ini", |b| b.iter(|| dynamic(&sha)));

    let requests = [
        (
            "authenticate/auth_tkt",
            OwnedRequest::get("/").header("Cookie", &format!("auth_tkt={cookie}")),
        ),
        ("authenticate/anonymous", OwnedRequest::get("/")),
        (
            "authenticate/basic_sha",
            OwnedRequest::get("/").header("Authorization", basic),
        ),
    ];
    for (name, req) in &requests {
        let mut group = c.benchmark_group(*name);
        for (kind, f, _) in &factories {
            req.with_view(|view| {
                group.bench_function(BenchmarkId::from_parameter(kind), |b| {
                    b.iter(|| {
                        let mut api = f.api(view.clone());
                        std::hint::black_box(api.authenticate().is_some())
                    })
                });
            });
        }
        group.finish();
    }

    let mut group = c.benchmark_group("authenticate/basic_bcrypt");
    group.sample_size(10);
    let req = OwnedRequest::get("/").header("Authorization", basic);
    for (kind, _, f) in &factories {
        req.with_view(|view| {
            group.bench_function(BenchmarkId::from_parameter(kind), |b| {
                b.iter(|| f.api(view.clone()).authenticate().is_some())
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("challenge/anonymous");
    let req = OwnedRequest::get("/");
    for (kind, f, _) in &factories {
        req.with_view(|view| {
            group.bench_function(BenchmarkId::from_parameter(kind), |b| {
                b.iter(|| {
                    let mut api = f.api(view.clone());
                    api.authenticate();
                    std::hint::black_box(api.challenge(401, &[]).is_some())
                })
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("remember/auth_tkt");
    let req = OwnedRequest::get("/").header("Cookie", &format!("auth_tkt={cookie}"));
    for (kind, f, _) in &factories {
        req.with_view(|view| {
            group.bench_function(BenchmarkId::from_parameter(kind), |b| {
                b.iter(|| {
                    let mut api = f.api(view.clone());
                    api.authenticate();
                    std::hint::black_box(api.remember(None).len())
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
