//! `authenticate()` through a plugin loaded from its `.so` versus the same plugin code linked
//! statically into the benchmark: the cost of the dynamic library boundary.
//!
//! Run `cargo build --release --workspace && cargo bench -p rewho --bench dynamic_vs_static`.
//! Both variants run the same chain (a header identifier and an accepting authenticator,
//! from the test-kit plugin), through the same ABI objects; only the loading differs.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use rewho::{ApiFactory, OwnedRequest, PluginLibrary};

#[allow(dead_code, missing_docs, unreachable_pub)]
#[path = "../../tests/fixtures/plugins/testkit/src/lib.rs"]
mod testkit;

const CHAIN: &str = "[plugin:id]\nuse = testkit:header_identifier\n\n[plugin:acc]\nuse = testkit:accept\nlogins = alice bob carol\n\n[identifiers]\nplugins = id\n[authenticators]\nplugins = acc\n";

fn dynamic_factory(dir: &std::path::Path) -> ApiFactory {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let so = profile_dir.join("librewho_plugin_testkit.so");
    assert!(
        so.is_file(),
        "{} missing: run `cargo build --release --workspace` first",
        so.display()
    );
    let path = dir.join("who.ini");
    std::fs::write(
        &path,
        CHAIN.replace("testkit:", &format!("{}:", so.display())),
    )
    .unwrap();
    ApiFactory::from_config_file(&path).unwrap()
}

fn static_factory() -> ApiFactory {
    let lib = PluginLibrary::from_static("testkit (static)", testkit::rewho_plugin_module());
    ApiFactory::builder()
        .static_library("testkit", lib)
        .plugin("id", "testkit:header_identifier", &[])
        .plugin("acc", "testkit:accept", &[("logins", "alice bob carol")])
        .identifiers(&["id"])
        .authenticators(&["acc"])
        .build()
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let dynamic = dynamic_factory(dir.path());
    let statically = static_factory();
    let req = OwnedRequest::get("/app?x=1")
        .header("Host", "example.org")
        .header("User-Agent", "bench")
        .header("Accept", "text/html")
        .header("X-Test-Login", "bob")
        .header("X-Test-Password", "secret");
    let mut group = c.benchmark_group("authenticate");
    for (name, factory) in [("dynamic_so", &dynamic), ("static", &statically)] {
        group.bench_function(name, |b| {
            req.with_view(|view| {
                b.iter(|| {
                    let mut api = factory.api(view.clone());
                    let id = api.authenticate().expect("authenticated");
                    std::hint::black_box(id.len())
                })
            })
        });
    }
    group.finish();
    let _ = PathBuf::new();
}

criterion_group!(benches, bench);
criterion_main!(benches);
