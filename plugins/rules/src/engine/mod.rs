//! The rules engine: plain Rust, no plugin types, so the authorizer, `rewho check --explain`
//! and audit lines share it.
//!
//! [`RuleSet::compile`] turns the text into rules once; [`RuleSet::evaluate`] finds the first
//! rule whose methods, host and path match the [`Target`] and checks its requirements against
//! the [`Subject`]:
//!
//! - no rule matches → [`Effect::Abstain`];
//! - the first matching rule has a requirement the subject meets → [`Effect::Allow`];
//! - it has none the subject meets, or it is a `deny` rule → [`Effect::Deny`].
//!
//! Paths are compared after decoding and normalisation (see [`path`](self::path) for the
//! exact rules); a path that cannot be read safely, or whose meaning depends on how the back
//! end treats encoded slashes, backslashes or `;parameters`, is denied. Evaluating allocates
//! nothing unless the path holds escapes, `\` or `;`, or more than 24 segments.
//!
//! ```
//! use rewho_plugin_rules::engine::{Effect, RuleSet, Subject, Target};
//!
//! let rules = RuleSet::compile("/admin/** group:admins\n/** authenticated").unwrap();
//! let bob = Subject { user: Some("bob"), groups: &["staff"] };
//! let v = rules.evaluate(&bob, &Target::new("GET", "app.example.com", "/admin/../admin/x"));
//! assert_eq!(v.effect, Effect::Deny);
//! assert_eq!(v.rule.unwrap().number(), 1);
//! ```

mod net;
mod parse;
pub mod path;

use std::fmt;
use std::net::IpAddr;

pub use net::Cidr;
pub use parse::{RuleError, RuleErrorKind};
pub use path::{PathProblem, PatternProblem};

use path::{PathGlob, Segments, View};

/// What a rule set decides for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// A matching rule's requirement is met.
    Allow,
    /// The matching rule's requirements are not met, it is a `deny` rule, or the path is
    /// unsafe or ambiguous.
    Deny,
    /// No rule matches: the next authorizer decides (or the chain fails closed).
    Abstain,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
            Effect::Abstain => "abstain",
        })
    }
}

/// The groups of a subject, however the caller stores them.
pub trait GroupSet {
    /// `true` when the subject is in group `name` (exact, case-sensitive).
    fn contains_group(&self, name: &str) -> bool;
}

impl<T: AsRef<str>> GroupSet for [T] {
    fn contains_group(&self, name: &str) -> bool {
        self.iter().any(|g| g.as_ref() == name)
    }
}

impl<T: AsRef<str>, const N: usize> GroupSet for [T; N] {
    fn contains_group(&self, name: &str) -> bool {
        self[..].contains_group(name)
    }
}

impl<T: AsRef<str>> GroupSet for Vec<T> {
    fn contains_group(&self, name: &str) -> bool {
        self[..].contains_group(name)
    }
}

impl<T: AsRef<str>> GroupSet for &[T] {
    fn contains_group(&self, name: &str) -> bool {
        (**self).contains_group(name)
    }
}

/// Who is asking: the user id (`None` when anonymous) and the groups.
pub struct Subject<'a> {
    /// The authenticated user id as text; `None` for an anonymous request. The empty string
    /// is a valid user id (as in repoze.who).
    pub user: Option<&'a str>,
    /// The identity's `groups`.
    pub groups: &'a dyn GroupSet,
}

impl Subject<'static> {
    /// An anonymous request.
    pub const ANONYMOUS: Subject<'static> = Subject {
        user: None,
        groups: &[] as &[&str; 0],
    };
}

/// What is asked for: the request as the client sent it.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The method, compared case-sensitively (`GET`).
    pub method: &'a str,
    /// The host the client asked for; a port and a trailing dot are ignored.
    pub host: &'a str,
    /// The path as received, percent-encoded, without the query.
    pub path: &'a str,
    /// The client's address, for `net:`; `None` when unknown (no `net:` then matches).
    pub client: Option<IpAddr>,
}

impl<'a> Target<'a> {
    /// A target without a client address.
    pub fn new(method: &'a str, host: &'a str, path: &'a str) -> Self {
        Target {
            method,
            host,
            path,
            client: None,
        }
    }
}

/// One condition of a requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Condition {
    Anyone,
    Authenticated,
    Deny,
    User(Box<str>),
    Group(Box<str>),
    Net(Cidr),
}

impl Condition {
    fn holds(&self, subject: &Subject<'_>, client: Option<IpAddr>) -> bool {
        match self {
            Condition::Anyone => true,
            Condition::Authenticated => subject.user.is_some(),
            Condition::Deny => false,
            Condition::User(u) => subject.user == Some(&**u),
            Condition::Group(g) => subject.user.is_some() && subject.groups.contains_group(g),
            Condition::Net(n) => client.is_some_and(|ip| n.contains(ip)),
        }
    }
}

/// One requirement of a rule: conditions joined by `&`, all of which must hold.
#[derive(Debug, Clone)]
pub struct Requirement {
    text: Box<str>,
    all_of: Box<[Condition]>,
}

impl Requirement {
    /// As written in the rule (`group:admins`, `group:ops&net:10.0.0.0/8`).
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Which hosts a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostPattern {
    Any,
    /// Lower-case, no trailing dot.
    Exact(Box<str>),
    /// `.example.com` for `*.example.com`: one or more labels before it.
    Subdomain(Box<str>),
}

impl HostPattern {
    fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Any => true,
            HostPattern::Exact(h) => host.eq_ignore_ascii_case(h),
            HostPattern::Subdomain(suffix) => {
                let (h, s) = (host.as_bytes(), suffix.as_bytes());
                h.len() > s.len() && h[h.len() - s.len()..].eq_ignore_ascii_case(s)
            }
        }
    }
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    number: usize,
    line: usize,
    text: Box<str>,
    /// Empty: any method.
    methods: Box<[Box<str>]>,
    host: HostPattern,
    path: PathGlob,
    deny: bool,
    any_of: Box<[Requirement]>,
}

impl Rule {
    /// The rule's number, counting rules only (1-based): what `--explain` and audit lines
    /// call it.
    pub fn number(&self) -> usize {
        self.number
    }

    /// The line of the compiled text it came from (1-based).
    pub fn line(&self) -> usize {
        self.line
    }

    /// The rule as written, whitespace collapsed, comment dropped.
    pub fn text(&self) -> &str {
        &self.text
    }

    fn applies(&self, method: &str, host: &str, segs: &[&[u8]]) -> bool {
        (self.methods.is_empty() || self.methods.iter().any(|m| **m == *method))
            && self.host.matches(host)
            && self.path.matches(segs)
    }
}

/// Why a [`Verdict`] came out as it did.
#[derive(Debug, Clone, Copy)]
pub enum Why<'s> {
    /// This requirement of the rule is met.
    Met(&'s Requirement),
    /// The rule matched and none of its requirements is met.
    Unmet,
    /// The rule is a `deny` rule.
    DenyRule,
    /// No rule matched.
    NoMatch,
    /// The path cannot be read safely.
    UnsafePath(PathProblem),
    /// The path's readings (see [`path`](self::path)) pick different rules: `literal` reads
    /// `%2F`, `%5C`, `\` and `;params` as part of a segment; `other` is the first reading
    /// that disagreed (them as separators, `;params` dropped, or both).
    AmbiguousPath {
        /// The first rule matching the literal reading.
        literal: Option<&'s Rule>,
        /// The first rule matching the other reading.
        other: Option<&'s Rule>,
    },
}

/// The decision for one request, which rule made it, and why (for `--explain` and audit).
#[derive(Debug, Clone, Copy)]
pub struct Verdict<'s> {
    /// Allow, deny or abstain.
    pub effect: Effect,
    /// The rule that decided (`None` for abstain and for unsafe or ambiguous paths).
    pub rule: Option<&'s Rule>,
    /// Why.
    pub why: Why<'s>,
}

impl Verdict<'_> {
    /// The same text as `Display`, built without the formatting machinery: this runs for every
    /// request an authorizer decides, and `write!` cost more than the matching itself.
    pub fn reason(&self) -> String {
        let common = match self.why {
            Why::Met(req) => Some(("`", &*req.text, "` is met")),
            Why::Unmet => Some(("", "", "no requirement is met")),
            Why::DenyRule => Some(("", "", "denies")),
            Why::NoMatch => Some(("", "", "no rule matches")),
            _ => None,
        };
        let Some((open, text, close)) = common else {
            return self.to_string();
        };
        let number = self.rule.map(|r| r.number.to_string());
        let mut out = String::with_capacity(
            self.rule.map_or(0, |r| r.text.len() + 16) + text.len() + close.len() + 2,
        );
        if let (Some(rule), Some(number)) = (self.rule, &number) {
            out.push_str("rule ");
            out.push_str(number);
            out.push_str(" `");
            out.push_str(&rule.text);
            out.push_str("`: ");
        }
        out.push_str(open);
        out.push_str(text);
        out.push_str(close);
        out
    }
}

fn rule_name(rule: Option<&Rule>) -> String {
    rule.map_or_else(|| "no rule".to_owned(), |r| format!("rule {}", r.number))
}

/// One line for `--explain` and audit lines; never holds anything but the rule text and the
/// path problem (no user data).
impl fmt::Display for Verdict<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(rule) = self.rule {
            write!(f, "rule {} `{}`: ", rule.number, rule.text)?;
        }
        match self.why {
            Why::Met(req) => write!(f, "`{}` is met", req.text),
            Why::Unmet => f.write_str("no requirement is met"),
            Why::DenyRule => f.write_str("denies"),
            Why::NoMatch => f.write_str("no rule matches"),
            Why::UnsafePath(p) => write!(f, "unsafe path: it holds {p}"),
            Why::AmbiguousPath { literal, other } => write!(
                f,
                "ambiguous path: read literally it matches {}, read as some servers do \
                 (encoded or back slashes as separators, `;params` dropped) {}",
                rule_name(literal),
                rule_name(other)
            ),
        }
    }
}

/// A compiled rule set: [`compile`](RuleSet::compile) once, [`evaluate`](RuleSet::evaluate)
/// per request.
#[derive(Debug, Clone)]
pub struct RuleSet {
    rules: Vec<Rule>,
    /// One [`Quick`] per rule, dense, so a miss costs a few integer compares per rule.
    quick: Vec<Quick>,
}

/// A rule's cheap pre-check: method bits, the host's and the first path segment's hashes
/// (`0`: anything). Passing it only means "may match": the rule itself decides.
#[derive(Debug, Clone, Copy)]
struct Quick {
    methods: u32,
    host: u64,
    first: u64,
}

/// The hash of a request path with no segment: even, so no [`hash`] equals it.
const NO_SEGMENT: u64 = 2;
const OTHER_METHOD: u32 = 1 << 31;

fn method_bit(method: &str) -> u32 {
    match method {
        "GET" => 1,
        "HEAD" => 2,
        "POST" => 4,
        "PUT" => 8,
        "DELETE" => 16,
        "PATCH" => 32,
        "OPTIONS" => 64,
        _ => OTHER_METHOD,
    }
}

/// FNV-1a of the ASCII-lowercased bytes, made odd (never `0` or [`NO_SEGMENT`]).
fn hash(bytes: &[u8], fold_case: bool) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        let b = if fold_case { b.to_ascii_lowercase() } else { b };
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h | 1
}

impl Quick {
    fn of(rule: &Rule) -> Quick {
        Quick {
            methods: rule.methods.iter().fold(0, |m, x| m | method_bit(x)),
            host: match &rule.host {
                HostPattern::Exact(h) => hash(h.as_bytes(), true),
                _ => 0,
            },
            first: rule.path.first_literal().map_or(0, |l| hash(l, false)),
        }
    }
}

/// `host` without a port or a trailing dot.
fn bare_host(host: &str) -> &str {
    let host = if host.starts_with('[') {
        host.find(']').map_or(host, |end| &host[..=end])
    } else {
        match host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        }
    };
    host.strip_suffix('.').unwrap_or(host)
}

impl RuleSet {
    /// Compiles `text`, one rule per line (grammar in the crate docs). Errors name the rule
    /// and its line in `text`.
    pub fn compile(text: &str) -> Result<RuleSet, RuleError> {
        parse::compile(text).map(|rules| RuleSet {
            quick: rules.iter().map(Quick::of).collect(),
            rules,
        })
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    fn first_match(&self, method: &str, host: &str, segs: &[&[u8]]) -> Option<&Rule> {
        let m = method_bit(method);
        let h = hash(host.as_bytes(), true);
        let f = segs.first().map_or(NO_SEGMENT, |s| hash(s, false));
        self.quick
            .iter()
            .zip(&self.rules)
            .find(|(q, r)| {
                (q.methods == 0 || q.methods & m != 0)
                    && (q.host == 0 || q.host == h)
                    && (q.first == 0 || q.first == f)
                    && r.applies(method, host, segs)
            })
            .map(|(_, r)| r)
    }

    /// Decides for `subject` asking for `target`: the first matching rule decides.
    pub fn evaluate<'s>(&'s self, subject: &Subject<'_>, target: &Target<'_>) -> Verdict<'s> {
        let unsafe_path = |p| Verdict {
            effect: Effect::Deny,
            rule: None,
            why: Why::UnsafePath(p),
        };
        let host = bare_host(target.host);
        let raw = target.path.as_bytes();
        let mut buf = Vec::new();
        let mut segs = Segments::new();
        if let Err(p) = path::segments(raw, View::LITERAL, &mut buf, &mut segs) {
            return unsafe_path(p);
        }
        let rule = self.first_match(target.method, host, segs.as_slice());
        for view in View::others(raw) {
            let mut other_buf = Vec::new();
            let mut other_segs = Segments::new();
            if let Err(p) = path::segments(raw, view, &mut other_buf, &mut other_segs) {
                return unsafe_path(p);
            }
            let other = self.first_match(target.method, host, other_segs.as_slice());
            if other.map(|r| r.number) != rule.map(|r| r.number) {
                return Verdict {
                    effect: Effect::Deny,
                    rule: None,
                    why: Why::AmbiguousPath {
                        literal: rule,
                        other,
                    },
                };
            }
        }
        let Some(rule) = rule else {
            return Verdict {
                effect: Effect::Abstain,
                rule: None,
                why: Why::NoMatch,
            };
        };
        if rule.deny {
            return Verdict {
                effect: Effect::Deny,
                rule: Some(rule),
                why: Why::DenyRule,
            };
        }
        match rule
            .any_of
            .iter()
            .find(|req| req.all_of.iter().all(|c| c.holds(subject, target.client)))
        {
            Some(req) => Verdict {
                effect: Effect::Allow,
                rule: Some(rule),
                why: Why::Met(req),
            },
            None => Verdict {
                effect: Effect::Deny,
                rule: Some(rule),
                why: Why::Unmet,
            },
        }
    }
}
