//! Replacing a plugin `.so` under a running `rewho serve` (issue: ABI 1.0, safe replacement):
//! overwriting the installed file in place under load never touches the mapped code (the host
//! loads a private copy), a broken replacement is refused on reload while the old code keeps
//! serving, and `mv` of a new library + SIGHUP serves the new code (no caching by path).
#![cfg(feature = "server")]

mod common;
mod serve_support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{build_external, plugin_so, workspace};
use serve_support::{Http, Rewho};

fn snapshot_ini(lib: &Path) -> String {
    format!(
        "[plugin:x]\nuse = {}\npassword = pw\n\n[identifiers]\nplugins = x\n\
         [authenticators]\nplugins = x\n[challengers]\nplugins = x\n",
        lib.display()
    )
}

fn api_key_ini(lib: &Path) -> String {
    format!(
        "[plugin:x]\nuse = {}\nkeys = carol:k-42\n\n[identifiers]\nplugins = x\n\
         [authenticators]\nplugins = x\n",
        lib.display()
    )
}

/// Replaces `path` in one step, as `mv` does.
fn mv_into_place(from: &Path, path: &Path) {
    let tmp = path.with_extension("new");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_file_replaced_under_load_never_crashes_the_host() {
    let snapshot = build_external(&workspace().join("tests/fixtures/abi-1.0/plugin"))
        .join("librewho_plugin_abi1_snapshot.so");
    let api_key = build_external(&workspace().join("examples/third-party-plugin"))
        .join("librewho_plugin_api_key.so");
    let dir = tempfile::tempdir().unwrap();
    let installed = dir.path().join("librewho_plugin_x.so");
    std::fs::copy(&snapshot, &installed).unwrap();
    let ini = dir.path().join("who.ini");
    std::fs::write(&ini, snapshot_ini(&installed)).unwrap();
    let rewho = Rewho::start(&["--config", ini.to_str().unwrap()]);
    let url = rewho.url("/_rewho/auth");

    // Load: alice through the snapshot plugin, continuously, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let load = {
        let (stop, ok, failed, url) = (stop.clone(), ok.clone(), failed.clone(), url.clone());
        tokio::spawn(async move {
            let http = Http::new();
            while !stop.load(Ordering::Relaxed) {
                let r = http
                    .get(
                        &url,
                        &[("X-Snap-Login", "alice"), ("X-Snap-Password", "pw")],
                    )
                    .await;
                if r.status.as_u16() == 200 && r.header("x-remote-user") == Some("alice") {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    // 1. `cp` over the loaded file, in place (same inode, new bytes), several times.
    for lib in [
        &plugin_so("testkit"),
        &api_key,
        &snapshot,
        &plugin_so("basicauth"),
    ] {
        std::fs::write(&installed, std::fs::read(lib).unwrap()).unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    // 2. A reload that finds a library this config cannot use (basicauth has no `password`
    //    option): refused, the old code keeps serving.
    rewho.signal(libc::SIGHUP);
    assert!(
        rewho.wait_for_log("config reload refused", Duration::from_secs(30)),
        "{}",
        rewho.log()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert!(ok > 20, "the load ran: {ok} ok");
    assert_eq!(
        failed,
        0,
        "no request failed while the file changed: {}",
        rewho.log()
    );

    // 3. `mv` a different library into place, with a config for it, and reload: the new
    //    code serves (the loader does not cache by path).
    mv_into_place(&api_key, &installed);
    std::fs::write(&ini, api_key_ini(&installed)).unwrap();
    rewho.signal(libc::SIGHUP);
    assert!(
        rewho.wait_for_log("config reloaded", Duration::from_secs(30)),
        "{}",
        rewho.log()
    );
    let http = Http::new();
    let r = http.get(&url, &[("X-Api-Key", "k-42")]).await;
    assert_eq!(r.status.as_u16(), 200, "{r:?}\n{}", rewho.log());
    assert_eq!(r.header("x-remote-user"), Some("carol"));
    // 4. Deleted, then restored: a reload while it is missing is refused; restored, it loads.
    std::fs::remove_file(&installed).unwrap();
    rewho.signal(libc::SIGHUP);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = http.get(&url, &[("X-Api-Key", "k-42")]).await;
    assert_eq!(r.status.as_u16(), 200, "the old code still serves: {r:?}");
    std::fs::copy(&api_key, &installed).unwrap();
    rewho.signal(libc::SIGHUP);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = http.get(&url, &[("X-Api-Key", "k-42")]).await;
    assert_eq!(r.status.as_u16(), 200, "{r:?}");
    assert!(
        !rewho.log().contains("panicked"),
        "no panic in the host: {}",
        rewho.log()
    );
}

/// `rewho plugin new` makes a crate that builds outside the workspace and loads in the host.
#[test]
fn rewho_plugin_new_starts_a_plugin_that_builds_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    let crate_dir = dir.path().join("greeter");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rewho"))
        .args(["plugin", "new", "greeter", "--dir"])
        .arg(&crate_dir)
        .arg("--api-path")
        .arg(workspace().join("plugin-api"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lib = build_external(&crate_dir).join("librewho_plugin_greeter.so");
    let ini = dir.path().join("who.ini");
    std::fs::write(
        &ini,
        format!(
            "[plugin:greeter]\nuse = {}\nheader = X-User\nlogins = alice\n\n\
             [identifiers]\nplugins = greeter\n[authenticators]\nplugins = greeter\n",
            lib.display()
        ),
    )
    .unwrap();
    let factory = rewho::ApiFactory::from_config_file(&ini).unwrap();
    let req = rewho::OwnedRequest::get("/").header("X-User", "alice");
    let user = req.with_view(|v| {
        factory
            .api(v)
            .authenticate()
            .and_then(|i| i.userid().map(|u| u.to_display_string()))
    });
    assert_eq!(user.as_deref(), Some("alice"));
    // An existing folder is never overwritten.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_rewho"))
        .args(["plugin", "new", "greeter", "--dir"])
        .arg(&crate_dir)
        .arg("--api-path")
        .arg(workspace().join("plugin-api"))
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
}
