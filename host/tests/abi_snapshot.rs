//! The ABI 1.0 promise, enforced: a plugin built against plugin-api 1.0 *as released*
//! (`tests/fixtures/abi-1.0/`, never edited) loads and works in this host, every role. A change
//! to plugin-api that breaks this test is ABI 2.0 (see docs/PLUGINS.md, "Compatibility").

mod common;

use common::{build_external, who_ini, workspace};
use rewho::{ApiFactory, OwnedRequest};
use sha2::Digest;

/// The frozen sources' digest: editing the snapshot would make this test prove nothing.
const SNAPSHOT_ABI_SHA256: &str = include_str!("../../tests/fixtures/abi-1.0/abi.rs.sha256");

fn snapshot_factory() -> (common::WhoIni, ApiFactory) {
    let out = build_external(&workspace().join("tests/fixtures/abi-1.0/plugin"));
    let lib = out.join("librewho_plugin_abi1_snapshot.so");
    let ini = who_ini(&format!(
        "[plugin:snap]\nuse = {}\npassword = open-sesame\n\n\
         [general]\nrequest_classifier = snap\nchallenge_decider = snap\n\n\
         [identifiers]\nplugins = snap\n[authenticators]\nplugins = snap\n\
         [challengers]\nplugins = snap\n[mdproviders]\nplugins = snap\n",
        lib.display()
    ));
    let factory = ApiFactory::from_config_file(&ini.path)
        .unwrap_or_else(|e| panic!("this host refused the ABI 1.0 snapshot plugin: {e}"));
    (ini, factory)
}

#[test]
fn the_frozen_snapshot_is_untouched() {
    let abi = std::fs::read(workspace().join("tests/fixtures/abi-1.0/plugin-api/src/abi.rs"))
        .expect("snapshot abi.rs");
    let digest = sha2::Sha256::digest(&abi);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        SNAPSHOT_ABI_SHA256.trim(),
        "tests/fixtures/abi-1.0 must never change: add a new snapshot for ABI 2.0 instead"
    );
}

#[test]
fn a_plugin_built_against_abi_1_0_loads_and_plays_every_role() {
    let (_ini, factory) = snapshot_factory();
    assert_eq!(
        factory.downstream_header_names(),
        vec!["X-Snap-User".to_owned()],
        "the 1.0 metadata record's declared headers reach the edges"
    );
    let req = OwnedRequest::get("/app")
        .header("X-Snap-Login", "alice")
        .header("X-Snap-Password", "open-sesame")
        .header("X-Snap-Class", "api");
    req.with_view(|view| {
        let mut api = factory.api(view);
        assert_eq!(api.classification(), "api", "classifier");
        let identity = api
            .authenticate()
            .expect("identifier + authenticator")
            .clone();
        assert_eq!(
            identity.userid().map(|v| v.to_display_string()),
            Some("alice".into())
        );
        assert!(
            identity.get("snap").is_some(),
            "metadata provider: {identity:?}"
        );
        assert_eq!(
            identity.get_str("seen_client"),
            Some("127.0.0.1"),
            "request accessors"
        );
        let edits = api.environ().downstream_edits();
        assert!(
            edits
                .iter()
                .any(|e| e.name() == "X-Snap-User" && e.value() == Some("alice")),
            "environ edits: {edits:?}"
        );
        let remembered = api.remember(Some(&identity));
        assert!(
            remembered.iter().any(|h| h.value() == "snap=alice"),
            "remember: {remembered:?}"
        );
    });
    let wrong = OwnedRequest::get("/app")
        .header("X-Snap-Login", "alice")
        .header("X-Snap-Password", "nope");
    wrong.with_view(|view| {
        let mut api = factory.api(view);
        assert!(api.authenticate().is_none(), "a wrong password is refused");
        let challenge = api.challenge(401, &[]).expect("challenger answers");
        assert_eq!(challenge.status(), 401);
        assert_eq!(challenge.header("WWW-Authenticate"), Some("Snap"));
    });
}
