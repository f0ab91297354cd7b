//! who.ini: read it exactly as repoze.who does, and turn it into a typed [`Config`].
//!
//! repoze.who reads its config with Python's `configparser.ConfigParser(defaults={'here':
//! ...})`, so a who.ini means whatever that parser makes of it: `%(name)s` / `%%`
//! interpolation, `=` or `:`, `#`/`;` comment lines, values continued on deeper-indented lines,
//! blank lines kept inside such values, lowercased keys, duplicates rejected. This module
//! has two layers:
//!
//! 1. [`parse_ini`] → [`IniDocument`]: a port of `ConfigParser._read` and
//!    `BasicInterpolation` that keeps the line of every section, option and value line.
//!    `host/tests/config_python.rs` runs the real Python side by side on the same files.
//! 2. [`Config`]: the repoze.who sections (`[general]`, `[plugin:ID]`, `[identifiers]`,
//!    `[authenticators]`, `[challengers]`, `[mdproviders]`) as typed values with lines, for
//!    the loader. It checks syntax only; whether a named plugin exists is the loader's call.
//!
//! # Why not rust-ini
//!
//! DESIGN.md chose rust-ini; this module replaces it with a few hundred lines of its own because
//! rust-ini (a) records no line numbers, so it cannot say *where* a config is wrong, and
//! (b) follows its own rules, not ConfigParser's: different continuation-line and blank-line
//! handling, no `%` interpolation, no duplicate-option rejection, inline comments. A who.ini
//! that repoze.who accepts must mean the same here, and a wrong one must be refused with
//! `file:line: in section [name]: problem` — both need the parser to be ConfigParser.
//!
//! # Where we differ from repoze.who, on purpose
//!
//! - Defaults: the host passes `here` (the file's absolute folder) *and* `__file__` (its
//!   absolute path), as PasteDeploy's `global_conf` has them; repoze.who forwards only `here`.
//!   A `%` in them is taken literally (Python would try to interpolate it).
//! - Plugin options are the section's *own* options minus `use` and `here`. repoze.who passes
//!   `items()`, i.e. also every other `[DEFAULT]` option, to every plugin factory, which
//!   breaks any factory that does not accept them. The options rewho itself reads (`use`,
//!   the `[general]` keys, a chain's `plugins`) are still inherited from `[DEFAULT]`.
//! - Every value of a section we read is interpolated, as `items()` does, so a bad `%` in
//!   `[DEFAULT]` fails the load as it does in repoze.who; sections repoze.who ignores
//!   (any other name) are kept unread and never fail.
//! - repoze.who skips a `[plugin:ID]` without `use`, accepts `a;b;c` (then crashes) and
//!   `;browser`; rewho refuses each with the line.

mod error;
mod ini;
mod redact;

use std::path::{Path, PathBuf};

pub use error::{ConfigError, ConfigErrorKind};
pub use ini::{parse_ini, IniDocument, IniEntry, IniSection, DEFAULT_SECTION};

use ini::{py_isspace, py_split};

/// A who.ini, checked and typed: what the loader builds plugins and chains from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The config file, absolute.
    pub file: PathBuf,
    /// The file's folder, absolute: the base of relative paths such as `plugin_path`.
    /// (This is always the real folder, even if the file overrides `here` in `[DEFAULT]`.)
    pub here: PathBuf,
    /// The `[general]` section.
    pub general: General,
    /// Every `[plugin:ID]` section, in file order, named in a chain or not.
    pub plugins: Vec<PluginSection>,
    /// `[identifiers] plugins = ...`, in order.
    pub identifiers: Vec<ChainEntry>,
    /// `[authenticators] plugins = ...`, in order.
    pub authenticators: Vec<ChainEntry>,
    /// `[challengers] plugins = ...`, in order.
    pub challengers: Vec<ChainEntry>,
    /// `[mdproviders] plugins = ...`, in order.
    pub mdproviders: Vec<ChainEntry>,
    /// `[authorizers] plugins = ...`, in order; `None` when the file has no such section
    /// (then nothing is authorized: today's behaviour), `Some` (even empty) fails closed.
    pub authorizers: Option<Vec<ChainEntry>>,
    /// Every section of the file with its header line, in file order, including sections
    /// rewho ignores (so the loader can warn about, say, a misspelt `[identifier]`).
    pub section_lines: Vec<(String, usize)>,
}

/// One `[plugin:ID]` section: which plugin to build and the options to build it with.
/// `Debug` hides the values of secret options (`secret`, `password`, `…_key`, `…token…`).
#[derive(Clone, PartialEq, Eq)]
pub struct PluginSection {
    /// The ID after `plugin:`; chains refer to the plugin by it.
    pub id: String,
    /// The line of the `[plugin:ID]` header.
    pub line: usize,
    /// The `use =` value: a short plugin name, a path to a library, `LIB:FACTORY` or a
    /// repoze.who dotted name (the loader resolves it).
    pub use_: Setting,
    /// The section's own options except `use` and `here`, keys lowercased, values
    /// interpolated, in file order.
    pub options: Vec<(String, String)>,
    /// The line of each entry of `options`, so an error about an option can point at it.
    pub option_lines: Vec<usize>,
}

impl std::fmt::Debug for PluginSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        struct Options<'a>(&'a [(String, String)]);
        impl std::fmt::Debug for Options<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut m = f.debug_map();
                for (k, v) in self.0 {
                    if redact::is_secret_option(k) {
                        m.entry(k, &redact::Hidden(v.len()));
                    } else if let Some(shown) = redact::hide_url_passwords(v) {
                        m.entry(k, &shown);
                    } else {
                        m.entry(k, v);
                    }
                }
                m.finish()
            }
        }
        f.debug_struct("PluginSection")
            .field("id", &self.id)
            .field("line", &self.line)
            .field("use_", &self.use_)
            .field("options", &Options(&self.options))
            .field("option_lines", &self.option_lines)
            .finish()
    }
}

/// An interpolated option value and the line it was set on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The value, interpolated.
    pub value: String,
    /// The line of `key = ...` (0 if inherited from a host default).
    pub line: usize,
}

/// One entry of a chain's `plugins =` list: `name` or `name;classifier`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainEntry {
    /// The plugin: a `[plugin:ID]` id or something the loader knows by name.
    pub name: String,
    /// The request classification this plugin is restricted to (`browser` in
    /// `form;browser`), if any.
    pub classifier: Option<String>,
    /// The line the entry is written on (its own line within a multi-line list).
    pub line: usize,
}

/// The `[general]` section; every field has its repoze.who default when the section or the
/// option is absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct General {
    /// `request_classifier =`: the plugin that classifies requests (None: the default one).
    pub request_classifier: Option<Setting>,
    /// `challenge_decider =`: the plugin that decides when to challenge (None: default).
    pub challenge_decider: Option<Setting>,
    /// `remote_user_key =`: where the authenticated user id goes; `REMOTE_USER` by default.
    pub remote_user_key: String,
    /// `plugin_path =` (rewho's own): folders searched for plugin libraries, whitespace
    /// separated, relative ones resolved against [`Config::here`].
    pub plugin_path: Vec<PathBuf>,
    /// `trusted_proxies =` (rewho's own): addresses or CIDRs whose `X-Forwarded-*` headers
    /// are believed, separated by whitespace or commas, kept as written for the server to
    /// parse.
    pub trusted_proxies: Vec<String>,
    /// The line of the `[general]` header, if there is one.
    pub line: Option<usize>,
    /// Other own options of `[general]`, interpolated, in file order (kept, not refused, so
    /// that newer options do not break older hosts; the loader may warn).
    pub extra: Vec<(String, String)>,
}

impl Default for General {
    fn default() -> Self {
        General {
            request_classifier: None,
            challenge_decider: None,
            remote_user_key: "REMOTE_USER".to_owned(),
            plugin_path: Vec::new(),
            trusted_proxies: Vec::new(),
            line: None,
            extra: Vec::new(),
        }
    }
}

/// Reads `path` as UTF-8 (a leading BOM is skipped) and parses it with [`parse_ini`].
///
/// Fails with [`ConfigErrorKind::Io`] if the file cannot be read and
/// [`ConfigErrorKind::NotUtf8`] (with the line of the first bad byte) if it is not UTF-8.
pub fn read_ini(path: &Path) -> Result<IniDocument, ConfigError> {
    let bytes =
        std::fs::read(path).map_err(|e| ConfigError::new(path, 0, None, ConfigErrorKind::Io(e)))?;
    let text = decode(&bytes, path)?;
    parse_ini(text, path)
}

fn decode<'b>(bytes: &'b [u8], path: &Path) -> Result<&'b str, ConfigError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let before = &bytes[..e.valid_up_to()];
        // Universal newlines: count `\n`, and `\r` not followed by `\n`.
        let breaks = before
            .iter()
            .enumerate()
            .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && before.get(i + 1) != Some(&b'\n')))
            .count();
        ConfigError::new(path, breaks + 1, None, ConfigErrorKind::NotUtf8)
    })
}

const CHAINS: [&str; 5] = [
    "identifiers",
    "authenticators",
    "challengers",
    "mdproviders",
    "authorizers",
];

impl Config {
    /// Reads and checks the who.ini at `path` (see [`read_ini`] for how it is decoded).
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        Config::from_document(&read_ini(path)?)
    }

    /// Parses and checks who.ini text. `file` names the file in errors and gives `here`
    /// (its folder, made absolute against the current directory); it is not read.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        Config::from_document(&parse_ini(text, file)?)
    }

    /// Gives the repoze.who sections of an already parsed document their meaning. Sections
    /// are checked in file order, so the first problem in the file is the one reported.
    pub fn from_document(doc: &IniDocument) -> Result<Config, ConfigError> {
        let file = ini::absolute(&doc.file);
        let here = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut config = Config {
            file,
            here,
            general: General::default(),
            plugins: Vec::new(),
            identifiers: Vec::new(),
            authenticators: Vec::new(),
            challengers: Vec::new(),
            mdproviders: Vec::new(),
            authorizers: None,
            section_lines: doc
                .sections
                .iter()
                .map(|s| (s.name.clone(), s.line))
                .collect(),
        };
        for section in &doc.sections {
            let name = section.name.as_str();
            if let Some(id) = name.strip_prefix("plugin:") {
                let plugin = plugin_section(doc, section, id)?;
                config.plugins.push(plugin);
            } else if name == "general" {
                config.general = general_section(doc, section, &config.here)?;
            } else if CHAINS.contains(&name) {
                let entries = chain_section(doc, section)?;
                match name {
                    "identifiers" => config.identifiers = entries,
                    "authenticators" => config.authenticators = entries,
                    "challengers" => config.challengers = entries,
                    "authorizers" => config.authorizers = Some(entries),
                    _ => config.mdproviders = entries,
                }
            }
        }
        Ok(config)
    }

    /// The `[plugin:ID]` section for `id`, if the file has one.
    pub fn plugin(&self, id: &str) -> Option<&PluginSection> {
        self.plugins.iter().find(|p| p.id == id)
    }

    /// The header line of section `name` (e.g. `"identifiers"`, `"plugin:form"`), if any.
    pub fn section_line(&self, name: &str) -> Option<usize> {
        self.section_lines
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, line)| line)
    }
}

/// A section's values as `items()` gives them (interpolating everything, failing like
/// repoze.who on any bad value), looked up by key.
struct Values<'d> {
    doc: &'d IniDocument,
    section: &'d IniSection,
    items: Vec<(String, String)>,
}

impl<'d> Values<'d> {
    fn new(doc: &'d IniDocument, section: &'d IniSection) -> Result<Self, ConfigError> {
        Ok(Values {
            doc,
            section,
            items: doc.items(&section.name)?,
        })
    }

    fn value(&self, key: &str) -> Option<&str> {
        self.items
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// An option rewho reads (own or inherited), with its line.
    fn setting(&self, key: &str) -> Option<Setting> {
        let entry = self.doc.entry(&self.section.name, key)?;
        Some(Setting {
            value: self.value(key)?.to_owned(),
            line: entry.line,
        })
    }

    /// Like [`Values::setting`], refusing an empty value.
    fn non_empty(&self, key: &str) -> Result<Option<Setting>, ConfigError> {
        match self.setting(key) {
            Some(s) if py_split(&s.value).next().is_none() => Err(self.error(
                s.line,
                ConfigErrorKind::EmptyValue {
                    option: key.to_owned(),
                },
            )),
            other => Ok(other),
        }
    }

    /// The section's own options (not `[DEFAULT]`'s), interpolated, with lines.
    fn own(&self) -> impl Iterator<Item = (&'d str, String, usize)> + '_ {
        self.section.entries.iter().map(move |e| {
            let v = self.value(&e.key).unwrap_or_default().to_owned();
            (e.key.as_str(), v, e.line)
        })
    }

    fn error(&self, line: usize, kind: ConfigErrorKind) -> ConfigError {
        ConfigError::new(&self.doc.file, line, Some(&self.section.name), kind)
    }
}

fn plugin_section(
    doc: &IniDocument,
    section: &IniSection,
    id: &str,
) -> Result<PluginSection, ConfigError> {
    let values = Values::new(doc, section)?;
    if id.is_empty() {
        return Err(values.error(section.line, ConfigErrorKind::EmptyPluginId));
    }
    let use_ = values
        .non_empty("use")?
        .ok_or_else(|| values.error(section.line, ConfigErrorKind::MissingUse))?;
    let (options, option_lines) = values
        .own()
        .filter(|(k, _, _)| *k != "use" && *k != "here")
        .map(|(k, v, line)| ((k.to_owned(), v), line))
        .unzip();
    Ok(PluginSection {
        id: id.to_owned(),
        line: section.line,
        use_,
        options,
        option_lines,
    })
}

fn general_section(
    doc: &IniDocument,
    section: &IniSection,
    here: &Path,
) -> Result<General, ConfigError> {
    const KNOWN: [&str; 5] = [
        "request_classifier",
        "challenge_decider",
        "remote_user_key",
        "plugin_path",
        "trusted_proxies",
    ];
    let values = Values::new(doc, section)?;
    let mut general = General {
        request_classifier: values.non_empty("request_classifier")?,
        challenge_decider: values.non_empty("challenge_decider")?,
        line: Some(section.line),
        ..General::default()
    };
    if let Some(s) = values.non_empty("remote_user_key")? {
        general.remote_user_key = s.value;
    }
    if let Some(v) = values.value("plugin_path") {
        general.plugin_path = py_split(v).map(|p| here.join(p)).collect();
    }
    if let Some(v) = values.value("trusted_proxies") {
        general.trusted_proxies = v
            .split(|c| c == ',' || py_isspace(c))
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
    }
    general.extra = values
        .own()
        .filter(|(k, _, _)| !KNOWN.contains(k))
        .map(|(k, v, _)| (k.to_owned(), v))
        .collect();
    Ok(general)
}

fn chain_section(doc: &IniDocument, section: &IniSection) -> Result<Vec<ChainEntry>, ConfigError> {
    let values = Values::new(doc, section)?;
    let (Some(entry), Some(value)) = (doc.entry(&section.name, "plugins"), values.value("plugins"))
    else {
        return Err(values.error(section.line, ConfigErrorKind::MissingChainPlugins));
    };
    let mut entries = Vec::new();
    for (token, line) in tokens_with_lines(doc, &section.name, entry, value) {
        let mut parts = token.split(';');
        let (name, classifier) = match (parts.next(), parts.next(), parts.next()) {
            (Some(name), None, _) => (name, None),
            (Some(name), Some(classifier), None) => (name, Some(classifier)),
            _ => {
                return Err(values.error(
                    line,
                    ConfigErrorKind::ChainEntryTooManySemicolons {
                        entry: token.to_owned(),
                    },
                ))
            }
        };
        if name.is_empty() {
            return Err(values.error(
                line,
                ConfigErrorKind::EmptyChainPluginName {
                    entry: token.to_owned(),
                },
            ));
        }
        if classifier == Some("") {
            return Err(values.error(
                line,
                ConfigErrorKind::EmptyClassifier {
                    entry: token.to_owned(),
                },
            ));
        }
        entries.push(ChainEntry {
            name: name.to_owned(),
            classifier: classifier.map(str::to_owned),
            line,
        });
    }
    Ok(entries)
}

/// Splits a list value like Python's `str.split()` and gives each token the line it is
/// written on. The tokens always come from the interpolated `value`; the lines come from
/// interpolating each line of the raw value alone, which gives the same tokens unless a
/// reference expands to several lines, in which case every token gets the option's line.
fn tokens_with_lines<'v>(
    doc: &IniDocument,
    section: &str,
    entry: &IniEntry,
    value: &'v str,
) -> Vec<(&'v str, usize)> {
    let tokens: Vec<&str> = py_split(value).collect();
    let mut lines = Vec::with_capacity(tokens.len());
    for (piece, &line) in entry.raw_value.split('\n').zip(&entry.value_lines) {
        let Some(text) = doc.interpolate_text(section, piece) else {
            break;
        };
        for t in py_split(&text) {
            lines.push((t.to_owned(), line));
        }
    }
    let matches =
        lines.len() == tokens.len() && lines.iter().zip(&tokens).all(|((a, _), b)| a == b);
    tokens
        .iter()
        .enumerate()
        .map(|(i, &t)| (t, if matches { lines[i].1 } else { entry.line }))
        .collect()
}

#[cfg(test)]
mod tests;
