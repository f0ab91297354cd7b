//! The INI layer: a port of Python's `configparser.ConfigParser._read` and
//! `BasicInterpolation`, with the default options (`=`/`:` delimiters, `#`/`;` full-line
//! comments, no inline comments, `strict=True`, `empty_lines_in_values=True`,
//! `allow_no_value=False`, `optionxform=str.lower`, default section `DEFAULT`).
//!
//! The loop in [`parse_ini`] follows `_read` statement by statement, including its quirks
//! (errors for bad lines are collected and only the first is reported at the end, while
//! duplicates and a missing section header stop the read at once; an empty option name is
//! stored and also reported). Whitespace is Python's `str.isspace()` set, indentation is
//! counted in characters, and lines end at `\n`, `\r\n` or a lone `\r` (Python's universal
//! newlines, which is how `open()` feeds the parser in repoze.who).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::error::{ConfigError, ConfigErrorKind};

/// The name of the section whose options every other section inherits.
pub const DEFAULT_SECTION: &str = "DEFAULT";

/// Python's `configparser.MAX_INTERPOLATION_DEPTH`.
const MAX_INTERPOLATION_DEPTH: usize = 10;
/// Largest interpolated value we build (Python has no limit and can be made to run forever).
const MAX_INTERPOLATED_LEN: usize = 1 << 20;
/// Most `%` escapes and references we expand for one value (same reason).
const MAX_INTERPOLATION_STEPS: usize = 100_000;

/// A parsed who.ini before any meaning is given to its sections: what Python's
/// `ConfigParser` holds after `read_file`, plus the line of everything.
///
/// Values are kept raw (un-interpolated), as Python keeps them; [`IniDocument::get`] and
/// [`IniDocument::items`] interpolate on demand, so an interpolation error surfaces only
/// for a value that is actually read, exactly as in Python.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniDocument {
    /// The file the text came from, as given (used in error messages).
    pub file: PathBuf,
    /// `[DEFAULT]` options, visible in every section: first the host's `here` and `__file__`
    /// (line 0; a `%` in them is stored as `%%` so they interpolate to the literal path),
    /// then the file's own `[DEFAULT]` options in file order. A file option named like a host
    /// default replaces it in place, as Python's dict update does.
    pub defaults: Vec<IniEntry>,
    /// The other sections, in file order (names are case-sensitive and not trimmed).
    pub sections: Vec<IniSection>,
}

/// One `[name]` section of an [`IniDocument`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniSection {
    /// The text between the brackets, exactly (Python does not trim or lowercase it).
    pub name: String,
    /// The 1-based line of the `[name]` header.
    pub line: usize,
    /// The section's own options, in file order.
    pub entries: Vec<IniEntry>,
}

/// One option of a section, with its raw value. `Debug` hides the value of a secret option
/// (`secret`, `password`, `…_key`, `…token…`).
#[derive(Clone, PartialEq, Eq)]
pub struct IniEntry {
    /// The option name, lowercased and trimmed (Python's `optionxform`).
    pub key: String,
    /// The value before interpolation: the first line's text after the delimiter and each
    /// continuation line, trimmed and joined with `\n`, trailing empty lines dropped.
    pub raw_value: String,
    /// The 1-based line of `key = ...` (0 for the host's defaults).
    pub line: usize,
    /// The line each `\n`-separated part of `raw_value` came from, so that an error in a
    /// multi-line value (one chain entry, say) can point at its own line.
    pub value_lines: Vec<usize>,
}

impl std::fmt::Debug for IniEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("IniEntry");
        d.field("key", &self.key);
        if super::redact::is_secret_option(&self.key) {
            d.field("raw_value", &super::redact::Hidden(self.raw_value.len()));
        } else if let Some(shown) = super::redact::hide_url_passwords(&self.raw_value) {
            d.field("raw_value", &shown);
        } else {
            d.field("raw_value", &self.raw_value);
        }
        d.field("line", &self.line)
            .field("value_lines", &self.value_lines)
            .finish()
    }
}

/// Parses who.ini text the way Python's `configparser.ConfigParser` does, with the host's
/// defaults `here` (the file's absolute folder) and `__file__` (its absolute path).
///
/// `file` names the file in errors and gives `here`; it is not read. A leading BOM is
/// skipped. Errors carry the same line Python reports. This never panics, whatever the
/// input, and runs in time linear in the input, so it is safe to fuzz.
pub fn parse_ini(text: &str, file: &Path) -> Result<IniDocument, ConfigError> {
    let abs = absolute(file);
    let here = abs.parent().map(Path::to_path_buf).unwrap_or_default();
    let host_defaults = [
        ("here", here.to_string_lossy().into_owned()),
        ("__file__", abs.to_string_lossy().into_owned()),
    ];
    Reader::new(file, &host_defaults).read(text)
}

/// `file` made absolute against the current directory, without touching the file system;
/// unchanged if that is impossible (no current directory).
pub(crate) fn absolute(file: &Path) -> PathBuf {
    std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf())
}

/// Python's `str.isspace()`; also what `\s` matches in its `re` patterns. It is Rust's
/// `char::is_whitespace` plus the four ASCII separators U+001C..U+001F.
pub(crate) fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()`.
fn py_strip(s: &str) -> &str {
    s.trim_matches(py_isspace)
}

/// Python's `str.split()` with no argument.
pub(crate) fn py_split(s: &str) -> impl Iterator<Item = &str> {
    s.split(py_isspace).filter(|t| !t.is_empty())
}

/// Splits like iterating over a file opened in text mode with universal newlines: lines end
/// at `\n`, `\r\n` or `\r`; the terminators are dropped.
fn universal_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match rest.find(['\n', '\r']) {
            None => Some(std::mem::take(&mut rest)),
            Some(i) => {
                let line = &rest[..i];
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
                Some(line)
            }
        }
    })
}

/// Python's `SECTCRE.match`: `\[(?P<header>.+)\]`, anchored at the start only, greedy, so the
/// header runs to the *last* `]` and anything after it is ignored.
fn section_header(value: &str) -> Option<&str> {
    let inner = value.strip_prefix('[')?;
    let end = inner.rfind(']')?;
    (end > 0).then(|| &inner[..end])
}

/// Python's `OPTCRE.match`: `(?P<option>.*?)\s*(?P<vi>=|:)\s*(?P<value>.*)$`, i.e. split at
/// the first `=` or `:`. Returns `(option, value)`, both trimmed.
fn option_line(value: &str) -> Option<(&str, &str)> {
    let at = value.find(['=', ':'])?;
    let option = value[..at].trim_end_matches(py_isspace);
    let rest = py_strip(&value[at + 1..]);
    Some((option, rest))
}

/// An option while its continuation lines are still being collected.
struct RawEntry {
    key: String,
    line: usize,
    pieces: Vec<(String, usize)>,
    /// Python's `elements_added` only knows options read from the file.
    from_file: bool,
}

impl RawEntry {
    fn finish(self) -> IniEntry {
        // `'\n'.join(pieces).rstrip()`: every piece is already stripped, so the rstrip only
        // drops trailing empty pieces (and must not touch a host default's value).
        let mut pieces = self.pieces;
        while pieces.len() > 1 && pieces.last().is_some_and(|(p, _)| p.is_empty()) {
            pieces.pop();
        }
        let raw_value = pieces
            .iter()
            .map(|(p, _)| p.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        IniEntry {
            key: self.key,
            raw_value,
            line: self.line,
            value_lines: pieces.into_iter().map(|(_, l)| l).collect(),
        }
    }
}

struct RawSection {
    name: String,
    line: usize,
    entries: Vec<RawEntry>,
}

/// Where option lines currently go (Python's `cursect`).
#[derive(Clone, Copy)]
enum Target {
    Defaults,
    Section(usize),
}

struct Reader<'a> {
    file: &'a Path,
    defaults: Vec<RawEntry>,
    sections: Vec<RawSection>,
    index: HashMap<String, usize>,
}

impl<'a> Reader<'a> {
    fn new(file: &'a Path, host_defaults: &[(&str, String)]) -> Self {
        let defaults = host_defaults
            .iter()
            .map(|(k, v)| RawEntry {
                key: (*k).to_owned(),
                line: 0,
                pieces: vec![(v.replace('%', "%%"), 0)],
                from_file: false,
            })
            .collect();
        Reader {
            file,
            defaults,
            sections: Vec::new(),
            index: HashMap::new(),
        }
    }

    fn err(&self, line: usize, section: Option<&str>, kind: ConfigErrorKind) -> ConfigError {
        ConfigError::new(self.file, line, section, kind)
    }

    fn entries(&mut self, target: Target) -> &mut Vec<RawEntry> {
        match target {
            Target::Defaults => &mut self.defaults,
            Target::Section(i) => &mut self.sections[i].entries,
        }
    }

    fn read(mut self, text: &str) -> Result<IniDocument, ConfigError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut target: Option<Target> = None;
        let mut sectname: Option<String> = None;
        // Index (in the target's entries) of the option continuation lines extend; `None`
        // also when the last option had an empty name, which Python treats as false.
        let mut optname: Option<usize> = None;
        let mut indent_level = 0usize;
        let mut pending: Option<ConfigError> = None;

        for (lineno, line) in universal_lines(text).enumerate() {
            let lineno = lineno + 1;
            let stripped = py_strip(line);
            let is_comment = stripped.starts_with('#') || stripped.starts_with(';');
            let value = if is_comment { "" } else { stripped };
            if value.is_empty() {
                // empty_lines_in_values: a blank line (not a comment) is kept in the value
                // being read; it does not end it.
                if !is_comment {
                    if let (Some(t), Some(i)) = (target, optname) {
                        if let Some(e) = self.entries(t).get_mut(i) {
                            e.pieces.push((String::new(), lineno));
                        }
                    }
                }
                continue;
            }
            let cur_indent = line.chars().take_while(|&c| py_isspace(c)).count();
            if let (Some(t), Some(i), true) = (target, optname, cur_indent > indent_level) {
                if let Some(e) = self.entries(t).get_mut(i) {
                    e.pieces.push((value.to_owned(), lineno));
                }
                continue;
            }
            indent_level = cur_indent;
            if let Some(header) = section_header(value) {
                if let Some(&i) = self.index.get(header) {
                    let first_line = self.sections[i].line;
                    return Err(self.err(
                        lineno,
                        Some(header),
                        ConfigErrorKind::DuplicateSection { first_line },
                    ));
                } else if header == DEFAULT_SECTION {
                    target = Some(Target::Defaults);
                } else {
                    self.index.insert(header.to_owned(), self.sections.len());
                    target = Some(Target::Section(self.sections.len()));
                    self.sections.push(RawSection {
                        name: header.to_owned(),
                        line: lineno,
                        entries: Vec::new(),
                    });
                }
                sectname = Some(header.to_owned());
                optname = None;
                continue;
            }
            let Some(t) = target else {
                return Err(self.err(
                    lineno,
                    None,
                    ConfigErrorKind::MissingSectionHeader {
                        text: line.to_owned(),
                    },
                ));
            };
            let section = sectname.as_deref();
            let Some((option, optval)) = option_line(value) else {
                if pending.is_none() {
                    pending = Some(self.err(
                        lineno,
                        section,
                        ConfigErrorKind::InvalidLine {
                            text: line.to_owned(),
                        },
                    ));
                }
                continue;
            };
            if option.is_empty() && pending.is_none() {
                pending = Some(self.err(
                    lineno,
                    section,
                    ConfigErrorKind::EmptyOptionName {
                        text: line.to_owned(),
                    },
                ));
            }
            let key = option.to_lowercase();
            let existing = self.entries(t).iter().position(|e| e.key == key);
            if let Some(i) = existing {
                let first = &self.entries(t)[i];
                if first.from_file {
                    let first_line = first.line;
                    return Err(self.err(
                        lineno,
                        sectname.as_deref(),
                        ConfigErrorKind::DuplicateOption {
                            option: key,
                            first_line,
                        },
                    ));
                }
            }
            let entry = RawEntry {
                key,
                line: lineno,
                pieces: vec![(optval.to_owned(), lineno)],
                from_file: true,
            };
            let empty_name = entry.key.is_empty();
            let entries = self.entries(t);
            let i = match existing {
                Some(i) => {
                    entries[i] = entry;
                    i
                }
                None => {
                    entries.push(entry);
                    entries.len() - 1
                }
            };
            optname = (!empty_name).then_some(i);
        }

        if let Some(e) = pending {
            return Err(e);
        }
        Ok(IniDocument {
            file: self.file.to_path_buf(),
            defaults: self.defaults.into_iter().map(RawEntry::finish).collect(),
            sections: self
                .sections
                .into_iter()
                .map(|s| IniSection {
                    name: s.name,
                    line: s.line,
                    entries: s.entries.into_iter().map(RawEntry::finish).collect(),
                })
                .collect(),
        })
    }
}

/// The options visible from one section: its own, then `[DEFAULT]`'s (Python's `ChainMap`).
struct Scope<'d> {
    section: &'d str,
    map: HashMap<&'d str, &'d str>,
}

/// Why one interpolation failed, before it is tied to an option and line.
enum InterpolationFailure {
    Syntax(String),
    Missing(String),
    Depth,
    TooLarge,
}

impl IniDocument {
    /// The section called `name` (not `DEFAULT`, which is [`IniDocument::defaults`]).
    pub fn section(&self, name: &str) -> Option<&IniSection> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The raw entry `key` as seen from `section`: the section's own, else `[DEFAULT]`'s.
    /// `key` is lowercased first, as Python does. `None` if the section or key is missing.
    pub fn entry(&self, section: &str, key: &str) -> Option<&IniEntry> {
        let key = key.to_lowercase();
        let own = if section == DEFAULT_SECTION {
            None
        } else {
            self.section(section)?.entries.iter().find(|e| e.key == key)
        };
        own.or_else(|| self.defaults.iter().find(|e| e.key == key))
    }

    /// The interpolated value of `key` in `section` (or in `[DEFAULT]`, which every section
    /// inherits), like Python's `ConfigParser.get`. `Ok(None)` if the section or the key is
    /// missing; an error if the value's `%` syntax is bad or a reference cannot be resolved.
    pub fn get(&self, section: &str, key: &str) -> Result<Option<String>, ConfigError> {
        let Some(entry) = self.entry(section, key) else {
            return Ok(None);
        };
        let scope = self.scope(section);
        self.interpolate(&scope, entry).map(Some)
    }

    /// Every option visible in `section` with its interpolated value, in the order of
    /// Python's `ConfigParser.items(section)`: `[DEFAULT]`'s options first (a section's own
    /// value replacing the default in place), then the section's other options in file
    /// order. As in Python every value is interpolated, so one bad value fails the call.
    /// A missing section reads as an empty one (only the defaults).
    pub fn items(&self, section: &str) -> Result<Vec<(String, String)>, ConfigError> {
        let scope = self.scope(section);
        let own: &[IniEntry] = self.section(section).map_or(&[], |s| &s.entries);
        let default_keys: HashSet<&str> = self.defaults.iter().map(|e| e.key.as_str()).collect();
        let merged = self
            .defaults
            .iter()
            .map(|d| own.iter().find(|e| e.key == d.key).unwrap_or(d))
            .chain(
                own.iter()
                    .filter(|e| !default_keys.contains(e.key.as_str())),
            );
        merged
            .map(|e| Ok((e.key.clone(), self.interpolate(&scope, e)?)))
            .collect()
    }

    /// Interpolates `text` as if it were a value in `section`; `None` on any error. Used to
    /// attribute the parts of a multi-line value to their lines.
    pub(crate) fn interpolate_text(&self, section: &str, text: &str) -> Option<String> {
        let scope = self.scope(section);
        let mut out = String::new();
        let mut steps = 0;
        interpolate_some(&scope, &mut out, text, 1, &mut steps).ok()?;
        Some(out)
    }

    fn scope<'d>(&'d self, section: &'d str) -> Scope<'d> {
        let mut map: HashMap<&str, &str> = self
            .defaults
            .iter()
            .map(|e| (e.key.as_str(), e.raw_value.as_str()))
            .collect();
        if section != DEFAULT_SECTION {
            if let Some(s) = self.section(section) {
                map.extend(
                    s.entries
                        .iter()
                        .map(|e| (e.key.as_str(), e.raw_value.as_str())),
                );
            }
        }
        Scope { section, map }
    }

    fn interpolate(&self, scope: &Scope<'_>, entry: &IniEntry) -> Result<String, ConfigError> {
        let mut out = String::new();
        let mut steps = 0;
        interpolate_some(scope, &mut out, &entry.raw_value, 1, &mut steps).map_err(|failure| {
            let option = entry.key.clone();
            let inherited = scope.section != DEFAULT_SECTION
                && !self
                    .section(scope.section)
                    .is_some_and(|s| s.entries.iter().any(|e| std::ptr::eq(e, entry)));
            let kind = match failure {
                InterpolationFailure::Syntax(detail) => ConfigErrorKind::InterpolationSyntax {
                    // Python's detail quotes the rest of the value: not for a secret.
                    detail: if super::redact::is_secret_option(&option) {
                        "a '%' must be followed by '%' or '(name)s' (the value is a secret: \
                         not shown; write a literal '%' as '%%')"
                            .to_owned()
                    } else {
                        detail
                    },
                    option,
                    inherited,
                },
                InterpolationFailure::Missing(reference) => {
                    ConfigErrorKind::InterpolationMissingOption {
                        option,
                        inherited,
                        reference,
                    }
                }
                InterpolationFailure::Depth => {
                    ConfigErrorKind::InterpolationDepth { option, inherited }
                }
                InterpolationFailure::TooLarge => ConfigErrorKind::InterpolationTooLarge {
                    option,
                    inherited,
                    limit: MAX_INTERPOLATED_LEN.max(MAX_INTERPOLATION_STEPS),
                },
            };
            ConfigError::new(&self.file, entry.line, Some(scope.section), kind)
        })?;
        Ok(out)
    }
}

/// `BasicInterpolation._interpolate_some`, line for line (plus the size limits).
fn interpolate_some(
    scope: &Scope<'_>,
    accum: &mut String,
    mut rest: &str,
    depth: usize,
    steps: &mut usize,
) -> Result<(), InterpolationFailure> {
    if depth > MAX_INTERPOLATION_DEPTH {
        return Err(InterpolationFailure::Depth);
    }
    let push = |accum: &mut String, s: &str| {
        if accum.len() + s.len() > MAX_INTERPOLATED_LEN {
            Err(InterpolationFailure::TooLarge)
        } else {
            accum.push_str(s);
            Ok(())
        }
    };
    while !rest.is_empty() {
        *steps += 1;
        if *steps > MAX_INTERPOLATION_STEPS {
            return Err(InterpolationFailure::TooLarge);
        }
        let Some(p) = rest.find('%') else {
            return push(accum, rest);
        };
        push(accum, &rest[..p])?;
        rest = &rest[p..];
        match rest[1..].chars().next() {
            Some('%') => {
                push(accum, "%")?;
                rest = &rest[2..];
            }
            Some('(') => {
                // _KEYCRE = %\(([^)]+)\)s
                let after = &rest[2..];
                let name = match after.find(')') {
                    Some(q) if q > 0 && after[q + 1..].starts_with('s') => {
                        let name = &after[..q];
                        rest = &after[q + 2..];
                        name
                    }
                    _ => {
                        return Err(InterpolationFailure::Syntax(format!(
                            "bad interpolation variable reference {rest:?}"
                        )))
                    }
                };
                let var = name.to_lowercase();
                let Some(v) = scope.map.get(var.as_str()) else {
                    return Err(InterpolationFailure::Missing(var));
                };
                if v.contains('%') {
                    interpolate_some(scope, accum, v, depth + 1, steps)?;
                } else {
                    push(accum, v)?;
                }
            }
            _ => {
                return Err(InterpolationFailure::Syntax(format!(
                    "'%' must be followed by '%' or '(', found: {rest:?}"
                )))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "/etc/rewho/who.ini";

    fn parse(text: &str) -> Result<IniDocument, ConfigError> {
        parse_ini(text, Path::new(FILE))
    }

    fn doc(text: &str) -> IniDocument {
        match parse(text) {
            Ok(d) => d,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    fn err(text: &str) -> ConfigError {
        match parse(text) {
            Ok(d) => panic!("expected an error, got {d:?}"),
            Err(e) => e,
        }
    }

    fn get(d: &IniDocument, section: &str, key: &str) -> Option<String> {
        match d.get(section, key) {
            Ok(v) => v,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    fn raw(d: &IniDocument, section: &str) -> Vec<(String, String)> {
        d.section(section)
            .map(|s| {
                s.entries
                    .iter()
                    .map(|e| (e.key.clone(), e.raw_value.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn sections_options_and_both_delimiters() {
        let d = doc("[a]\nx = 1\nY: 2\nz=3=4\nw:5=6\n\n[b]\nk =\n");
        assert_eq!(
            raw(&d, "a"),
            pairs(&[("x", "1"), ("y", "2"), ("z", "3=4"), ("w", "5=6")])
        );
        assert_eq!(raw(&d, "b"), pairs(&[("k", "")]));
        assert_eq!(d.section("a").map(|s| s.line), Some(1));
        assert_eq!(d.section("b").map(|s| s.line), Some(7));
        assert_eq!(d.section("a").map(|s| s.entries[1].line), Some(3));
    }

    #[test]
    fn keys_are_lowercased_and_trimmed_section_names_are_not() {
        let d = doc("[ Mixed Case ]\n  Some Key\t=  value  with  spaces  \n");
        assert_eq!(d.sections[0].name, " Mixed Case ");
        assert_eq!(
            raw(&d, " Mixed Case "),
            pairs(&[("some key", "value  with  spaces")])
        );
        assert_eq!(
            get(&d, " Mixed Case ", "SOME KEY").as_deref(),
            Some("value  with  spaces")
        );
    }

    #[test]
    fn section_header_runs_to_the_last_bracket_and_ignores_the_rest() {
        let d = doc("[a]b] trailing\nx=1\n");
        assert_eq!(d.sections[0].name, "a]b");
    }

    #[test]
    fn comments_are_full_lines_only() {
        let d = doc("# c\n ; c\n[s]\n\t# c\nx = a # not a comment ; nor this\n");
        assert_eq!(
            raw(&d, "s"),
            pairs(&[("x", "a # not a comment ; nor this")])
        );
    }

    #[test]
    fn continuation_lines_blank_lines_and_comments_inside_values() {
        let d = doc("[s]\nx = one\n  two\n\n  # skipped\n\n    three\n\n\ny = 2\n");
        assert_eq!(
            raw(&d, "s"),
            pairs(&[("x", "one\ntwo\n\n\nthree"), ("y", "2")])
        );
        let x = &d.sections[0].entries[0];
        assert_eq!(x.value_lines, vec![2, 3, 4, 6, 7]);
    }

    #[test]
    fn empty_first_line_is_kept_as_a_leading_newline() {
        let d = doc("[s]\nplugins =\n    a\n    b;browser\n");
        assert_eq!(raw(&d, "s"), pairs(&[("plugins", "\na\nb;browser")]));
        assert_eq!(d.sections[0].entries[0].value_lines, vec![2, 3, 4]);
    }

    #[test]
    fn indentation_is_relative_to_the_option_line_in_characters() {
        // Tab = one character, so two spaces are deeper than one tab.
        let d = doc("[s]\n\tx = 1\n  y = 2\n\t z\n");
        assert_eq!(raw(&d, "s"), pairs(&[("x", "1\ny = 2\nz")]));
        // An indented first option sets the level; a less indented line starts a new one.
        let d = doc("[s]\n  x = 1\n y = 2\n");
        assert_eq!(raw(&d, "s"), pairs(&[("x", "1"), ("y", "2")]));
        // A deeper [header] is just more value.
        let d = doc("[s]\nx = 1\n  [t]\n");
        assert_eq!(raw(&d, "s"), pairs(&[("x", "1\n[t]")]));
    }

    #[test]
    fn crlf_lone_cr_and_bom() {
        let d = doc("\u{feff}[s]\r\nx = 1\r\n  2\ry = 3");
        assert_eq!(raw(&d, "s"), pairs(&[("x", "1\n2"), ("y", "3")]));
        assert_eq!(d.sections[0].entries[1].line, 4);
    }

    #[test]
    fn python_whitespace_is_stripped_and_counts_as_indentation() {
        let d = doc("[s]\nx\u{0b}= \u{3000}1\u{1c}\n\u{1f}2\n");
        assert_eq!(raw(&d, "s"), pairs(&[("x", "1\n2")]));
    }

    #[test]
    fn defaults_are_inherited_and_host_defaults_come_first() {
        let d = doc("[DEFAULT]\nroot = /srv\n[s]\nx = %(root)s/%(here)s\n");
        assert_eq!(get(&d, "s", "x").as_deref(), Some("/srv//etc/rewho"));
        assert_eq!(get(&d, "s", "__file__").as_deref(), Some(FILE));
        assert_eq!(get(&d, "DEFAULT", "root").as_deref(), Some("/srv"));
        assert_eq!(get(&d, "nope", "x"), None);
        assert_eq!(get(&d, "s", "nope"), None);
        let keys: Vec<_> = d.defaults.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["here", "__file__", "root"]);
    }

    #[test]
    fn file_default_overrides_host_default_in_place_and_section_overrides_both() {
        let d = doc("[DEFAULT]\nhere = /other\n[s]\na = 1\nhere = /mine\n[t]\n");
        assert_eq!(get(&d, "t", "here").as_deref(), Some("/other"));
        assert_eq!(get(&d, "s", "here").as_deref(), Some("/mine"));
        let items = d.items("s").ok();
        assert_eq!(
            items,
            Some(pairs(&[("here", "/mine"), ("__file__", FILE), ("a", "1")]))
        );
    }

    #[test]
    fn default_section_may_be_opened_twice() {
        let d = doc("[DEFAULT]\na = 1\n[s]\n[DEFAULT]\nb = 2\n");
        assert_eq!(get(&d, "s", "b").as_deref(), Some("2"));
    }

    #[test]
    fn interpolation_of_percent_and_references() {
        let d = doc(concat!(
            "[DEFAULT]\nbase = %(name)s-base\n",
            "[s]\nname = rewho\npct = 100%%\nref = %(BASE)s %(pct)s\n",
            "nested = [%(ref)s]\n"
        ));
        assert_eq!(get(&d, "s", "pct").as_deref(), Some("100%"));
        assert_eq!(get(&d, "s", "ref").as_deref(), Some("rewho-base 100%"));
        assert_eq!(get(&d, "s", "nested").as_deref(), Some("[rewho-base 100%]"));
    }

    #[test]
    fn host_default_with_percent_is_literal() {
        let d = match parse_ini("[s]\nx = %(here)s\n", Path::new("/tmp/100%/who.ini")) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(get(&d, "s", "x").as_deref(), Some("/tmp/100%"));
    }

    fn get_err(d: &IniDocument, section: &str, key: &str) -> ConfigError {
        match d.get(section, key) {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn interpolation_errors_name_file_line_section_and_option() {
        let d = doc("[s]\na = 1\nbad = 50%\nmissing = %(nope)s\nparen = %(x\nloop = %(loop)s\n");
        let e = get_err(&d, "s", "bad");
        assert!(matches!(
            e.kind,
            ConfigErrorKind::InterpolationSyntax { .. }
        ));
        assert_eq!(
            e.to_string(),
            "/etc/rewho/who.ini:3: in section [s]: bad interpolation in option 'bad': \
             '%' must be followed by '%' or '(', found: \"%\""
        );
        let e = get_err(&d, "s", "missing");
        assert_eq!(
            e.to_string(),
            "/etc/rewho/who.ini:4: in section [s]: option 'missing' refers to '%(nope)s', \
             which is not set in this section or [DEFAULT]"
        );
        let e = get_err(&d, "s", "paren");
        assert!(matches!(
            e.kind,
            ConfigErrorKind::InterpolationSyntax { .. }
        ));
        assert_eq!(e.line, 5);
        let e = get_err(&d, "s", "loop");
        assert!(matches!(e.kind, ConfigErrorKind::InterpolationDepth { .. }));
        assert!(e
            .to_string()
            .starts_with("/etc/rewho/who.ini:6: in section [s]: "));
        // items() interpolates everything, so it fails on the first bad value.
        let e = match d.items("s") {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e,
        };
        assert_eq!(e.line, 3);
    }

    #[test]
    fn error_in_an_inherited_value_points_at_default_and_says_so() {
        let d = doc("[DEFAULT]\nx = %(y)s\n[s]\n[t]\ny = ok\n");
        assert_eq!(get(&d, "t", "x").as_deref(), Some("ok"));
        let e = get_err(&d, "s", "x");
        assert_eq!(e.line, 2);
        assert_eq!(e.section.as_deref(), Some("s"));
        assert!(e.to_string().contains("(inherited from [DEFAULT])"), "{e}");
    }

    #[test]
    fn depth_limit_matches_python() {
        // Python allows a chain of 10 nested references and fails at 11.
        let mut text = String::from("[s]\n");
        for i in 0..10 {
            text.push_str(&format!("k{i} = %(k{})s\n", i + 1));
        }
        text.push_str("k10 = %(k11)s\nk11 = end\n");
        let d = doc(&text);
        assert_eq!(get(&d, "s", "k1").as_deref(), Some("end"));
        assert!(matches!(
            get_err(&d, "s", "k0").kind,
            ConfigErrorKind::InterpolationDepth { .. }
        ));
    }

    #[test]
    fn exponential_interpolation_is_cut_off() {
        let mut text = String::from("[s]\n");
        for i in 0..12 {
            let refs = format!("%(k{})s", i + 1).repeat(20);
            text.push_str(&format!("k{i} = {refs}\n"));
        }
        text.push_str("k12 = x\n");
        let d = doc(&text);
        assert!(matches!(
            get_err(&d, "s", "k2").kind,
            ConfigErrorKind::InterpolationTooLarge { .. }
        ));
    }

    #[test]
    fn missing_section_header() {
        let e = err("# fine\n\nx = 1\n[s]\n");
        assert!(matches!(
            e.kind,
            ConfigErrorKind::MissingSectionHeader { .. }
        ));
        assert_eq!(e.line, 3);
        assert_eq!(e.section, None);
        assert_eq!(
            e.to_string(),
            "/etc/rewho/who.ini:3: expected a [section] header before this line, found \"x = 1\""
        );
        // `[]` is not a header.
        assert_eq!(err("[]\n").line, 1);
    }

    #[test]
    fn duplicate_section() {
        let e = err("[a]\n[b]\n[a]\n");
        assert!(matches!(
            e.kind,
            ConfigErrorKind::DuplicateSection { first_line: 1 }
        ));
        assert_eq!(
            e.to_string(),
            "/etc/rewho/who.ini:3: in section [a]: duplicate section (first at line 1)"
        );
    }

    #[test]
    fn duplicate_option_including_case_and_default() {
        let e = err("[plugin:auth_tkt]\nuse = auth_tkt\n\nsecret = a\nSecret = b\n");
        assert_eq!(
            e.to_string(),
            "/etc/rewho/who.ini:5: in section [plugin:auth_tkt]: duplicate option 'secret' \
             (first at line 4)"
        );
        let e = err("[DEFAULT]\nx = 1\n[DEFAULT]\nx = 2\n");
        assert_eq!(e.line, 4);
        assert_eq!(e.section.as_deref(), Some("DEFAULT"));
        // Overriding a host default is not a duplicate, overriding it twice is.
        assert!(parse("[DEFAULT]\nhere = /x\n").is_ok());
        assert_eq!(err("[DEFAULT]\nhere = /x\nhere = /y\n").line, 3);
    }

    #[test]
    fn invalid_lines_are_collected_and_the_first_reported_at_the_end() {
        let e = err("[s]\nx = 1\njunk\nmore junk\n");
        assert!(matches!(e.kind, ConfigErrorKind::InvalidLine { .. }));
        assert_eq!(
            e.to_string(),
            "/etc/rewho/who.ini:3: in section [s]: expected 'key = value', a [section] header \
             or a comment, found \"junk\""
        );
        // ...but a later duplicate stops the read at once and wins, as in Python.
        let e = err("[s]\njunk\n[s]\n");
        assert!(matches!(e.kind, ConfigErrorKind::DuplicateSection { .. }));
        // A line under a header cannot be a continuation.
        assert_eq!(err("[s]\n  stray\n").line, 2);
    }

    #[test]
    fn empty_option_name() {
        let e = err("[s]\n = value\n");
        assert!(matches!(e.kind, ConfigErrorKind::EmptyOptionName { .. }));
        assert_eq!(e.line, 2);
        // Python stores the empty name, so a second one is a duplicate, reported at once.
        let e = err("[s]\n= a\njunk\n: b\n");
        assert!(matches!(e.kind, ConfigErrorKind::DuplicateOption { .. }));
        assert_eq!(e.line, 4);
        // Lines after an empty name are not its continuation.
        assert_eq!(err("[s]\n= a\n  b = 1\n").line, 2);
    }

    #[test]
    fn no_value_option_is_an_error() {
        let e = err("[s]\nflag\n");
        assert!(matches!(e.kind, ConfigErrorKind::InvalidLine { .. }));
    }

    #[test]
    fn items_order_is_defaults_then_own() {
        let d = doc("[DEFAULT]\nb = 1\n[s]\nz = 2\nb = 3\na = 4\n");
        let items = d.items("s").ok();
        assert_eq!(
            items,
            Some(pairs(&[
                ("here", "/etc/rewho"),
                ("__file__", FILE),
                ("b", "3"),
                ("z", "2"),
                ("a", "4")
            ]))
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let inputs = [
            "",
            "\u{feff}",
            "[",
            "]",
            "[[]]",
            "=",
            ":",
            "%",
            "[s]\n%",
            "[s]\nx=%(",
            "[s]\nx=%()s",
            "[s]\nx=%(x)",
            "[s]\nx=%(é)s\né=%",
            "\r\r\n\n\r",
            "[s]\n\u{2028}x=1",
            "[\u{85}]\n",
            "[s]\nx=1\n\u{3000}\u{3000}y",
            "[DEFAULT]\n= \n",
        ];
        for text in inputs {
            if let Ok(d) = parse(text) {
                for s in d
                    .sections
                    .iter()
                    .map(|s| s.name.as_str())
                    .chain([DEFAULT_SECTION])
                {
                    let _ = d.items(s);
                }
            }
        }
    }
}
