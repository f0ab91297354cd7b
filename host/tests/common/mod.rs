//! Shared helpers for the host's end-to-end tests: locating built plugins, building fixture
//! libraries, writing who.ini files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// cargo's target folder for this workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}

/// The folder holding the workspace's built plugin libraries (the test's own profile).
pub fn plugin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/test-binary → target/<profile>
    exe.parent().unwrap().parent().unwrap().to_owned()
}

/// The built `.so` of a workspace plugin; fails with instructions when it is missing.
pub fn plugin_so(name: &str) -> PathBuf {
    let p = plugin_dir().join(format!("librewho_plugin_{name}.so"));
    assert!(
        p.is_file(),
        "{} is missing: build the plugins first with `cargo build --workspace` \
         (the README's test command does this)",
        p.display()
    );
    p
}

/// Builds a crate outside the workspace (a fixture or an example) into its own target dir,
/// so the outer cargo's lock is not needed, and returns the folder with its artifacts.
pub fn build_external(manifest_dir: &Path) -> PathBuf {
    let target = target_dir().join("fixtures");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .arg("build")
        .arg("--quiet")
        .arg("--manifest-path")
        .arg(manifest_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "building {} failed:\n{}",
        manifest_dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    target.join("debug")
}

/// Builds a shared library from Rust source with plain rustc (no rewho entry point).
pub fn build_plain_cdylib(dir: &Path, name: &str, source: &str) -> PathBuf {
    let src = dir.join(format!("{name}.rs"));
    std::fs::write(&src, source).unwrap();
    let out_file = dir.join(format!("lib{name}.so"));
    let out = Command::new("rustc")
        .args(["--crate-type", "cdylib", "--edition", "2021", "-o"])
        .arg(&out_file)
        .arg(&src)
        .output()
        .expect("run rustc");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out_file
}

/// A temp folder with a who.ini holding `text` (with `@TESTKIT@` replaced by the testkit path).
pub struct WhoIni {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub fn who_ini(text: &str) -> WhoIni {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("who.ini");
    let text = text.replace("@TESTKIT@", plugin_so("testkit").to_str().unwrap());
    std::fs::write(&path, text).unwrap();
    WhoIni { dir, path }
}

/// A clock tests can move.
#[derive(Clone)]
pub struct TestClock(pub Arc<Mutex<SystemTime>>);

impl TestClock {
    pub fn at(secs: u64) -> Self {
        TestClock(Arc::new(Mutex::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
        )))
    }
    pub fn advance(&self, secs: u64) {
        *self.0.lock().unwrap() += Duration::from_secs(secs);
    }
    pub fn clock(&self) -> rewho::Clock {
        let c = self.0.clone();
        Arc::new(move || *c.lock().unwrap())
    }
}

/// The venv's Python with the interop oracles (repoze.who, itsdangerous, fixie-creds), or
/// `$REWHO_PYTHON`; fails with how to create it. `why` says what the caller runs with it.
pub fn python(why: &str) -> PathBuf {
    let python = std::env::var_os("REWHO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: {why}; create the venv with `bash tests/python/setup-venv.sh` \
         (or set REWHO_PYTHON)",
        python.display()
    );
    python
}

/// `Basic base64(user:password)`, an `Authorization` value.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// Installs, once per test binary, a global subscriber that wants every event up to DEBUG and
/// writes them nowhere. Tests that capture logs with `tracing::subscriber::with_default` call
/// it first: without an interested global subscriber, a callsite first hit on another test's
/// thread can cache "never interested" in a race with the capturing thread's dispatcher, and
/// the captured log then misses the line (seen once in CI).
pub fn interested_global_subscriber() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let sink = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(std::io::sink)
            .finish();
        let _ = tracing::subscriber::set_global_default(sink);
    });
}
