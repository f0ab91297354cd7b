//! rewho's who.ini parser side by side with the real Python `configparser`.
//!
//! Each case is written to a temp file and read twice: by `tests/python/configparser_dump.py`
//! (a `ConfigParser` set up as repoze.who sets it up) and by `rewho::config::read_ini`. Both
//! must accept the same files with the same sections, keys, interpolated values and `items()`
//! order, and reject the same files with the same exception class and line.
//!
//! Python is found through `REWHO_PYTHON`, else `<workspace>/.venv/bin/python`, else
//! `python3`; only its standard library is used. Without a Python the test fails: a silent
//! skip would let the parsers drift apart.

use std::path::{Path, PathBuf};
use std::process::Command;

use rewho::config::{read_ini, Config, ConfigError, ConfigErrorKind, IniDocument};
use serde_json::Value;

/// What one side made of a file.
#[derive(Debug, PartialEq)]
enum Outcome {
    Ok {
        defaults: Vec<(String, String)>,
        /// Own keys of each section, interpolated, in file order.
        sections: Vec<(String, Vec<(String, String)>)>,
        /// `items()` of each section.
        items: Vec<(String, Vec<(String, String)>)>,
    },
    Err(Failure),
}

#[derive(Debug, PartialEq)]
struct Failure {
    class: String,
    line: Option<usize>,
    section: Option<String>,
    option: Option<String>,
}

fn workspace() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("REWHO_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = workspace().join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

fn python_dump(python: &Path, file: &Path) -> Outcome {
    let script = workspace().join("tests/python/configparser_dump.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(file)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run Python `{}` ({e}). This test compares rewho's who.ini parser with \
                 Python's configparser and needs a Python 3 (standard library only): set \
                 REWHO_PYTHON=/path/to/python3, or create <workspace>/.venv, or put python3 \
                 on PATH.",
                python.display()
            )
        });
    assert!(
        out.status.success(),
        "{} {} failed: {}",
        python.display(),
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bad JSON from the Python script ({e}): {out:?}"));
    let s = |v: &Value| v.as_str().map(str::to_owned);
    if json["ok"] == Value::Bool(true) {
        let pairs = |v: &Value| -> Vec<(String, String)> {
            v.as_array()
                .into_iter()
                .flatten()
                .map(|p| (s(&p[0]).unwrap_or_default(), s(&p[1]).unwrap_or_default()))
                .collect()
        };
        let order: Vec<String> = json["section_order"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(s)
            .collect();
        let sections = order
            .iter()
            .map(|name| {
                let own = json["option_order"][name]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(s)
                    .map(|k| {
                        let v = s(&json["sections"][name][&k]).unwrap_or_default();
                        (k, v)
                    })
                    .collect();
                (name.clone(), own)
            })
            .collect();
        let items = order
            .iter()
            .map(|name| (name.clone(), pairs(&json["items"][name])))
            .collect();
        Outcome::Ok {
            defaults: pairs(&json["defaults"]),
            sections,
            items,
        }
    } else {
        Outcome::Err(Failure {
            class: s(&json["error"]).unwrap_or_default(),
            line: json["line"].as_u64().map(|l| l as usize),
            section: s(&json["section"]),
            option: s(&json["option"]),
        })
    }
}

/// The Python exception a rewho error stands for, with the option it names.
fn python_class(e: &ConfigError) -> (String, Option<String>) {
    let (class, option) = match &e.kind {
        ConfigErrorKind::NotUtf8 => ("UnicodeDecodeError", None),
        ConfigErrorKind::MissingSectionHeader { .. } => ("MissingSectionHeaderError", None),
        ConfigErrorKind::DuplicateSection { .. } => ("DuplicateSectionError", None),
        ConfigErrorKind::DuplicateOption { option, .. } => ("DuplicateOptionError", Some(option)),
        ConfigErrorKind::InvalidLine { .. } | ConfigErrorKind::EmptyOptionName { .. } => {
            ("ParsingError", None)
        }
        ConfigErrorKind::InterpolationSyntax { option, .. } => {
            ("InterpolationSyntaxError", Some(option))
        }
        ConfigErrorKind::InterpolationMissingOption { option, .. } => {
            ("InterpolationMissingOptionError", Some(option))
        }
        ConfigErrorKind::InterpolationDepth { option, .. } => {
            ("InterpolationDepthError", Some(option))
        }
        other => return (format!("rewho-only {other:?}"), None),
    };
    (class.to_owned(), option.cloned())
}

fn rust_dump(file: &Path) -> Outcome {
    match rust_read(file) {
        Ok(outcome) => outcome,
        Err(e) => {
            let (class, option) = python_class(&e);
            Outcome::Err(Failure {
                class,
                line: Some(e.line),
                section: e.section.clone(),
                option,
            })
        }
    }
}

/// Reads values in the script's order, so the first interpolation error is the same one.
fn rust_read(file: &Path) -> Result<Outcome, ConfigError> {
    let doc: IniDocument = read_ini(file)?;
    let mut defaults = Vec::new();
    for entry in &doc.defaults {
        let value = doc.get("DEFAULT", &entry.key)?.unwrap_or_default();
        defaults.push((entry.key.clone(), value));
    }
    let mut sections = Vec::new();
    let mut items = Vec::new();
    for section in &doc.sections {
        items.push((section.name.clone(), doc.items(&section.name)?));
        let mut own = Vec::new();
        for entry in &section.entries {
            let value = doc.get(&section.name, &entry.key)?.unwrap_or_default();
            own.push((entry.key.clone(), value));
        }
        sections.push((section.name.clone(), own));
    }
    Ok(Outcome::Ok {
        defaults,
        sections,
        items,
    })
}

/// Python reports fewer details than rewho: compare the class always, and the line, section
/// and option wherever Python gives one.
fn same(python: &Outcome, rust: &Outcome) -> bool {
    match (python, rust) {
        (Outcome::Err(p), Outcome::Err(r)) => {
            p.class == r.class
                && (p.line.is_none() || p.line == r.line)
                && (p.section.is_none() || p.section == r.section)
                && (p.option.is_none() || p.option == r.option)
        }
        (p, r) => p == r,
    }
}

const WHO_INI: &str = "\
# repoze.who's sample who.ini, lightly extended.
[plugin:auth_tkt]
# identification and authentication
use = repoze.who.plugins.auth_tkt:make_plugin
secret = s33kr1t%%
cookie_name = oatmeal
secure = False
include_ip = False

[plugin:basicauth]
# identification and challenge
use = repoze.who.plugins.basicauth:make_plugin
realm = 'sample'

[plugin:htpasswd]
# authentication
use = repoze.who.plugins.htpasswd:make_plugin
filename = %(here)s/passwd
check_fn = repoze.who.plugins.htpasswd:crypt_check

[plugin:redirector]
# challenge
use = repoze.who.plugins.redirector:make_plugin
login_url = /login.html

[general]
request_classifier = repoze.who.classifiers:default_request_classifier
challenge_decider = repoze.who.classifiers:default_challenge_decider
remote_user_key = REMOTE_USER

[identifiers]
# plugin_name;classifier_name:.. or just plugin_name (good for any)
plugins =
      auth_tkt
      basicauth

[authenticators]
# plugin_name;classifier_name.. or just plugin_name (good for any)
plugins =
      auth_tkt
      htpasswd

[challengers]
# plugin_name;classifier_name:.. or just plugin_name (good for any)
plugins =
      redirector;browser
      basicauth

[mdproviders]
plugins =
";

fn cases() -> Vec<(&'static str, Vec<u8>)> {
    let t = |s: &str| s.as_bytes().to_vec();
    let mut deep = String::from("[s]\n");
    for i in 0..10 {
        deep.push_str(&format!("k{i} = <%(k{})s>\n", i + 1));
    }
    deep.push_str("k10 = %(end)s\nend = .\n");
    let deep_ok = deep.replace("k0 = <%(k1)s>\n", "");
    vec![
        ("who_ini", t(WHO_INI)),
        ("basic", t("[a]\nx = 1\ny: 2\n[b]\nz=3\n")),
        (
            "first_delimiter_wins",
            t("[s]\na:b=c\nd=e:f\ng = h = i\nurl = http://x/?a=b\n"),
        ),
        ("uppercase_keys", t("[S]\nKey = V\nMiXeD Case KEY : v2\n")),
        ("empty_values", t("[s]\nempty =\ncolon:\nspaces =    \n")),
        (
            "comments",
            t("# top\n; top\n[s]\n  # indented\n\t; tab\nx = 1 # kept\ny = 2 ; kept\n#last"),
        ),
        (
            "continuations_and_blank_lines",
            t("[s]\nx = one\n  two\n\n\n  three\n\n\ny = 2\n   more\n\n"),
        ),
        (
            "comments_inside_values",
            t("[s]\nx = a\n  # not part\n  b\n  ; nor this\n\n  c\n# end\n  d\n"),
        ),
        (
            "empty_first_line",
            t("[s]\nplugins =\n    a\n    b;browser\n"),
        ),
        ("tabs", t("[s]\n\tx = 1\n  y = 2\n\t z\n\tw = 3\n")),
        (
            "indented_options",
            t("[s]\n  x = 1\n y = 2\n    z\n"),
        ),
        ("deeper_header_is_value", t("[s]\nx = 1\n  [t]\ny = 2\n")),
        ("crlf", t("[s]\r\nx = 1\r\n  2\r\n\r\ny = %(x)s\r\n")),
        ("lone_cr", t("[s]\rx = 1\r  2\r\ry = 3")),
        (
            "bom_and_unicode",
            t("\u{feff}[plugin:héllo]\nuse = ünïcode\nΣΑΣ = ΣΑΣ\nCafé = naïve ☃\n"),
        ),
        (
            "python_whitespace",
            t("[s]\nx\u{0b}= \u{3000}1\u{1c}\n\u{1f}2\n\u{a0}\u{a0}3\ny\u{2003}:\u{85}4\n"),
        ),
        (
            "percent_and_here",
            t("[s]\npct = 100%%\nf = %(here)s/x %(__file__)s\nboth = %%(here)s\n"),
        ),
        (
            "default_interpolation",
            t("[DEFAULT]\nbase = %(name)s-base\nname = dflt\n[a]\nname = mine\nv = %(BASE)s\n[b]\nv = %(base)s\n"),
        ),
        (
            "here_overrides",
            t("[DEFAULT]\nhere = /elsewhere\n[a]\nhere = /mine\nv = %(here)s\n[b]\nv = %(here)s\n"),
        ),
        ("default_twice", t("[DEFAULT]\na = 1\n[s]\nb = %(c)s\n[DEFAULT]\nc = 3\n")),
        (
            "header_quirks",
            t("[a] trailing\nx = 1\n[b]c]\ny = 2\n[ spaced ]\nz = 3\n"),
        ),
        (
            "items_order",
            t("[DEFAULT]\nb = 1\nd = 2\n[s]\nz = 3\nd = 4\na = 5\n"),
        ),
        ("depth_ten_ok", t(&deep_ok)),
        ("empty_file", t("")),
        ("only_comments", t("# nothing\n\n; here\n")),
        ("key_with_percent_and_space", t("[s]\na%b c = 1\nd = %(A%B C)s\n")),
        // Errors.
        ("err_missing_header", t("# c\n\nx = 1\n[s]\n")),
        ("err_empty_brackets", t("[]\nx = 1\n")),
        ("err_duplicate_section", t("[a]\nx = 1\n[b]\n[a]\n")),
        ("err_duplicate_option", t("[s]\nsecret = a\n\nSecret = b\n")),
        (
            "err_duplicate_default_option",
            t("[DEFAULT]\nx = 1\n[s]\n[DEFAULT]\nX = 2\n"),
        ),
        ("err_duplicate_here", t("[DEFAULT]\nhere = a\nhere = b\n")),
        ("err_invalid_line", t("[s]\nx = 1\njunk\nmore junk\n")),
        ("err_invalid_then_duplicate", t("[s]\njunk\n[t]\n[s]\n")),
        ("err_empty_option_name", t("[s]\n = value\n")),
        ("err_empty_option_name_twice", t("[s]\n= a\njunk\n: b\n")),
        ("err_indented_after_header", t("[s]\n  stray\n")),
        ("err_valueless", t("[s]\nflag\n")),
        ("err_lone_percent", t("[s]\nok = 1\nbad = 50%\n")),
        ("err_percent_other", t("[s]\nbad = 50%d\n")),
        ("err_unclosed_reference", t("[s]\nbad = %(x\n")),
        ("err_reference_without_s", t("[s]\nx = 1\nbad = %(x)d\n")),
        ("err_missing_reference", t("[s]\nv = %(nope)s\n")),
        ("err_depth", t(&deep)),
        ("err_cycle", t("[s]\na = %(b)s\nb = %(a)s\n")),
        ("err_bad_default", t("[DEFAULT]\npct = 50%\n[s]\n")),
        (
            "err_default_needs_section_key",
            t("[DEFAULT]\nv = %(x)s\n[a]\nx = 1\n[b]\n"),
        ),
        ("err_not_utf8", b"[s]\r\nx = 1\r\ny = caf\xe9\n".to_vec()),
    ]
}

#[test]
fn rust_parser_reads_like_python_configparser() {
    let python = python();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let mut failures = Vec::new();
    let cases = cases();
    assert!(cases.len() >= 30);
    for (name, bytes) in &cases {
        let file = dir.path().join(format!("{name}.ini"));
        std::fs::write(&file, bytes).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
        let py = python_dump(&python, &file);
        let rs = rust_dump(&file);
        let expect_error = name.starts_with("err_");
        if !same(&py, &rs) {
            failures.push(format!(
                "case {name}:\n  file: {:?}\n  python: {py:?}\n  rust:   {rs:?}",
                String::from_utf8_lossy(bytes)
            ));
        } else if expect_error != matches!(py, Outcome::Err(_)) {
            failures.push(format!(
                "case {name}: both sides agree, but the case expects {}: {py:?}",
                if expect_error { "an error" } else { "success" }
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from Python:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The typed config of the sample who.ini gives each plugin exactly the options repoze.who
/// builds it with (its `items()` minus `use` and `here`; the sample has no other defaults).
#[test]
fn typed_config_plugin_options_match_what_repoze_who_passes() {
    let python = python();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let file = dir.path().join("who.ini");
    std::fs::write(&file, WHO_INI).unwrap_or_else(|e| panic!("write: {e}"));
    let Outcome::Ok { items, .. } = python_dump(&python, &file) else {
        panic!("Python rejected the sample who.ini");
    };
    let config = Config::from_file(&file).unwrap_or_else(|e| panic!("{e}"));
    let mut plugins_seen = 0;
    for (section, pairs) in items {
        let Some(id) = section.strip_prefix("plugin:") else {
            continue;
        };
        plugins_seen += 1;
        let plugin = config
            .plugin(id)
            .unwrap_or_else(|| panic!("no plugin {id}"));
        let expected: Vec<(String, String)> = pairs
            .iter()
            .filter(|(k, _)| k != "use" && k != "here" && k != "__file__")
            .cloned()
            .collect();
        assert_eq!(plugin.options, expected, "options of [{section}]");
        let use_ = pairs.iter().find(|(k, _)| k == "use").map(|(_, v)| v);
        assert_eq!(Some(&plugin.use_.value), use_, "use of [{section}]");
    }
    assert_eq!(plugins_seen, 4);
    let names = |chain: &[rewho::config::ChainEntry]| -> Vec<String> {
        chain
            .iter()
            .map(|e| match &e.classifier {
                Some(c) => format!("{};{c}@{}", e.name, e.line),
                None => format!("{}@{}", e.name, e.line),
            })
            .collect()
    };
    assert_eq!(names(&config.identifiers), ["auth_tkt@34", "basicauth@35"]);
    assert_eq!(
        names(&config.authenticators),
        ["auth_tkt@40", "htpasswd@41"]
    );
    assert_eq!(
        names(&config.challengers),
        ["redirector;browser@46", "basicauth@47"]
    );
    assert!(config.mdproviders.is_empty());
}
