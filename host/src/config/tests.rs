use super::*;

const FILE: &str = "/etc/rewho/who.ini";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new(FILE))
}

fn ok(text: &str) -> Config {
    match parse(text) {
        Ok(c) => c,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn err(text: &str) -> ConfigError {
    match parse(text) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e,
    }
}

fn entry(name: &str, classifier: Option<&str>, line: usize) -> ChainEntry {
    ChainEntry {
        name: name.to_owned(),
        classifier: classifier.map(str::to_owned),
        line,
    }
}

const WHO_INI: &str = "\
# A typical repoze.who config.
[plugin:auth_tkt]
use = repoze.who.plugins.auth_tkt:make_plugin
secret = s3cr3t%%
cookie_name = oatmeal
Secure = False

[plugin:basicauth]
use = basicauth
realm = 'sample'

[plugin:htpasswd]
use = htpasswd
filename = %(here)s/passwd
check_fn = repoze.who.plugins.htpasswd:crypt_check

[plugin:redirector]
use = redirector
login_url = /login

[general]
request_classifier = repoze.who.classifiers:default_request_classifier
challenge_decider = repoze.who.classifiers:default_challenge_decider
remote_user_key = HTTP_X_USER
plugin_path = plugins /opt/rewho/plugins
trusted_proxies = 10.0.0.0/8, 192.168.1.1
  ::1
log_level = debug

[identifiers]
# plugin_name;classifier_name:.. or just plugin_name (good for any)
plugins =
      auth_tkt
      basicauth

[authenticators]
plugins = auth_tkt htpasswd

[challengers]
plugins =
    redirector;browser
    basicauth

[mdproviders]
plugins =

[something_else]
ignored = %(broken
";

#[test]
fn realistic_who_ini() {
    let c = ok(WHO_INI);
    assert_eq!(c.file, Path::new(FILE));
    assert_eq!(c.here, Path::new("/etc/rewho"));
    let ids: Vec<_> = c.plugins.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["auth_tkt", "basicauth", "htpasswd", "redirector"]);

    let tkt = c.plugin("auth_tkt").cloned();
    assert_eq!(
        tkt,
        Some(PluginSection {
            id: "auth_tkt".into(),
            line: 2,
            use_: Setting {
                value: "repoze.who.plugins.auth_tkt:make_plugin".into(),
                line: 3
            },
            options: vec![
                ("secret".into(), "s3cr3t%".into()),
                ("cookie_name".into(), "oatmeal".into()),
                ("secure".into(), "False".into()),
            ],
            option_lines: vec![4, 5, 6],
        })
    );
    let htpasswd = c.plugin("htpasswd").map(|p| p.options.clone());
    assert_eq!(
        htpasswd,
        Some(vec![
            ("filename".into(), "/etc/rewho/passwd".into()),
            (
                "check_fn".into(),
                "repoze.who.plugins.htpasswd:crypt_check".into()
            ),
        ])
    );

    let g = &c.general;
    assert_eq!(
        g.request_classifier,
        Some(Setting {
            value: "repoze.who.classifiers:default_request_classifier".into(),
            line: 22
        })
    );
    assert_eq!(g.challenge_decider.as_ref().map(|s| s.line), Some(23));
    assert_eq!(g.remote_user_key, "HTTP_X_USER");
    assert_eq!(
        g.plugin_path,
        [
            PathBuf::from("/etc/rewho/plugins"),
            PathBuf::from("/opt/rewho/plugins")
        ]
    );
    assert_eq!(g.trusted_proxies, ["10.0.0.0/8", "192.168.1.1", "::1"]);
    assert_eq!(g.line, Some(21));
    assert_eq!(g.extra, [("log_level".to_owned(), "debug".to_owned())]);

    assert_eq!(
        c.identifiers,
        [entry("auth_tkt", None, 33), entry("basicauth", None, 34)]
    );
    assert_eq!(
        c.authenticators,
        [entry("auth_tkt", None, 37), entry("htpasswd", None, 37)]
    );
    assert_eq!(
        c.challengers,
        [
            entry("redirector", Some("browser"), 41),
            entry("basicauth", None, 42)
        ]
    );
    assert_eq!(c.mdproviders, []);
    assert_eq!(c.section_line("something_else"), Some(47));
    assert_eq!(c.section_line("nope"), None);
}

#[test]
fn defaults_when_sections_are_absent() {
    let c = ok("");
    assert_eq!(c.general, General::default());
    assert_eq!(c.general.remote_user_key, "REMOTE_USER");
    assert!(c.plugins.is_empty() && c.identifiers.is_empty());
}

#[test]
fn relative_file_is_made_absolute() {
    let c = match Config::parse("", Path::new("conf/who.ini")) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    assert!(c.file.is_absolute());
    assert!(c.here.is_absolute() && c.here.ends_with("conf"));
}

#[test]
fn plugin_options_exclude_defaults_use_and_here() {
    let c = ok("[DEFAULT]\nshared = x\n[plugin:a]\nuse = a\nhere = /elsewhere\nopt = %(shared)s\n");
    let p = c.plugin("a").cloned();
    assert_eq!(p.map(|p| p.options), Some(vec![("opt".into(), "x".into())]));
}

#[test]
fn use_and_chain_plugins_may_come_from_default() {
    let c = ok("[DEFAULT]\nuse = shared\nplugins = a b\n[plugin:x]\n[identifiers]\n");
    assert_eq!(
        c.plugin("x").map(|p| p.use_.clone()),
        Some(Setting {
            value: "shared".into(),
            line: 2
        })
    );
    assert_eq!(c.identifiers, [entry("a", None, 3), entry("b", None, 3)]);
}

#[test]
fn missing_use_names_the_section() {
    let e = err("[general]\n\n[plugin:form]\nlogin_url = /login\n");
    assert!(matches!(e.kind, ConfigErrorKind::MissingUse));
    assert_eq!(
        e.to_string(),
        "/etc/rewho/who.ini:3: in section [plugin:form]: missing 'use = ...' (which plugin to build)"
    );
}

#[test]
fn empty_values_are_refused() {
    let e = err("[plugin:form]\nuse =\n");
    assert_eq!(
        e.to_string(),
        "/etc/rewho/who.ini:2: in section [plugin:form]: option 'use' is empty"
    );
    let e = err("[general]\nremote_user_key = \n");
    assert!(
        matches!(e.kind, ConfigErrorKind::EmptyValue { ref option } if option == "remote_user_key")
    );
    let e = err("[general]\nrequest_classifier=\n");
    assert_eq!(e.line, 2);
}

#[test]
fn empty_plugin_id() {
    let e = err("[plugin:]\nuse = x\n");
    assert!(matches!(e.kind, ConfigErrorKind::EmptyPluginId));
    assert_eq!(e.line, 1);
}

#[test]
fn chain_without_plugins() {
    let e = err("[identifiers]\nplugin = a\n");
    assert_eq!(
        e.to_string(),
        "/etc/rewho/who.ini:1: in section [identifiers]: missing 'plugins = ...' (the plugins of this chain)"
    );
}

#[test]
fn chain_entry_with_two_semicolons_points_at_its_own_line() {
    let e = err("[challengers]\nplugins =\n  form;browser\n\n  # note\n  basic;a;b\n");
    assert!(matches!(
        e.kind,
        ConfigErrorKind::ChainEntryTooManySemicolons { .. }
    ));
    assert_eq!(
        e.to_string(),
        "/etc/rewho/who.ini:6: in section [challengers]: chain entry \"basic;a;b\" has more than \
         one ';' (expected NAME or NAME;CLASSIFIER)"
    );
}

#[test]
fn chain_entry_without_name_or_classifier() {
    let e = err("[identifiers]\nplugins = a\n  ;browser\n   b ;browser\n");
    // `  ;browser` is a comment line; ` ;browser` after `b` is an entry with no name.
    assert!(
        matches!(e.kind, ConfigErrorKind::EmptyChainPluginName { ref entry } if entry == ";browser")
    );
    assert_eq!(e.line, 4);
    let e = err("[identifiers]\nplugins = a;\n");
    assert!(matches!(e.kind, ConfigErrorKind::EmptyClassifier { .. }));
    assert_eq!(e.line, 2);
}

#[test]
fn chain_entries_through_interpolation() {
    // Same tokens line by line: each keeps its own line.
    let c = ok("[DEFAULT]\nmine = x;browser\n[identifiers]\nplugins = a\n  %(mine)s\n");
    assert_eq!(
        c.identifiers,
        [entry("a", None, 4), entry("x", Some("browser"), 5)]
    );
    // A reference that expands to several lines: all tokens get the option's line.
    let c = ok("[DEFAULT]\nmine = x\n  y\n[identifiers]\nplugins = %(mine)s\n  z\n");
    assert_eq!(
        c.identifiers,
        [
            entry("x", None, 5),
            entry("y", None, 5),
            entry("z", None, 6)
        ]
    );
}

#[test]
fn unknown_plugin_names_in_chains_are_not_errors_here() {
    let c = ok("[identifiers]\nplugins = nowhere;browser\n");
    assert_eq!(c.identifiers, [entry("nowhere", Some("browser"), 2)]);
}

#[test]
fn bad_default_value_fails_a_section_that_is_read() {
    let e = err("[DEFAULT]\npct = 50%\n[plugin:a]\nuse = a\n");
    assert!(matches!(
        e.kind,
        ConfigErrorKind::InterpolationSyntax {
            inherited: true,
            ..
        }
    ));
    assert_eq!(e.line, 2);
    assert_eq!(e.section.as_deref(), Some("plugin:a"));
    // ...but not when only ignored sections exist.
    assert!(parse("[DEFAULT]\npct = 50%\n[other]\n").is_ok());
}

#[test]
fn parse_errors_pass_through_with_location() {
    let e = err("[general]\nremote_user_key = A\nremote_user_key = B\n");
    assert_eq!(
        e.to_string(),
        "/etc/rewho/who.ini:3: in section [general]: duplicate option 'remote_user_key' \
         (first at line 2)"
    );
}

#[test]
fn from_file_reads_utf8_with_bom_and_crlf() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let path = dir.path().join("who.ini");
    let text = "\u{feff}[plugin:é]\r\nuse = ünïcode\r\npath = %(here)s\r\n";
    if let Err(e) = std::fs::write(&path, text) {
        panic!("{e}");
    }
    let c = match Config::from_file(&path) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let p = c.plugin("é").cloned();
    assert_eq!(p.as_ref().map(|p| p.use_.value.as_str()), Some("ünïcode"));
    let here = dir.path().to_string_lossy().into_owned();
    assert_eq!(p.map(|p| p.options), Some(vec![("path".into(), here)]));
}

#[test]
fn from_file_errors_name_the_file() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let missing = dir.path().join("missing.ini");
    let e = match Config::from_file(&missing) {
        Ok(c) => panic!("{c:?}"),
        Err(e) => e,
    };
    assert!(matches!(e.kind, ConfigErrorKind::Io(_)));
    assert!(e
        .to_string()
        .starts_with(&format!("{}: cannot read the file: ", missing.display())));
    assert!(std::error::Error::source(&e).is_some());

    let latin1 = dir.path().join("latin1.ini");
    if let Err(e) = std::fs::write(&latin1, b"[s]\r\nx = 1\r\ny = caf\xe9\n") {
        panic!("{e}");
    }
    let e = match Config::from_file(&latin1) {
        Ok(c) => panic!("{c:?}"),
        Err(e) => e,
    };
    assert!(matches!(e.kind, ConfigErrorKind::NotUtf8));
    assert_eq!(
        e.to_string(),
        format!("{}:3: the file is not valid UTF-8", latin1.display())
    );
}

#[test]
fn every_error_display_names_file_line_and_section() {
    let cases = [
        (
            "[s]\n = v\n",
            "/etc/rewho/who.ini:2: in section [s]: option name missing before the '=' or ':' in \" = v\"",
        ),
        (
            "[plugin:]\nuse = x\n",
            "/etc/rewho/who.ini:1: in section [plugin:]: empty plugin id after 'plugin:'",
        ),
        (
            "[identifiers]\nplugins = a\n  ;comment\n   x ;browser\n",
            "/etc/rewho/who.ini:4: in section [identifiers]: chain entry \";browser\" has no \
             plugin name before the ';'",
        ),
        (
            "[mdproviders]\nplugins =\n  md;\n",
            "/etc/rewho/who.ini:3: in section [mdproviders]: chain entry \"md;\" has no \
             classifier after the ';'",
        ),
        (
            "[s]\nx = %(x)s\n[plugin:p]\nuse = u\nx = %(x)s\n",
            "/etc/rewho/who.ini:5: in section [plugin:p]: interpolation in option 'x' nests \
             deeper than 10 levels (a reference cycle?)",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(err(text).to_string(), expected, "for {text:?}");
    }
}
