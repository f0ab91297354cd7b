//! Fault: the files plugins read replaced while `rewho serve` reads them under load: an
//! `htpasswd` file (written by Apache's real `htpasswd`) and a `creds` user file (written by
//! `rewho creds`), each swapped between two versions atomically (write + rename) and by
//! in-place rewrite (truncate + write), quickly and repeatedly.
//!
//! What users see: never a wrong answer and never an error. A user both versions accept is
//! always let in (with an in-place rewrite, a request that catches the file half-written may
//! be refused for that moment: never let in wrongly); a password neither version holds is
//! always refused; whoever is let in is who they said; and each new version takes effect
//! (htpasswd within its one-second `stat` interval, creds on the next request).
#![cfg(feature = "server")]

mod common;
mod load_support;
mod serve_support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use load_support::{basic, htpasswd, Load};
use serve_support::{Http, Rewho};

/// Replaces `path` with `bytes`: atomically (a sibling renamed over it), or in place.
fn swap(path: &Path, bytes: &[u8], atomic: bool) {
    if atomic {
        let tmp = path.with_extension("swap");
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    } else {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)
            .unwrap();
        f.write_all(bytes).unwrap();
    }
}

/// Polls (bounded) until `ok_token` lets `user` in and `old_token` does not.
async fn takes_effect(http: &Http, url: &str, user: &str, ok_token: &str, old_token: &str) {
    let end = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let new = http
            .get(url, &[("authorization", &basic(user, ok_token))])
            .await;
        let old = http
            .get(url, &[("authorization", &basic(user, old_token))])
            .await;
        if new.status == 200 && old.status == 401 {
            assert_eq!(new.header("x-remote-user"), Some(user));
            return;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "the new file never took effect: new {new:?} old {old:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A load that checks each answer: `steady` (user, secret) must always pass (leniently while
/// `lenient` is set), `changing` may pass or be refused, `never` must always be refused.
fn load(
    url: String,
    steady: (&'static str, String),
    changing: [(&'static str, String); 2],
    lenient: Arc<AtomicBool>,
    refused_steady: Arc<AtomicU64>,
) -> Load {
    let http = Http::new();
    Load::start(4, move |w, i| {
        let (http, url, lenient, refused_steady) = (
            http.clone(),
            url.clone(),
            lenient.clone(),
            refused_steady.clone(),
        );
        let (steady, changing) = (steady.clone(), changing.clone());
        async move {
            let kind = (w as u64 + i) % 4;
            let (user, secret) = match kind {
                0 | 1 => steady,
                2 => changing[(i / 4 % 2) as usize].clone(),
                _ => (
                    "mallory",
                    "0123456789abcdef0123456789abcdef01234567".to_owned(),
                ),
            };
            let lenient = lenient.load(Ordering::SeqCst);
            let r = http
                .get(&url, &[("authorization", &basic(user, &secret))])
                .await;
            match (kind, r.status.as_u16(), r.header("x-remote-user")) {
                (0 | 1, 200, Some(u)) if u == user => Ok(()),
                (0 | 1, 401, None) if lenient => {
                    refused_steady.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
                (2, 200, Some(u)) if u == user => Ok(()),
                (2, 401, None) => Ok(()),
                (3, 401, None) => Ok(()),
                _ => Err(format!("{user} (lenient {lenient}): {r:?}")),
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn htpasswd_file_replaced_while_read_under_load() {
    common::plugin_so("htpasswd");
    common::plugin_so("basicauth");
    let dir = tempfile::tempdir().unwrap();
    // Two versions of the file: alice's password changes, bob's stays.
    let (v1, v2) = (dir.path().join("v1"), dir.path().join("v2"));
    htpasswd(&v1, "bob", "bob-pw", true);
    htpasswd(&v1, "alice", "alice-one", false);
    htpasswd(&v2, "bob", "bob-pw", true);
    htpasswd(&v2, "alice", "alice-two", false);
    let (v1, v2) = (std::fs::read(v1).unwrap(), std::fs::read(v2).unwrap());
    let passwd = dir.path().join("passwd");
    std::fs::write(&passwd, &v1).unwrap();
    let ini = dir.path().join("who.ini");
    std::fs::write(
        &ini,
        r#"
[plugin:basicauth]
use = basicauth
realm = files
[plugin:htpasswd]
use = htpasswd
filename = %(here)s/passwd
[identifiers]
plugins = basicauth
[authenticators]
plugins = htpasswd
[challengers]
plugins = basicauth
"#,
    )
    .unwrap();
    let rewho = Rewho::start(&["--config", ini.to_str().unwrap()]);
    let url = rewho.url("/_rewho/auth");
    let http = Http::new();
    let lenient = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicU64::new(0));
    let load = load(
        url.clone(),
        ("bob", "bob-pw".to_owned()),
        [("alice", "alice-one".into()), ("alice", "alice-two".into())],
        lenient.clone(),
        refused.clone(),
    );
    assert!(load.wait_for_more(20, Duration::from_secs(20)).await);
    for atomic in [true, false] {
        lenient.store(!atomic, Ordering::SeqCst);
        for _ in 0..2 {
            swap(&passwd, &v2, atomic);
            takes_effect(&http, &url, "alice", "alice-two", "alice-one").await;
            swap(&passwd, &v1, atomic);
            takes_effect(&http, &url, "alice", "alice-one", "alice-two").await;
        }
        // Rapid swaps, faster than the plugin looks.
        for k in 0..10 {
            swap(&passwd, if k % 2 == 0 { &v2 } else { &v1 }, atomic);
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        swap(&passwd, &v1, atomic);
        takes_effect(&http, &url, "alice", "alice-one", "alice-two").await;
    }
    let report = load.stop().await;
    report.assert_clean(100, "htpasswd swaps");
    eprintln!(
        "steady user refused {} times during in-place rewrites",
        refused.load(Ordering::Relaxed)
    );
    assert!(rewho.log().contains("listening"), "still the same process");
}

/// `rewho creds ARGS --config INI`: its stdout.
fn creds(ini: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rewho"))
        .arg("creds")
        .args(args)
        .arg("--config")
        .arg(ini)
        .env_remove("REWHO_CREDS_DIR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creds_user_file_replaced_while_read_under_load() {
    common::plugin_so("creds");
    common::plugin_so("basicauth");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("creds")).unwrap();
    let ini: PathBuf = dir.path().join("who.ini");
    std::fs::write(
        &ini,
        r#"
[plugin:basicauth]
use = basicauth
realm = tokens
[plugin:creds]
use = creds
credsdir = %(here)s/creds
[identifiers]
plugins = basicauth
[authenticators]
plugins = creds
[challengers]
plugins = basicauth
"#,
    )
    .unwrap();
    let bob = creds(&ini, &["register", "bob", "bob@example.org"]);
    let one = creds(&ini, &["register", "alice", "alice@example.org"]);
    let file = dir.path().join("creds/alice.json");
    let v1 = std::fs::read(&file).unwrap();
    let two = creds(&ini, &["reset", "alice", "alice@example.org"]);
    let v2 = std::fs::read(&file).unwrap();
    assert_ne!(v1, v2);
    std::fs::write(&file, &v1).unwrap();

    let rewho = Rewho::start(&["--config", ini.to_str().unwrap()]);
    let url = rewho.url("/_rewho/auth");
    let http = Http::new();
    // bob's own file is never touched: he must pass every time, even during in-place
    // rewrites of alice's file.
    let lenient = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicU64::new(0));
    let load = load(
        url.clone(),
        ("bob", bob.clone()),
        [("alice", one.clone()), ("alice", two.clone())],
        lenient,
        refused.clone(),
    );
    assert!(load.wait_for_more(20, Duration::from_secs(20)).await);
    for atomic in [true, false] {
        for _ in 0..3 {
            swap(&file, &v2, atomic);
            takes_effect(&http, &url, "alice", &two, &one).await;
            swap(&file, &v1, atomic);
            takes_effect(&http, &url, "alice", &one, &two).await;
        }
        for k in 0..20 {
            swap(&file, if k % 2 == 0 { &v2 } else { &v1 }, atomic);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        swap(&file, &v2, atomic);
        takes_effect(&http, &url, "alice", &two, &one).await;
        swap(&file, &v1, atomic);
    }
    let report = load.stop().await;
    report.assert_clean(100, "creds swaps");
    assert_eq!(refused.load(Ordering::Relaxed), 0, "bob was never refused");
    let log = rewho.log();
    assert!(
        !log.contains(&one) && !log.contains(&two),
        "tokens stay out of the log"
    );
}
