//! A plugin built with `panic = "abort"` would kill the host on its first panic, so the SDK
//! refuses to compile it (a trybuild-style test: build the fixture, expect the SDK's error).

mod common;

use std::process::Command;

use common::{target_dir, workspace};

#[test]
fn export_plugin_refuses_to_compile_with_panic_abort() {
    let manifest = workspace().join("tests/fixtures/panic-abort/Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir().join("fixtures-panic-abort"))
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a panic = \"abort\" plugin compiled");
    assert!(
        stderr.contains("rewho plugins must be built with panic = \"unwind\""),
        "the SDK's own error explains why: {stderr}"
    );
}
