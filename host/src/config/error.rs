//! The one error type of the config layer.
//!
//! Every problem in a who.ini is reported as a [`ConfigError`] that says *where* (file, 1-based
//! line, section) and a [`ConfigErrorKind`] that says *what*, in the globset style
//! (`Error { glob, kind }`): callers match on the kind, users read the `Display` text.

use std::fmt;
use std::path::PathBuf;

/// A config file that cannot be used, with the place the problem was found.
///
/// `Display` renders `FILE:LINE: in section [NAME]: PROBLEM`, e.g.
/// `who.ini:12: in section [plugin:auth_tkt]: duplicate option 'secret' (first at line 9)`.
/// The `LINE:` part is left out when the problem has no line (the file could not be read),
/// and the `in section` part when it happened outside any section.
#[derive(Debug)]
pub struct ConfigError {
    /// The config file, as given to the parser (used only for messages).
    pub file: PathBuf,
    /// The 1-based line the problem is on; `0` when it concerns the whole file.
    pub line: usize,
    /// The section the problem is in, if any (`DEFAULT` for the defaults section).
    pub section: Option<String>,
    /// What is wrong.
    pub kind: ConfigErrorKind,
}

impl ConfigError {
    pub(crate) fn new(
        file: impl Into<PathBuf>,
        line: usize,
        section: Option<&str>,
        kind: ConfigErrorKind,
    ) -> Self {
        ConfigError {
            file: file.into(),
            line,
            section: section.map(str::to_owned),
            kind,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(section) = &self.section {
            write!(f, ": in section [{section}]")?;
        }
        write!(f, ": {}", self.kind)
    }
}

// Written by hand rather than derived: the kind's text is already part of `Display`, so the
// kind is not reported again as a `source`; only an underlying I/O error is.
impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ConfigErrorKind::Io(err) => Some(err),
            _ => None,
        }
    }
}

/// What is wrong with a config file.
///
/// The first group mirrors the exceptions Python's `configparser` raises for the same input
/// (named in each variant's doc), so a file is rejected here exactly when repoze.who would
/// reject it; the second group is rewho's own, stricter checks of the repoze.who sections.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Io(#[source] std::io::Error),
    /// The file is not UTF-8 (Python: `UnicodeDecodeError`).
    #[error("the file is not valid UTF-8")]
    NotUtf8,
    /// An option line comes before the first `[section]` header
    /// (Python: `MissingSectionHeaderError`).
    #[error("expected a [section] header before this line, found {text:?}")]
    MissingSectionHeader {
        /// The offending line, without its line break.
        text: String,
    },
    /// A section header repeats an earlier one (Python: `DuplicateSectionError`).
    #[error("duplicate section (first at line {first_line})")]
    DuplicateSection {
        /// Where the section was first opened.
        first_line: usize,
    },
    /// An option is set twice in one section (Python: `DuplicateOptionError`).
    #[error("duplicate option '{option}' (first at line {first_line})")]
    DuplicateOption {
        /// The option name, lowercased.
        option: String,
        /// Where it was first set.
        first_line: usize,
    },
    /// A line that is neither `key = value`, a `[section]` header, a comment nor a
    /// continuation line (Python: `ParsingError`).
    #[error("expected 'key = value', a [section] header or a comment, found {text:?}")]
    InvalidLine {
        /// The offending line, without its line break.
        text: String,
    },
    /// A `= value` line with no option name before the delimiter (Python: `ParsingError`).
    #[error("option name missing before the '=' or ':' in {text:?}")]
    EmptyOptionName {
        /// The offending line, without its line break.
        text: String,
    },
    /// A `%` that is not `%%` or `%(name)s` (Python: `InterpolationSyntaxError`).
    #[error("bad interpolation in option '{option}'{}: {detail}", inherited_note(*.inherited))]
    InterpolationSyntax {
        /// The option whose value could not be interpolated.
        option: String,
        /// `true` when the value comes from `[DEFAULT]` (the line then points there).
        inherited: bool,
        /// What was found, in Python's words.
        detail: String,
    },
    /// `%(name)s` names an option that is neither in the section nor in `[DEFAULT]`
    /// (Python: `InterpolationMissingOptionError`).
    #[error("option '{option}'{} refers to '%({reference})s', which is not set in this section or [DEFAULT]", inherited_note(*.inherited))]
    InterpolationMissingOption {
        /// The option whose value could not be interpolated.
        option: String,
        /// `true` when the value comes from `[DEFAULT]` (the line then points there).
        inherited: bool,
        /// The missing name, lowercased.
        reference: String,
    },
    /// References nest deeper than Python's `MAX_INTERPOLATION_DEPTH` (10), usually a cycle
    /// (Python: `InterpolationDepthError`).
    #[error("interpolation in option '{option}'{} nests deeper than 10 levels (a reference cycle?)", inherited_note(*.inherited))]
    InterpolationDepth {
        /// The option whose value could not be interpolated.
        option: String,
        /// `true` when the value comes from `[DEFAULT]` (the line then points there).
        inherited: bool,
    },
    /// Interpolation would produce an absurdly large value (references fanning out at each
    /// level). Python would grind on; we stop so that no input can exhaust memory or time.
    #[error("interpolation in option '{option}'{} expands to more than {limit} bytes or steps", inherited_note(*.inherited))]
    InterpolationTooLarge {
        /// The option whose value could not be interpolated.
        option: String,
        /// `true` when the value comes from `[DEFAULT]` (the line then points there).
        inherited: bool,
        /// The limit that was hit.
        limit: usize,
    },
    /// A `[plugin:ID]` section without a `use =` option. (repoze.who silently skips such a
    /// section; we refuse, since a plugin that is never built is always a mistake.)
    #[error("missing 'use = ...' (which plugin to build)")]
    MissingUse,
    /// A `[plugin:]` section with nothing after the colon.
    #[error("empty plugin id after 'plugin:'")]
    EmptyPluginId,
    /// An option that needs a value (`use`, `remote_user_key`, ...) is empty.
    #[error("option '{option}' is empty")]
    EmptyValue {
        /// The option name.
        option: String,
    },
    /// A chain section (`[identifiers]`, ...) without a `plugins =` option
    /// (repoze.who fails with a `KeyError`).
    #[error("missing 'plugins = ...' (the plugins of this chain)")]
    MissingChainPlugins,
    /// A chain entry such as `a;b;c` (repoze.who fails unpacking `split(';')`).
    #[error("chain entry {entry:?} has more than one ';' (expected NAME or NAME;CLASSIFIER)")]
    ChainEntryTooManySemicolons {
        /// The whole entry.
        entry: String,
    },
    /// A chain entry such as `;browser`, with no plugin name.
    #[error("chain entry {entry:?} has no plugin name before the ';'")]
    EmptyChainPluginName {
        /// The whole entry.
        entry: String,
    },
    /// A chain entry such as `form;`, with an empty classifier.
    #[error("chain entry {entry:?} has no classifier after the ';'")]
    EmptyClassifier {
        /// The whole entry.
        entry: String,
    },
}

fn inherited_note(inherited: bool) -> &'static str {
    if inherited {
        " (inherited from [DEFAULT])"
    } else {
        ""
    }
}
