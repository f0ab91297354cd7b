//! The rule grammar, compiled once, and its errors.
//!
//! ```text
//! rule        = [METHODS SP] TARGET SP REQUIREMENT *(SP REQUIREMENT) [SP "#" comment]
//! METHODS     = METHOD *("," METHOD)                  ; GET,HEAD
//! TARGET      = [HOST] PATH-GLOB                      ; /admin/**   app.example.com/admin/**
//! HOST        = name | "*." name                      ; *.example.com: any subdomain
//! REQUIREMENT = CONDITION *("&" CONDITION)            ; all joined conditions must hold
//! CONDITION   = "anyone" | "authenticated" | "deny" | "user:" ID | "group:" NAME | "net:" CIDR
//! ```
//! Blank lines and lines starting with `#` are skipped. `%XX` escapes in `ID` and `NAME`
//! stand for bytes that cannot be written otherwise (`%20` a space, `%26` a `&`).

use thiserror::Error;

use super::net::Cidr;
use super::path::{PathGlob, PatternProblem};
use super::{Condition, HostPattern, Requirement, Rule};

/// A rule set that cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RuleError {
    /// The text holds no rule at all (only blank and comment lines).
    #[error("no rules: every request would abstain; write at least one rule")]
    NoRules,
    /// One rule is wrong.
    #[error("rule {rule} (line {line} of the option): {kind}")]
    Rule {
        /// The rule's number, counting rules only (1-based).
        rule: usize,
        /// The line in the compiled text (1-based), blank and comment lines included.
        line: usize,
        /// What is wrong.
        kind: RuleErrorKind,
    },
}

impl RuleError {
    /// The line in the compiled text of a rule error.
    pub fn line(&self) -> Option<usize> {
        match self {
            RuleError::NoRules => None,
            RuleError::Rule { line, .. } => Some(*line),
        }
    }

    /// The message for rules read from a file: `FILE:LINE: rule N: …`.
    pub fn in_file(&self, file: &str) -> String {
        match self {
            RuleError::NoRules => format!("{file}: {self}"),
            RuleError::Rule { rule, line, kind } => format!("{file}:{line}: rule {rule}: {kind}"),
        }
    }
}

/// What is wrong with one rule.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RuleErrorKind {
    /// Only methods, no target.
    #[error("no target after the methods: write a path such as `/admin/**` or `HOST/PATH`")]
    MissingTarget,
    /// A target and no requirement.
    #[error("`{0}` has no requirement: add anyone, authenticated, deny, user:ID, group:NAME or net:CIDR")]
    MissingRequirement(String),
    /// A word in the methods position that is not a method list.
    #[error(
        "`{0}` is not a method list (upper-case methods separated by commas, e.g. `GET,HEAD`){1}"
    )]
    BadMethods(String, &'static str),
    /// A host that cannot be matched.
    #[error("host `{0}`: {1}")]
    BadHost(String, &'static str),
    /// A path glob that cannot be matched.
    #[error("path `{0}`: {1}")]
    BadPath(String, PatternProblem),
    /// An unknown requirement word.
    #[error("unknown requirement `{0}`{1}")]
    UnknownRequirement(String, String),
    /// `user:`, `group:` or `net:` with nothing after it.
    #[error("`{0}` needs a value after the colon")]
    EmptyValue(String),
    /// A `%` not followed by two hex digits in a user or group name.
    #[error("`{0}`: a `%` must be followed by two hex digits (`%25` for `%` itself)")]
    BadEscape(String),
    /// A `net:` value that is not a network.
    #[error("{0}")]
    BadNetwork(String),
    /// `deny` joined to other requirements.
    #[error("`deny` must stand alone: a line that denies cannot also grant")]
    DenyCombined,
    /// `anyone` beside other requirements, which would have no effect.
    #[error("`anyone` admits every request, so `{0}` beside it has no effect; remove one")]
    AnyoneCombined(String),
}

fn err(rule: usize, line: usize, kind: RuleErrorKind) -> RuleError {
    RuleError::Rule { rule, line, kind }
}

/// Compiles `text`, one rule per line.
pub(crate) fn compile(text: &str) -> Result<Vec<Rule>, RuleError> {
    let mut rules = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let words: Vec<&str> = line
            .split_whitespace()
            .take_while(|w| !w.starts_with('#'))
            .collect();
        if words.is_empty() {
            continue;
        }
        let number = rules.len() + 1;
        let rule =
            compile_rule(&words, number, index + 1).map_err(|kind| err(number, index + 1, kind))?;
        rules.push(rule);
    }
    if rules.is_empty() {
        return Err(RuleError::NoRules);
    }
    Ok(rules)
}

fn compile_rule(words: &[&str], number: usize, line: usize) -> Result<Rule, RuleErrorKind> {
    let (methods, rest) = if words[0].contains('/') {
        (Vec::new(), words)
    } else {
        let methods = parse_methods(words[0])?;
        if words.len() < 2 {
            return Err(RuleErrorKind::MissingTarget);
        }
        (methods, &words[1..])
    };
    let target = rest[0];
    if !target.contains('/') {
        return Err(RuleErrorKind::BadPath(
            target.to_owned(),
            PatternProblem::NotAbsolute,
        ));
    }
    let (host, path) = target.split_at(target.find('/').unwrap_or(0));
    let host = parse_host(host)?;
    let path = PathGlob::compile(path).map_err(|p| RuleErrorKind::BadPath(path.to_owned(), p))?;
    let requirements = &rest[1..];
    if requirements.is_empty() {
        return Err(RuleErrorKind::MissingRequirement(target.to_owned()));
    }
    let mut any_of = Vec::new();
    let mut deny = false;
    for word in requirements {
        let conditions = word
            .split('&')
            .map(parse_condition)
            .collect::<Result<Vec<_>, _>>()?;
        let joined = conditions.len() > 1;
        if conditions.contains(&Condition::Deny) && (joined || requirements.len() > 1) {
            return Err(RuleErrorKind::DenyCombined);
        }
        if conditions.contains(&Condition::Anyone) && joined {
            return Err(RuleErrorKind::AnyoneCombined((*word).to_owned()));
        }
        deny |= conditions.contains(&Condition::Deny);
        any_of.push(Requirement {
            text: (*word).into(),
            all_of: conditions.into_boxed_slice(),
        });
    }
    if requirements.len() > 1 {
        if let Some(other) = requirements.iter().find(|w| **w != "anyone") {
            if requirements.contains(&"anyone") {
                return Err(RuleErrorKind::AnyoneCombined((*other).to_owned()));
            }
        }
    }
    Ok(Rule {
        number,
        line,
        text: words.join(" ").into(),
        methods: methods.into_boxed_slice(),
        host,
        path,
        deny,
        any_of: any_of.into_boxed_slice(),
    })
}

fn parse_methods(word: &str) -> Result<Vec<Box<str>>, RuleErrorKind> {
    let bad = |hint| Err(RuleErrorKind::BadMethods(word.to_owned(), hint));
    let mut out = Vec::new();
    for m in word.split(',') {
        if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
            return bad(if word.contains('.') {
                "; if it is a host, add a path: `HOST/**`"
            } else if word.contains(':') {
                "; requirements come after the target"
            } else {
                ""
            });
        }
        if m.bytes().any(|b| b.is_ascii_lowercase()) {
            return bad("; methods are case-sensitive and written in upper case");
        }
        out.push(m.into());
    }
    Ok(out)
}

fn parse_host(host: &str) -> Result<HostPattern, RuleErrorKind> {
    let bad = |why| Err(RuleErrorKind::BadHost(host.to_owned(), why));
    if host.is_empty() {
        return Ok(HostPattern::Any);
    }
    let lower = host.to_ascii_lowercase();
    let lower = lower.strip_suffix('.').unwrap_or(&lower);
    if lower.starts_with('[') {
        return match lower
            .strip_suffix(']')
            .map(|a| a[1..].parse::<std::net::Ipv6Addr>())
        {
            Some(Ok(_)) => Ok(HostPattern::Exact(lower.into())),
            _ if lower.contains("]:") => bad("ports are not matched; remove the port"),
            _ => bad("not an IPv6 address in brackets"),
        };
    }
    if lower.contains(':') {
        return bad("ports are not matched; remove the port");
    }
    let (wild, name) = match lower.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, lower),
    };
    if name.contains('*') {
        return bad("`*` is allowed only as the first label (`*.example.com`)");
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !name.split('.').all(label_ok) {
        return bad("not a host name (letters, digits, `-` and dots)");
    }
    Ok(if wild {
        HostPattern::Subdomain(format!(".{name}").into())
    } else {
        HostPattern::Exact(name.into())
    })
}

/// Decodes `%XX` escapes in a user or group name.
fn unescape(word: &str, value: &str) -> Result<Box<str>, RuleErrorKind> {
    if !value.contains('%') {
        return Ok(value.into());
    }
    let bad = || RuleErrorKind::BadEscape(word.to_owned());
    let raw = value.as_bytes();
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = raw.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map(Into::into).map_err(|_| bad())
}

fn parse_condition(word: &str) -> Result<Condition, RuleErrorKind> {
    match word {
        "anyone" => return Ok(Condition::Anyone),
        "authenticated" => return Ok(Condition::Authenticated),
        "deny" => return Ok(Condition::Deny),
        _ => {}
    }
    let Some((kind, value)) = word.split_once(':') else {
        let hint = if word.is_empty() {
            " (an empty condition: `&` needs something on both sides)".to_owned()
        } else if word.eq_ignore_ascii_case("anyone")
            || word.eq_ignore_ascii_case("authenticated")
            || word.eq_ignore_ascii_case("deny")
        {
            format!("; did you mean `{}`?", word.to_ascii_lowercase())
        } else {
            format!("; did you mean `user:{word}` or `group:{word}`?")
        };
        return Err(RuleErrorKind::UnknownRequirement(word.to_owned(), hint));
    };
    if value.is_empty() && matches!(kind, "user" | "group" | "net") {
        return Err(RuleErrorKind::EmptyValue(word.to_owned()));
    }
    match kind {
        "user" => Ok(Condition::User(unescape(word, value)?)),
        "group" => Ok(Condition::Group(unescape(word, value)?)),
        "net" => Cidr::parse(value)
            .map(Condition::Net)
            .map_err(|e| RuleErrorKind::BadNetwork(format!("`{word}`: {e}"))),
        _ => {
            let hint = match kind {
                "users" | "uid" | "login" => "; did you mean `user:`?",
                "groups" | "role" | "roles" => "; did you mean `group:`?",
                "ip" | "cidr" | "network" | "networks" => "; did you mean `net:`?",
                _ => {
                    "; requirements are anyone, authenticated, deny, user:ID, group:NAME, net:CIDR"
                }
            };
            Err(RuleErrorKind::UnknownRequirement(
                word.to_owned(),
                hint.to_owned(),
            ))
        }
    }
}
