//! Every way loading a plugin can go wrong gives an error naming the file or section, and a
//! panicking plugin never takes the host down. Broken libraries are built by the tests.

mod common;

use common::{build_external, build_plain_cdylib, who_ini, workspace};
use rewho::{ApiFactory, FactoryError, OwnedRequest, Value};

fn error_of(text: &str) -> String {
    let ini = who_ini(text);
    match ApiFactory::from_config_file(&ini.path) {
        Ok(_) => panic!("config should have been refused:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn missing_library_file_is_named() {
    let e = error_of("[plugin:x]\nuse = ./nowhere/librewho_plugin_x.so\n");
    assert!(e.contains("[plugin:x]"), "{e}");
    assert!(
        e.contains("nowhere/librewho_plugin_x.so does not exist"),
        "{e}"
    );
    assert!(e.contains("who.ini:1"), "{e}");
}

#[test]
fn unknown_short_name_lists_where_it_looked() {
    let e = error_of("\n[plugin:ldap]\nuse = ldap_that_does_not_exist\n");
    assert!(e.contains("who.ini:2: [plugin:ldap]"), "{e}");
    assert!(
        e.contains("no plugin library named `ldap_that_does_not_exist`"),
        "{e}"
    );
    assert!(
        e.contains("librewho_plugin_ldap_that_does_not_exist.so"),
        "{e}"
    );
}

#[test]
fn a_file_that_is_not_a_library_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.so");
    std::fs::write(&bogus, b"this is not an ELF file").unwrap();
    let e = error_of(&format!("[plugin:b]\nuse = {}\n", bogus.display()));
    assert!(e.contains("bogus.so could not be opened"), "{e}");
}

#[test]
fn a_shared_library_without_the_rewho_entry_point_is_not_a_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let lib = build_plain_cdylib(
        dir.path(),
        "notaplugin",
        "#[no_mangle]\npub extern \"C\" fn hello() -> i32 { 42 }\n",
    );
    let e = error_of(&format!("[plugin:n]\nuse = {}\n", lib.display()));
    assert!(e.contains("libnotaplugin.so is not a rewho plugin"), "{e}");
    assert!(e.contains("export_plugin!"), "{e}");
}

#[test]
fn a_library_built_against_an_incompatible_layout_names_the_type() {
    let out = build_external(&workspace().join("tests/fixtures/abi-mismatch"));
    let lib = out.join("librewho_plugin_abi_mismatch.so");
    let e = error_of(&format!("[plugin:m]\nuse = {}\n", lib.display()));
    assert!(e.contains("incompatible rewho-plugin-api layout"), "{e}");
    assert!(
        e.contains("OptionEntry"),
        "the message names the type that differs: {e}"
    );
    assert!(
        e.lines().count() <= 3 && e.len() < 1500,
        "short, not a layout dump: {e}"
    );
}

#[test]
fn an_unknown_factory_lists_the_ones_the_library_has() {
    let e = error_of("[plugin:t]\nuse = testkit:no_such_factory\n");
    assert!(e.contains("has no factory `no_such_factory`"), "{e}");
    assert!(e.contains("header_identifier"), "{e}");
}

#[test]
fn option_errors_name_the_section_and_key() {
    let e = error_of("[plugin:acc]\nuse = testkit:accept\nlogins = a\nint_userid = perhaps\n");
    assert!(
        e.contains("who.ini:4: [plugin:acc]: option `int_userid`: expected a boolean"),
        "the error points at the option's line: {e}"
    );
    let e = error_of("[plugin:acc]\nuse = testkit:accept\nlogins = a\nlogin = b\n");
    assert!(
        e.contains("who.ini:4: [plugin:acc]") && e.contains("unknown option `login`"),
        "an unknown option points at its own line: {e}"
    );
    let e = error_of("[plugin:acc]\nuse = testkit:accept\n");
    assert!(e.contains("missing option `logins`"), "{e}");
    // An error the factory itself raises is tagged with the section too.
    let e =
        error_of("[plugin:acc]\nuse = testkit:accept\nlogins = a\nint_userid = yes\nuserid = x\n");
    assert!(
        e.contains("[plugin:acc]") && e.contains("option `userid`: \"x\" is not an integer"),
        "{e}"
    );
}

#[test]
fn dependency_cycles_are_refused_with_the_cycle() {
    let e = error_of(
        "[plugin:a]\nuse = testkit:wrapper\nauthenticator_name = b\n\n[plugin:b]\nuse = testkit:wrapper\nauthenticator_name = a\n",
    );
    assert!(
        e.contains("dependency cycle: a → b → a") || e.contains("dependency cycle: b → a → b"),
        "{e}"
    );
}

#[test]
fn every_failure_is_reported_at_once() {
    let e = error_of(
        "[plugin:one]\nuse = testkit:nope\n\n[plugin:two]\nuse = missing_lib_xyz\n\n[plugin:three]\nuse = testkit:accept\n",
    );
    assert!(e.contains("[plugin:one]"), "{e}");
    assert!(e.contains("[plugin:two]"), "{e}");
    assert!(e.contains("[plugin:three]"), "{e}");
}

#[test]
fn chain_entries_must_exist_and_play_the_role() {
    let e = error_of(
        "[plugin:acc]\nuse = testkit:accept\nlogins = a\n\n[identifiers]\nplugins = acc\n",
    );
    assert!(
        e.contains("[identifiers]")
            && e.contains("`acc` is not an identifier (it is: authenticator)"),
        "{e}"
    );
    let e = error_of("[authenticators]\nplugins = ghost\n");
    assert!(
        e.contains("`ghost` is neither a [plugin:ghost] section"),
        "{e}"
    );
}

#[test]
fn dependencies_are_built_first_even_when_written_later_and_unlisted() {
    // `wrap` names `inner`, which comes later in the file and sits in no chain.
    let ini = who_ini(
        "[plugin:id]\nuse = testkit:header_identifier\n\n[plugin:wrap]\nuse = testkit:wrapper\nauthenticator_name = inner\n\n[plugin:inner]\nuse = testkit:accept\nlogins = alice\n\n[identifiers]\nplugins = id\n[authenticators]\nplugins = wrap\n",
    );
    let f = ApiFactory::from_config_file(&ini.path).unwrap_or_else(|e| panic!("{e}"));
    let order: Vec<&str> = f.registry().iter().map(|p| p.id.as_str()).collect();
    assert_eq!(order, ["id", "inner", "wrap"]);
    OwnedRequest::get("/")
        .header("X-Test-Login", "alice")
        .with_view(|view| {
            let mut api = f.api(view);
            let id = api
                .authenticate()
                .cloned()
                .expect("wrapped authenticator accepts");
            assert_eq!(id.userid(), Some(&Value::from("alice")));
            assert!(id.get("wrapped_at").is_some());
        });
}

#[test]
fn repoze_dotted_names_and_builtins_resolve() {
    let ini = who_ini(
        "[general]\nrequest_classifier = repoze.who.classifiers:default_request_classifier\nchallenge_decider = repoze.who.classifiers:passthrough_challenge_decider\n",
    );
    let f = ApiFactory::from_config_file(&ini.path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        f.challenge_decider().name,
        "repoze.who.classifiers:passthrough_challenge_decider"
    );
    OwnedRequest::get("/").method("PROPFIND").with_view(|view| {
        assert_eq!(f.api(view).classification(), "dav");
    });
}

#[test]
fn a_panicking_factory_is_an_error_not_a_crash() {
    let e = error_of("[plugin:p]\nuse = testkit:panicky\nin_factory = true\n");
    assert!(
        e.contains("[plugin:p]") && e.contains("plugin panicked: panicky factory exploded"),
        "{e}"
    );
}

#[test]
fn a_panicking_plugin_fails_only_its_own_call_and_the_host_keeps_serving() {
    let ini = who_ini(
        "[plugin:boom]\nuse = testkit:panicky\n\n[plugin:id]\nuse = testkit:header_identifier\n\n[plugin:acc]\nuse = testkit:accept\nlogins = alice\n\n[plugin:chal]\nuse = testkit:marker_challenger\n\n[identifiers]\nplugins = boom id\n[authenticators]\nplugins = boom acc\n[challengers]\nplugins = boom chal\n",
    );
    let f = ApiFactory::from_config_file(&ini.path).unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..50 {
        OwnedRequest::get("/")
            .header("X-Test-Login", "alice")
            .with_view(|view| {
                let mut api = f.api(view);
                let id = api
                    .authenticate()
                    .cloned()
                    .expect("the healthy plugins still authenticate");
                assert_eq!(id.userid(), Some(&Value::from("alice")));
                assert_eq!(id.get_str("authenticator"), Some("acc"));
            });
        OwnedRequest::get("/").with_view(|view| {
            let mut api = f.api(view);
            let r = api
                .challenge(401, &[])
                .expect("the next challenger answers");
            assert_eq!(r.header("X-Challenger"), Some("chal"));
        });
    }
}

#[test]
fn a_third_party_plugin_dropped_into_a_folder_loads_from_who_ini() {
    let out = build_external(&workspace().join("examples/third-party-plugin"));
    let built = out.join("librewho_plugin_api_key.so");
    assert!(built.is_file(), "{}", built.display());
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    std::fs::copy(
        &built,
        dir.path().join("plugins/librewho_plugin_api_key.so"),
    )
    .unwrap();
    let path = dir.path().join("who.ini");
    std::fs::write(
        &path,
        "[general]\nplugin_path = %(here)s/plugins\n\n[plugin:keys]\nuse = api_key\nkeys = alice:k-1 bob:k-2\n\n[identifiers]\nplugins = keys\n[authenticators]\nplugins = keys\n",
    )
    .unwrap();
    let f = ApiFactory::from_config_file(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(f
        .registry()
        .get("keys")
        .unwrap()
        .library
        .path()
        .starts_with(dir.path().canonicalize().unwrap()));
    OwnedRequest::get("/")
        .header("X-Api-Key", "k-2")
        .with_view(|view| {
            let mut api = f.api(view);
            assert_eq!(
                api.authenticate().and_then(|i| i.userid().cloned()),
                Some(Value::from("bob"))
            );
        });
    OwnedRequest::get("/")
        .header("X-Api-Key", "k-3")
        .with_view(|view| {
            assert!(f.api(view).authenticate().is_none());
        });
}

#[test]
fn config_errors_pass_through_with_file_line_and_section() {
    let ini = who_ini("[plugin:a]\nuse = testkit:accept\nlogins = a\nlogins = b\n");
    match ApiFactory::from_config_file(&ini.path) {
        Err(FactoryError::Config(e)) => {
            let s = e.to_string();
            assert!(s.contains("who.ini:4") && s.contains("[plugin:a]"), "{s}");
        }
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn a_plugin_needing_a_newer_host_is_refused_naming_the_capability() {
    let e = error_of("[plugin:f]\nuse = testkit:needs_future\n");
    assert!(
        e.contains("requires the host capability `host.teleport`"),
        "the refusal names what the plugin needs: {e}"
    );
    assert!(e.contains("[plugin:f]"), "and the section: {e}");
}
