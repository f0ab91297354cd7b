//! The `rules` plugin loaded by the real host from its `.so`: good rules load (the rules are
//! compiled when the plugin is built), a bad rule stops the factory with the who.ini line of
//! the option and the rule's own line in it, and `rules_file` errors name the file and line.
//!
//! Needs `cargo build --workspace` (the plugin `.so` files).

mod common;

use rewho::ApiFactory;

fn factory_error(text: &str) -> (String, common::WhoIni) {
    common::plugin_so("rules");
    let ini = common::who_ini(text);
    match ApiFactory::from_config_file(&ini.path) {
        Ok(_) => panic!("built, expected an error"),
        Err(e) => (e.to_string(), ini),
    }
}

#[test]
fn good_rules_load_and_bad_ones_name_their_line() {
    let good =
        "[plugin:rules]\nuse = rules\nrules =\n    /public/** anyone\n    /** authenticated\n";
    let ini = common::who_ini(good);
    common::plugin_so("rules");
    ApiFactory::from_config_file(&ini.path).unwrap_or_else(|e| panic!("{e}"));

    // Line 4 holds `rules =`; the bad rule is the option's third line (who.ini line 6).
    let (e, _ini) = factory_error(
        "[general]\n\n[plugin:rules]\nrules =\n    /public/** anyone\n    /admin/** admins\nuse = rules\n",
    );
    // The host names the line of `rules =`; the plugin, the line within the value.
    assert!(e.contains("who.ini:4:"), "{e}");
    assert!(e.contains("[plugin:rules]"), "{e}");
    assert!(
        e.contains(
            "option `rules`: rule 2 (line 3 of the option): unknown requirement `admins`; \
             did you mean `user:admins` or `group:admins`?"
        ),
        "{e}"
    );
}

#[test]
fn rules_file_errors_name_the_file_and_line() {
    common::plugin_so("rules");
    let ini = common::who_ini("[plugin:rules]\nuse = rules\nrules_file = %(here)s/app.rules\n");
    std::fs::write(
        ini.dir.path().join("app.rules"),
        "# app rules\n/public/** anyone\n\nGET,head /x anyone\n",
    )
    .unwrap();
    let e = match ApiFactory::from_config_file(&ini.path) {
        Ok(_) => panic!("built, expected an error"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains(&format!(
            "option `rules_file`: {}:4: rule 2: `GET,head` is not a method list",
            ini.dir.path().join("app.rules").display()
        )),
        "{e}"
    );
    std::fs::write(ini.dir.path().join("app.rules"), "/public/** anyone\n").unwrap();
    ApiFactory::from_config_file(&ini.path).unwrap_or_else(|e| panic!("{e}"));
}
